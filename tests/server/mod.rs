//! `lab server` and `lab client` over real loopback sockets.
//!
//! The in-process tests start a server with `lab::server::spawn` on port 0 and talk to it with
//! plain `TcpStream`s; the command-line tests run the `lab` binary itself. Every wait is a
//! condition with a deadline, and every socket read has a timeout, so a broken server makes a
//! test fail, never hang.

/// Echo correctness: many clients, pipelining, split writes, oversized messages.
mod echo;

/// Limits and misbehaving peers: --max-clients, read timeouts, a client that never reads.
mod limits;

/// Every numeric option has a range: out of it, one usage line and exit status 2.
mod ranges;

/// The KQueue wrapper on its own: staging, early flush, --no-batch, errata 9's receipts.
mod kqueue_wrapper;

/// The Reader on its own, fed random splits of random message streams.
mod reader_property;

/// Errata 9 in every `--as-published` tour: the stale changes come back as EBADF receipts.
mod errata;

/// The binary: summaries of `--json` tours, `--no-batch`, `--as-published`, `lab client`, errors.
mod command_line;

/// The knote table in the JSON trace: read mode, write mode, deleted after close.
mod knotes;

/// Interactive mode in a real terminal (tmux): keys, the footer, the restored terminal.
mod interactive;

/// `lab bench --threads`, `--duration`, `--no-batch` (the bench's own tests are in tests/bench).
mod bench_options;

use std::any::Any;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::thread;
use std::time::Duration;

use lab::client::framing;

/// How long any single step may take before the test gives up.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A small deterministic PRNG (xorshift64*), seeded per test, so failures replay exactly.
pub struct Prng(u64);

impl Prng {
    pub fn new(seed: u64) -> Prng {
        Prng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..=max`.
    pub fn up_to(&mut self, max: usize) -> usize {
        (self.next_u64() % (max as u64 + 1)) as usize
    }

    /// `len` bytes, different for every call.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Connect with a read timeout, so a missing echo fails the test instead of hanging it.
pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect to the server");
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Send one message and read its echo.
pub fn round_trip(stream: &mut TcpStream, message: &[u8]) -> Vec<u8> {
    framing::write_message(stream, message).expect("send");
    framing::read_message(stream)
        .expect("read the echo")
        .expect("an echo, not end of file")
}

/// True once the server has closed `stream`: a read returns end of file or a reset.
pub fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut byte = [0u8; 1];
    loop {
        match stream.read(&mut byte) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(err) if err.kind() == io::ErrorKind::ConnectionReset => return true,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return false,
        }
    }
}

/// `lab server --port 0 --json ARGS`, run to its end with no keyboard (progress in the tests'
/// scratch directory); its standard output, the JSON lines. A failed run fails the test with
/// lab's error.
pub fn json_stdout(extra: &[&str]) -> String {
    let mut args = vec!["server", "--port", "0", "--json"];
    args.extend_from_slice(extra);
    let out = crate::support::lab(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run lab server");
    assert!(
        out.status.success(),
        "lab {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 JSON lines")
}

/// The same run's trace, read as the JSON contract's records (`support::trace`, not the
/// product's own parser).
pub fn json_trace(extra: &[&str]) -> Vec<crate::support::trace::Value> {
    crate::support::trace::parse_trace(&json_stdout(extra))
}

/// Write everything, for raw (unframed) bytes.
pub fn send_raw(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("send raw bytes");
}

/// Many people at once, each pipelining random messages and reading the echoes in order: the
/// echo tests' main load, for the kqueue server and for its epoll twin alike.
pub struct Pipelining {
    /// How many clients connect at once.
    pub clients: u64,
    /// Messages per client.
    pub messages: usize,
    /// The largest message, in bytes (the buffer size less the length prefix).
    pub largest: usize,
    /// Client `i` draws its messages from `Prng::new(first_seed + i)`, so a failure replays.
    pub first_seed: u64,
}

impl Pipelining {
    /// Runs every client to its end against the server at `addr`. Each client writes all its
    /// messages from one thread while it reads the echoes on another, so the server sees deep
    /// pipelines. Returns one line per client that failed (an I/O error, an early end of file,
    /// a wrong echo, a panic): nothing panics here, so the caller can stop the server and put
    /// its Stats next to these lines in the assertion message.
    pub fn run(&self, addr: SocketAddr) -> Vec<String> {
        let clients: Vec<_> = (0..self.clients)
            .map(|i| {
                let (seed, messages, largest) = (self.first_seed + i, self.messages, self.largest);
                thread::spawn(move || pipelining_client(addr, seed, messages, largest))
            })
            .collect();
        clients
            .into_iter()
            .enumerate()
            .filter_map(|(i, client)| {
                let outcome = client.join().unwrap_or_else(|panic| Err(panic_text(panic)));
                outcome.err().map(|error| format!("client {i}: {error}"))
            })
            .collect()
    }
}

/// One pipelining client (see [`Pipelining::run`]).
fn pipelining_client(
    addr: SocketAddr,
    seed: u64,
    count: usize,
    largest: usize,
) -> Result<(), String> {
    let mut rng = Prng::new(seed);
    let messages: Vec<Vec<u8>> = (0..count)
        .map(|_| {
            let len = rng.up_to(largest);
            rng.bytes(len)
        })
        .collect();
    let stream = connect(addr);
    let mut writer = stream.try_clone().map_err(|e| format!("try_clone: {e}"))?;
    let to_send = messages.clone();
    let sender = thread::spawn(move || {
        for (i, message) in to_send.iter().enumerate() {
            framing::write_message(&mut writer, message)
                .map_err(|e| format!("writing message {i}: {e} ({:?})", e.kind()))?;
        }
        Ok(())
    });
    let mut reader = stream;
    let mut received = Ok(());
    for (i, expected) in messages.iter().enumerate() {
        received = match framing::read_message(&mut reader) {
            Ok(Some(echo)) if echo == *expected => Ok(()),
            Ok(Some(echo)) => Err(format!(
                "echo {i} differs ({} bytes, {} sent)",
                echo.len(),
                expected.len()
            )),
            Ok(None) => Err(format!("end of file before echo {i}")),
            Err(e) => Err(format!("reading echo {i}: {e} ({:?})", e.kind())),
        };
        if received.is_err() {
            break;
        }
    }
    if received.is_err() {
        // The writer shares this socket: shutting it down ends a write that would otherwise
        // wait for a server that no longer reads from us.
        let _ = reader.shutdown(Shutdown::Both);
    }
    let sent = sender.join().unwrap_or_else(|panic| Err(panic_text(panic)));
    match (received, sent) {
        (Ok(()), Ok(())) => Ok(()),
        (Err(read), Ok(())) => Err(read),
        (Ok(()), Err(write)) => Err(write),
        (Err(read), Err(write)) => Err(format!("{read}; {write}")),
    }
}

/// The message of a panic caught by `JoinHandle::join`.
fn panic_text(panic: Box<dyn Any + Send>) -> String {
    match panic.downcast::<String>() {
        Ok(text) => format!("panicked: {text}"),
        Err(panic) => match panic.downcast::<&str>() {
            Ok(text) => format!("panicked: {text}"),
            Err(_) => "panicked".to_string(),
        },
    }
}

/// SIGHUP (closing the terminal) ends a run like SIGTERM, summary included.
mod hangup;

/// Nothing lost: the read timeout never closes a client the server owes echoes, a stopped
/// server reads what arrived before enforcing deadlines, server-chosen closes send no RST.
mod nothing_lost;

/// Nothing unbounded: the summary's knote list is capped, the client memory has a budget.
mod bounded;

/// `nc` and a typed line: the trace says it looks like text and to use `lab client`.
mod text_client;
