//! What the scenarios need around the kqueue under test: loopback TCP sockets on port 0, and
//! waiting for a condition with a deadline (never a fixed sleep). `cargo test`'s own helpers
//! (tests/support) re-export these, so there is one copy.
//!
//! A helper that cannot do its job panics with a sentence, like an assert: the runner reports
//! the message as what was seen.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
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
    socket2::SockRef::from(stream)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER");
}
