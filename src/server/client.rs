//! The tutorial's `Client`: one connection, its [`Reader`], and the bytes still to write.
//!
//! A client is in one of two modes (Part 7's table): in **read mode** its EVFILT_READ knote is
//! enabled and EVFILT_WRITE disabled; in **write mode** the other way round. It is in write mode
//! exactly while an echo could not be written completely (`to_write` is not empty after a write
//! returned `WouldBlock`). Unlike the tutorial's `Client.write`, [`Client::write`] does not call
//! `readMode`/`writeMode` itself: it returns [`Written`], and the server flips the mode
//! (`Server::serve` and `Server::write_mode` in `server.rs`, through `KQueue::read_mode` and
//! `KQueue::write_mode`).
//!
//! While a write is pending the client takes no more messages from its reader, and the server
//! reads nothing more from its socket: at most one buffer of input and one of output per client,
//! whatever the peer does (errata 11's fix, and what keeps memory flat for a peer that never
//! reads).

use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::reader::{Reader, TooLarge};

/// Which knote of the client is enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// EVFILT_READ enabled, EVFILT_WRITE disabled: waiting for a message.
    Read,
    /// EVFILT_READ disabled, EVFILT_WRITE enabled: waiting for room to finish an echo.
    Write,
}

/// What a write achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// Everything in `to_write` has gone to the socket.
    All,
    /// The socket's send buffer is full (`WouldBlock`): the rest waits for EVFILT_WRITE.
    Partly,
}

pub struct Client {
    pub socket: TcpStream,
    pub address: SocketAddr,
    /// Which accepted connection this is, 1-based: the trace's `connN`.
    pub conn: usize,
    /// Used to read length-prefixed messages.
    pub reader: Reader,
    /// Echoes waiting to be written: `write_buf[write_start..write_end]` is the tutorial's
    /// `to_write`. Empty means nothing is pending.
    write_buf: Box<[u8]>,
    write_start: usize,
    write_end: usize,
    pub mode: Mode,
    /// When this client is closed if no complete message arrives before.
    pub read_deadline: Instant,
    /// `held_bytes()` as last added to the server's `held_bytes` counter.
    pub accounted_bytes: usize,
}

impl Client {
    pub fn new(
        socket: TcpStream,
        address: SocketAddr,
        conn: usize,
        buffer_size: usize,
        read_deadline: Instant,
    ) -> Client {
        Client {
            socket,
            address,
            conn,
            reader: Reader::new(buffer_size),
            write_buf: vec![0u8; buffer_size].into_boxed_slice(),
            write_start: 0,
            write_end: 0,
            mode: Mode::Read,
            read_deadline,
            accounted_bytes: 0,
        }
    }

    pub fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// The trace label of this client's socket.
    pub fn label(&self) -> String {
        format!("conn{}", self.conn)
    }

    /// Bytes of echo still to be written.
    pub fn to_write(&self) -> usize {
        self.write_end - self.write_start
    }

    /// Move complete messages from the reader into the write buffer, as many as fit (their echo
    /// is the same frame). Several small echoes then leave in one `write`, the "one write per
    /// batch" of errata 12. Returns how many were taken; none while a write is pending.
    pub fn take_messages(&mut self) -> Result<u64, TooLarge> {
        if self.to_write() > 0 {
            return Ok(0);
        }
        self.write_start = 0;
        self.write_end = 0;
        let mut taken = 0;
        loop {
            let room = self.write_buf.len() - self.write_end;
            // Peek at the next frame's size first: a frame is only taken if its echo fits.
            if let Some(len) = self.reader.peek_frame_len() {
                if len > room && taken > 0 {
                    break;
                }
            }
            match self.reader.next_frame()? {
                Some(frame) => {
                    let end = self.write_end + frame.len();
                    self.write_buf[self.write_end..end].copy_from_slice(frame);
                    self.write_end = end;
                    taken += 1;
                }
                None => break,
            }
        }
        Ok(taken)
    }

    /// Write what is pending, until it is all gone or the socket would block. `calls` counts
    /// the write(2) calls made.
    pub fn write(&mut self, calls: &AtomicU64) -> io::Result<Written> {
        while self.write_start < self.write_end {
            calls.fetch_add(1, Ordering::Relaxed);
            match self
                .socket
                .write(&self.write_buf[self.write_start..self.write_end])
            {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => self.write_start += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(Written::Partly),
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.write_start = 0;
        self.write_end = 0;
        Ok(Written::All)
    }

    /// Bytes this client holds in the server's memory: unprocessed input and pending output.
    pub fn held_bytes(&self) -> usize {
        self.reader.buffered() + self.to_write()
    }
}
