//! The load generator's client, for `lab bench` and `lab check`'s load checks: one thread
//! drives many non-blocking connections with its own kqueue (the portable [`Kqueue`]: the
//! emulation on Linux, the real one on macOS/BSD).
//!
//! Each connection keeps `pipeline` messages in flight: it writes that many frames at the start,
//! and one more each time an echo comes back, until it has sent its share. The client uses the
//! same lessons as the server: a level-triggered EVFILT_READ whose `data` says how much to read
//! (one read per event), EVFILT_WRITE enabled only while a write is incomplete, and those two
//! changes staged and applied by the next kevent call.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use super::histogram::Histogram;
use crate::client::framing::{self, PREFIX_LEN};
use crate::kq::{
    Kevent, Kqueue, Timespec, EVFILT_READ, EVFILT_WRITE, EV_ADD, EV_DISABLE, EV_ENABLE,
};

/// How long the client waits for the last echoes after the sending deadline before it gives up
/// on a server that stopped answering.
const GRACE: Duration = Duration::from_secs(10);

/// Each kevent call returns at least this often, so the deadline is checked.
const TICK: Timespec = Timespec::from_millis(100);

/// Bytes one read takes at most.
const READ_CHUNK: usize = 64 * 1024;

/// One connection's state.
struct Conn {
    stream: TcpStream,
    /// Frames written (or queued in `out`) in this phase.
    sent: u64,
    /// Echoes received and checked in this phase.
    received: u64,
    /// Frames to send in this phase (lowered to `sent` when the deadline passes).
    target: u64,
    /// Bytes written or about to be: `out[out_pos..]` is still to go.
    out: Vec<u8>,
    out_pos: usize,
    /// Whether EVFILT_WRITE is enabled (a write was incomplete).
    write_enabled: bool,
    /// Received bytes not yet making a whole frame.
    pending: Vec<u8>,
    /// The server closed the connection after it had echoed all of this phase's messages,
    /// while it sat idle waiting for the other connections to finish (a read timeout on a
    /// slow run): not an error in that phase, but the connection cannot take another.
    closed_when_done: bool,
    /// When each in-flight frame was queued, oldest first (echoes come back in order).
    sent_at: std::collections::VecDeque<Instant>,
    /// Sequence number of the next frame, over the connection's whole life (warm-up included).
    next_seq: u64,
    /// Sequence number of the next echo expected.
    next_echo: u64,
}

/// What one phase achieved on one thread.
#[derive(Clone, Default)]
pub struct PhaseResult {
    pub echoed: u64,
    pub expected: u64,
    /// The deadline passed before every message was sent.
    pub cut_short: bool,
    /// When the last echo of this thread arrived.
    pub finished_at: Option<Instant>,
}

pub struct Driver {
    kq: Kqueue,
    conns: Vec<Conn>,
    /// 0-based number of this thread's first connection, for error messages.
    first_conn: usize,
    size: usize,
    pipeline: u64,
    changes: Vec<Kevent>,
    events: Vec<Kevent>,
    scratch: Vec<u8>,
    /// Give up when no echo arrives for this long while some are awaited (`lab check`: a
    /// server that stopped answering fails in seconds, a slow one still gets to finish).
    stall_timeout: Option<Duration>,
    /// When the last echo arrived (or the phase started).
    last_echo: Instant,
}

impl Driver {
    /// Register every connection: READ enabled, WRITE added disabled (the server's read mode).
    pub fn new(
        streams: Vec<TcpStream>,
        first_conn: usize,
        size: usize,
        pipeline: usize,
    ) -> io::Result<Driver> {
        let kq = Kqueue::new()?;
        let mut changes = Vec::with_capacity(streams.len() * 2);
        let mut conns = Vec::with_capacity(streams.len());
        for (i, stream) in streams.into_iter().enumerate() {
            stream.set_nonblocking(true)?;
            let fd = stream.as_raw_fd() as usize;
            changes.push(Kevent::new(fd, EVFILT_READ, EV_ADD).with_udata(i));
            changes.push(Kevent::new(fd, EVFILT_WRITE, EV_ADD | EV_DISABLE).with_udata(i));
            conns.push(Conn {
                stream,
                sent: 0,
                received: 0,
                target: 0,
                out: Vec::new(),
                out_pos: 0,
                write_enabled: false,
                closed_when_done: false,
                pending: Vec::new(),
                sent_at: std::collections::VecDeque::new(),
                next_seq: 0,
                next_echo: 0,
            });
        }
        for batch in changes.chunks(256) {
            kq.kevent(batch, &mut [], None)?;
        }
        let events = vec![Kevent::default(); conns.len().clamp(1, 256)];
        Ok(Driver {
            kq,
            conns,
            first_conn,
            size,
            pipeline: pipeline as u64,
            changes: Vec::new(),
            events,
            scratch: vec![0; READ_CHUNK],
            stall_timeout: None,
            last_echo: Instant::now(),
        })
    }

    /// Fail the phase when no echo arrives for `timeout` while echoes are awaited.
    pub fn set_stall_timeout(&mut self, timeout: Duration) {
        self.stall_timeout = Some(timeout);
    }

    /// Send `per_conn` messages on every connection and check every echo. New messages stop at
    /// `deadline`; the ones in flight are still awaited for a while. Round trips go into `rtt`.
    pub fn run_phase(
        &mut self,
        per_conn: u64,
        deadline: Instant,
        rtt: &mut Histogram,
    ) -> Result<PhaseResult, String> {
        let mut result = PhaseResult {
            expected: per_conn * self.conns.len() as u64,
            ..PhaseResult::default()
        };
        let mut done = 0;
        for i in 0..self.conns.len() {
            let conn = &mut self.conns[i];
            if conn.closed_when_done {
                return Err(format!(
                    "the server closed connection {} while it was idle after the last phase",
                    self.first_conn + i + 1
                ));
            }
            conn.sent = 0;
            conn.received = 0;
            conn.target = per_conn;
            if per_conn == 0 {
                done += 1;
            }
            let first = per_conn.min(self.pipeline);
            for _ in 0..first {
                queue_frame(conn, self.size);
            }
            self.flush(i)?;
        }
        let mut stopping = false;
        self.last_echo = Instant::now();
        while done < self.conns.len() {
            let now = Instant::now();
            if let Some(timeout) = self.stall_timeout {
                if now.duration_since(self.last_echo) > timeout {
                    let waiting: u64 = self.conns.iter().map(|c| c.sent - c.received).sum();
                    return Err(format!(
                        "no echo for {} s with {waiting} message(s) awaited",
                        timeout.as_secs_f64()
                    ));
                }
            }
            if !stopping && now >= deadline {
                // --duration: send nothing new, wait for what is in flight.
                stopping = true;
                result.cut_short = true;
                done = 0;
                for conn in &mut self.conns {
                    conn.target = conn.sent;
                    if conn.received == conn.target {
                        done += 1;
                    }
                }
                continue;
            }
            if stopping && now >= deadline + GRACE {
                let waiting: u64 = self.conns.iter().map(|c| c.sent - c.received).sum();
                return Err(format!(
                    "the server did not echo {waiting} message(s) within {} s: is it still running?",
                    GRACE.as_secs()
                ));
            }
            let changes = std::mem::take(&mut self.changes);
            let n = match self.kq.kevent(&changes, &mut self.events, Some(TICK)) {
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => 0,
                Err(err) => return Err(format!("kevent: {err}")),
            };
            self.changes = changes;
            self.changes.clear();
            for e in 0..n {
                let event = self.events[e];
                let i = event.udata;
                if event.is_error() {
                    return Err(format!(
                        "kevent reported an error for connection {}: errno {}",
                        self.first_conn + i + 1,
                        event.data
                    ));
                }
                let before = self.conns[i].received == self.conns[i].target;
                if event.filter == EVFILT_READ {
                    self.on_read(i, rtt)?;
                } else {
                    self.flush(i)?;
                }
                if !before && self.conns[i].received == self.conns[i].target {
                    done += 1;
                }
            }
        }
        result.echoed = self.conns.iter().map(|c| c.received).sum();
        result.finished_at = Some(Instant::now());
        Ok(result)
    }

    /// EVFILT_READ: one read, then every whole echo in `pending` is checked and answered.
    fn on_read(&mut self, i: usize, rtt: &mut Histogram) -> Result<(), String> {
        let conn_no = self.first_conn + i + 1;
        let conn = &mut self.conns[i];
        let n = match conn.stream.read(&mut self.scratch) {
            Ok(0) if conn.received == conn.target && conn.sent == conn.target => {
                // Every echo of this phase is in: the server closed an idle connection (its
                // read timeout, while the other connections finish). Stop watching it.
                conn.closed_when_done = true;
                let fd = conn.stream.as_raw_fd() as usize;
                self.changes
                    .push(Kevent::new(fd, EVFILT_READ, EV_DISABLE).with_udata(i));
                return Ok(());
            }
            Ok(0) => {
                return Err(format!(
                    "the server closed connection {conn_no} after {} echo(es) of this phase \
                     (is --size larger than its --buffer-size?)",
                    conn.received
                ))
            }
            Ok(n) => n,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(err) if err.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(err) => return Err(format!("reading connection {conn_no}: {err}")),
        };
        conn.pending.extend_from_slice(&self.scratch[..n]);
        let frame_len = PREFIX_LEN + self.size;
        let mut at = 0;
        let now = Instant::now();
        while conn.pending.len() - at >= frame_len {
            let frame = &conn.pending[at..at + frame_len];
            if !echo_matches(frame, self.size, conn.next_echo) {
                return Err(format!(
                    "connection {conn_no}: echo {} differs from the message sent",
                    conn.next_echo
                ));
            }
            at += frame_len;
            conn.next_echo += 1;
            conn.received += 1;
            self.last_echo = now;
            if let Some(sent) = conn.sent_at.pop_front() {
                rtt.record(now - sent);
            }
            if conn.sent < conn.target {
                queue_frame(conn, self.size);
            }
        }
        conn.pending.drain(..at);
        if conn.received > conn.target {
            return Err(format!(
                "connection {conn_no}: more echoes than messages sent"
            ));
        }
        self.flush(i)
    }

    /// Write what is queued; enable EVFILT_WRITE while something is left, disable it after.
    fn flush(&mut self, i: usize) -> Result<(), String> {
        let conn = &mut self.conns[i];
        while conn.out_pos < conn.out.len() {
            match conn.stream.write(&conn.out[conn.out_pos..]) {
                Ok(0) => {
                    return Err(format!(
                        "connection {}: write returned 0",
                        self.first_conn + i + 1
                    ))
                }
                Ok(n) => conn.out_pos += n,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => {
                    return Err(format!(
                        "writing connection {}: {err}",
                        self.first_conn + i + 1
                    ))
                }
            }
        }
        let fd = conn.stream.as_raw_fd() as usize;
        if conn.out_pos == conn.out.len() {
            conn.out.clear();
            conn.out_pos = 0;
            if conn.write_enabled {
                conn.write_enabled = false;
                self.changes
                    .push(Kevent::new(fd, EVFILT_WRITE, EV_DISABLE).with_udata(i));
            }
        } else if !conn.write_enabled {
            conn.write_enabled = true;
            self.changes
                .push(Kevent::new(fd, EVFILT_WRITE, EV_ENABLE).with_udata(i));
        }
        Ok(())
    }
}

/// The payload byte `j` of message `seq`: different for every message and position, so a
/// misplaced or mixed-up echo is noticed.
fn payload_byte(seq: u64, j: usize) -> u8 {
    (seq.wrapping_mul(31).wrapping_add(j as u64)) as u8
}

/// Append the next frame to the connection's output and note when it left.
fn queue_frame(conn: &mut Conn, size: usize) {
    let seq = conn.next_seq;
    conn.out.extend_from_slice(&framing::prefix(size));
    conn.out.extend((0..size).map(|j| payload_byte(seq, j)));
    conn.next_seq += 1;
    conn.sent += 1;
    conn.sent_at.push_back(Instant::now());
}

/// Whether `frame` is the echo of message `seq`.
fn echo_matches(frame: &[u8], size: usize, seq: u64) -> bool {
    let mut header = [0u8; PREFIX_LEN];
    header.copy_from_slice(&frame[..PREFIX_LEN]);
    framing::announced_len(header) == size
        && frame[PREFIX_LEN..]
            .iter()
            .enumerate()
            .all(|(j, byte)| *byte == payload_byte(seq, j))
}
