//! Shared test helpers: loopback TCP sockets on port 0, waiting for a condition with a
//! deadline (never a fixed sleep), running the `lab` binary (every run with a state directory
//! of its own), reading its JSON trace as the contract defines it (`trace`), watching a run
//! live (`live`), and (in `tmux`) a real terminal for the interactive tests.
//!
//! Not every test module uses every helper.
#![allow(dead_code)]

/// A real terminal (tmux) for the interactive tests: keys in, screen out, deadlines.
pub mod tmux;

/// The JSON trace read as the contract defines it (serde_json), never with the product's parser.
pub mod trace;

/// A `lab --json` run watched while it runs: records on a channel, ended by a signal.
pub mod live;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

/// How long any test waits for something that should happen almost at once on loopback.
/// Generous, so a loaded machine makes a test slower, never red.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// A non-blocking listener on 127.0.0.1, port 0 (the OS picks a free port).
pub fn listener() -> TcpListener {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener
        .set_nonblocking(true)
        .expect("listener set_nonblocking");
    listener
}

/// The address a listener is reachable on.
pub fn addr_of(listener: &TcpListener) -> SocketAddr {
    listener.local_addr().expect("listener local_addr")
}

/// A connected loopback pair `(client, server)`, both non-blocking, Nagle off.
pub fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = listener();
    let client = TcpStream::connect(addr_of(&listener)).expect("connect to loopback listener");
    let server = accept_within(&listener, PATIENCE).expect("accept the loopback client");
    for stream in [&client, &server] {
        stream.set_nonblocking(true).expect("set_nonblocking");
        stream.set_nodelay(true).expect("set_nodelay");
    }
    (client, server)
}

/// Accepts one connection from a non-blocking listener, waiting up to `patience`.
pub fn accept_within(listener: &TcpListener, patience: Duration) -> Option<TcpStream> {
    let mut accepted = None;
    wait_until(patience, || match listener.accept() {
        Ok((stream, _)) => {
            accepted = Some(stream);
            true
        }
        Err(err) if err.kind() == ErrorKind::WouldBlock => false,
        Err(err) => panic!("accept failed: {err}"),
    });
    accepted
}

/// Calls `condition` until it returns true or `patience` runs out; returns whether it held.
/// Between tries it yields the CPU briefly: this is polling for a condition, not a sleep that
/// stands in for one.
pub fn wait_until(patience: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Writes all of `bytes` to a (possibly non-blocking) stream, retrying on WouldBlock.
pub fn send_all(stream: &mut TcpStream, bytes: &[u8]) {
    let mut sent = 0;
    let done = wait_until(PATIENCE, || {
        match stream.write(&bytes[sent..]) {
            Ok(n) => sent += n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(err) => panic!("send failed: {err}"),
        }
        sent == bytes.len()
    });
    assert!(
        done,
        "could not send {} bytes within {PATIENCE:?}",
        bytes.len()
    );
}

/// Reads whatever a non-blocking stream has right now (until WouldBlock or EOF).
pub fn read_available(stream: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return all,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(err) if err.kind() == ErrorKind::WouldBlock => return all,
            Err(err) => panic!("read failed: {err}"),
        }
    }
}

/// Reads exactly `n` bytes from a non-blocking stream, waiting for them to arrive.
pub fn read_exactly(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; n];
    let done = wait_until(PATIENCE, || {
        match stream.read(&mut buf[..n - got.len()]) {
            Ok(0) => panic!("EOF after {} of {n} bytes", got.len()),
            Ok(k) => got.extend_from_slice(&buf[..k]),
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(err) => panic!("read failed: {err}"),
        }
        got.len() == n
    });
    assert!(
        done,
        "only {} of {n} bytes arrived within {PATIENCE:?}",
        got.len()
    );
    got
}

/// The `lab` binary built for these tests.
pub fn lab_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lab"))
}

/// A fresh LAB_STATE_DIR, never handed out before: every `lab` a test starts gets its own. A
/// stage or server run to its end marks its lesson done in the progress file: that progress
/// must go here, never into the tester's real home, and never into a directory another test
/// (or another `cargo test` on the same machine) reads or writes at the same time.
///
/// The directories live in cargo's scratch space for integration tests (`target/tmp`), under
/// one folder per test process; the folders of test processes that have ended are removed the
/// first time a later process asks for one.
pub fn state_dir() -> PathBuf {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-state");
    CLEANED.call_once(|| remove_state_of_ended_processes(&root));
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = root
        .join(std::process::id().to_string())
        .join(n.to_string());
    std::fs::create_dir_all(&dir).expect("a scratch LAB_STATE_DIR");
    dir
}

/// Removes the state folders of test processes that are no longer running.
fn remove_state_of_ended_processes(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill(2) with signal 0 sends nothing; it only asks whether `pid` exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A `Command` running `lab` with the given arguments, colours off, progress in a [`state_dir`]
/// of its own.
pub fn lab(args: &[&str]) -> Command {
    let mut command = Command::new(lab_path());
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env("LAB_STATE_DIR", state_dir());
    command
}

/// Waits until at least `n` bytes are waiting in `stream`'s receive buffer (MSG_PEEK), so a
/// test knows data has arrived without asking the kqueue under test.
pub fn wait_for_bytes(stream: &TcpStream, n: usize) {
    let mut buf = vec![0u8; n.max(1)];
    let arrived = wait_until(PATIENCE, || match stream.peek(&mut buf) {
        Ok(k) => k >= n,
        Err(err) if err.kind() == ErrorKind::WouldBlock => false,
        Err(err) => panic!("peek failed: {err}"),
    });
    assert!(arrived, "{n} bytes did not arrive within {PATIENCE:?}");
}

/// Sets SO_LINGER {on, 0} on `stream`: closing it then sends the peer an RST instead of a FIN
/// (a peer that "resets the connection").
pub fn set_linger_zero(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: setsockopt(2) on a socket we own, reading `linger`, a live struct of the size
    // passed.
    let ret = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(ret, 0, "SO_LINGER");
}

/// The number under `key` in a one-line JSON object (the bench's report, a summary record),
/// read with serde_json: the top-level field, or else the first nested object's (the bench
/// report's `server.messages`).
pub fn json_number(json: &str, key: &str) -> f64 {
    fn find<'a>(value: &'a trace::Value, key: &str) -> Option<&'a trace::Value> {
        let object = value.as_object()?;
        object
            .get(key)
            .or_else(|| object.values().find_map(|nested| find(nested, key)))
    }
    let value: trace::Value =
        serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("bad JSON {json}: {e}"));
    find(&value, key)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

/// A TCP port on 127.0.0.1 that is bound but not listening, held for as long as the returned
/// descriptor lives: a connection to it is refused, and no other program can take the port
/// meanwhile (unlike a port that was free a moment ago).
pub fn refusing_port() -> (std::os::fd::OwnedFd, u16) {
    use std::os::fd::FromRawFd;
    // SAFETY: socket(2) with constant arguments; the descriptor is owned at once below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0, "socket: {}", std::io::Error::last_os_error());
    // SAFETY: `fd` is a fresh descriptor nobody else owns.
    let owned = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_in is valid; the fields that matter are set next.
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    // SAFETY: bind(2) and getsockname(2) on our socket, with a live sockaddr_in of `len` bytes.
    unsafe {
        let at = (&mut addr as *mut libc::sockaddr_in).cast::<libc::sockaddr>();
        assert_eq!(libc::bind(fd, at, len), 0, "bind 127.0.0.1:0");
        assert_eq!(libc::getsockname(fd, at, &mut len), 0, "getsockname");
    }
    (owned, u16::from_be(addr.sin_port))
}

/// One message of the server's protocol (docs/cli-contract.md, server stage): a 4-byte
/// little-endian length, then the bytes.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut framed = (message.len() as u32).to_le_bytes().to_vec();
    framed.extend_from_slice(message);
    framed
}
