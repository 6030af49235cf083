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

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use lab::server::framing;

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

/// Poll `condition` until it holds or `within` passes; returns whether it held.
pub fn eventually(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
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

/// Write everything, for raw (unframed) bytes.
pub fn send_raw(stream: &mut TcpStream, bytes: &[u8]) {
    stream.write_all(bytes).expect("send raw bytes");
}
