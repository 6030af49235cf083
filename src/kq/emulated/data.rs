//! The `data` field of READ and WRITE events, measured at collect time as the BSD filters do
//! ("the filter is also run when the user attempts to retrieve", B12).

use std::io;
use std::os::fd::RawFd;

use super::consts::EVFILT_READ;
use super::nested;
use super::os;
use super::state::{FileKind, Os, State};

/// What a measurement found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Measure {
    /// The byte (or connection) count.
    Count(i64),
    /// This kind of file has no way to tell (FIONREAD unsupported): epoll's word is all there is.
    Unknown,
    /// The descriptor is closed (EBADF): its knotes must go and nothing may be reported (B22).
    Gone,
    /// The stream socket is listening: it called listen() after it was first registered, or
    /// this is its first measurement (B18). Re-sorted by `measure`, never seen by the collect.
    Listening,
}

/// Measures the data of a READ or WRITE knote on descriptor `fd` of kind `kind`; returns the
/// measurement and the kind the file turned out to be.
///
/// A stream socket is registered as a connected socket; whether it listens is found out here,
/// at no cost for a connected one: Linux answers FIONREAD on a listening socket with EINVAL,
/// and only then does the emulation ask SO_ACCEPTCONN. (A WRITE check sees it in the TCP_INFO
/// state it asks anyway, `scan.rs`.) A socket that listens is a listener from then on
/// (FreeBSD switches it to `filt_solisten` in `solisten`).
pub(super) fn measure(
    state: &mut State,
    os: &Os,
    fd: RawFd,
    filter: i16,
    kind: FileKind,
) -> (Measure, FileKind) {
    let run = |kind| {
        if filter == EVFILT_READ {
            readable(os, fd, kind)
        } else {
            writable(os, fd, kind)
        }
    };
    let measured = run(kind);
    if measured != Measure::Listening {
        return (measured, kind);
    }
    if let Some(file) = state.file_mut(fd) {
        file.kind = FileKind::Listener;
        // Linux reports an unconnected socket hung up (EPOLLHUP); that was before listen().
        file.read_eof = false;
        file.write_eof = false;
    }
    (run(FileKind::Listener), FileKind::Listener)
}

/// Whether a socket on which a measurement just failed with EINVAL is listening.
fn listening_or(os: &Os, fd: RawFd, err: io::Error) -> Measure {
    if err.raw_os_error() != Some(libc::EINVAL) {
        return failed(err);
    }
    let (level, option) = (libc::SOL_SOCKET, libc::SO_ACCEPTCONN);
    match os::getsockopt_int(os.rec, fd, level, option, "SO_ACCEPTCONN") {
        Ok(1) => Measure::Listening,
        _ => failed(err),
    }
}

fn failed(err: io::Error) -> Measure {
    if err.raw_os_error() == Some(libc::EBADF) {
        Measure::Gone
    } else {
        Measure::Unknown
    }
}

/// EVFILT_READ data.
/// - Connected socket: unread bytes, `ioctl(FIONREAD)` (B13; FreeBSD `sbavail`).
/// - Datagram socket: the bytes of every queued datagram (`queued_datagram_bytes`).
/// - Listener: completed connections waiting for accept(), from TCP_INFO `tcpi_unacked`, which
///   Linux fills with the accept-queue length on a LISTEN socket (B18; libkqueue reports 1).
/// - Pipe and others: FIONREAD where the file supports it.
pub(super) fn readable(os: &Os, fd: RawFd, kind: FileKind) -> Measure {
    let result = match kind {
        FileKind::Listener => os::tcp_accept_queue(os.rec, fd),
        FileKind::Datagram => queued_datagram_bytes(os, fd),
        FileKind::RegularFile => bytes_after_offset(os, fd),
        // Reported on epoll's word (it says readable); the count from the registry.
        FileKind::Kqueue => return nested::pending(fd).map_or(Measure::Unknown, Measure::Count),
        FileKind::Socket => {
            return match os::ioctl_int(os.rec, fd, libc::FIONREAD, "FIONREAD") {
                Ok(count) => Measure::Count(i64::from(count)),
                Err(err) => listening_or(os, fd, err),
            };
        }
        _ => os::ioctl_int(os.rec, fd, libc::FIONREAD, "FIONREAD").map(i64::from),
    };
    result.map(Measure::Count).unwrap_or_else(failed)
}

/// How many datagrams one measurement walks through at most: beyond that, `data` is a lower
/// bound (a queue that long is far past any threshold a program would set).
const MAX_PEEKED_DATAGRAMS: usize = 1024;

/// The payload bytes of every datagram in a socket's receive queue, FreeBSD's
/// `sbavail − sb_ctl` for a datagram socket (B13: datagrams of 3 and 5 bytes give 8).
///
/// Linux's FIONREAD answers with the first datagram only, and no option reports the total. So
/// the emulation peeks at the queue: with SO_PEEK_OFF set, each `recv(MSG_PEEK)` continues where
/// the last one stopped, so successive peeks walk through the datagrams without consuming any,
/// until EAGAIN. The program's own SO_PEEK_OFF is put back afterwards. Only datagram sockets
/// pay for this (3 system calls plus one per queued datagram).
fn queued_datagram_bytes(os: &Os, fd: RawFd) -> io::Result<i64> {
    let (level, option) = (libc::SOL_SOCKET, libc::SO_PEEK_OFF);
    let saved = os::getsockopt_int(os.rec, fd, level, option, "SO_PEEK_OFF")?;
    os::setsockopt_int(os.rec, fd, level, option, "SO_PEEK_OFF", 0)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0i64;
    let mut walked = Ok(());
    for _ in 0..MAX_PEEKED_DATAGRAMS {
        match os::recv_peek(os.rec, fd, &mut buf) {
            Ok(copied) => total += copied as i64,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
            Err(err) => {
                walked = Err(err);
                break;
            }
        }
    }
    os::setsockopt_int(os.rec, fd, level, option, "SO_PEEK_OFF", saved)?;
    walked.map(|()| total)
}

/// A regular file's READ data, FreeBSD's `filt_vfsread`: its size minus the file offset (how
/// many bytes a read() would still get; negative when the offset is past the end).
fn bytes_after_offset(os: &Os, fd: RawFd) -> io::Result<i64> {
    let size = os::fstat(os.rec, fd)?.size;
    Ok(size - os::file_offset(os.rec, fd)?)
}

/// EVFILT_WRITE data: free space (B19), for a file that is not a socket (`send_space`
/// measures those).
/// - Listener: 0; epoll never reports a listener writable, as FreeBSD's `filt_sowrite`.
/// - Pipe: capacity (F_GETPIPE_SZ) minus the bytes waiting in it.
pub(super) fn writable(os: &Os, fd: RawFd, kind: FileKind) -> Measure {
    match kind {
        FileKind::Listener => Measure::Count(0),
        FileKind::Pipe => {
            let capacity = match os::pipe_capacity(os.rec, fd) {
                Ok(size) => i64::from(size),
                Err(err) => return failed(err),
            };
            match os::ioctl_int(os.rec, fd, libc::FIONREAD, "FIONREAD") {
                Ok(queued) => Measure::Count((capacity - i64::from(queued)).max(0)),
                Err(err) => failed(err),
            }
        }
        // `filt_vfswrite`: a regular file is always writable, with data 0.
        FileKind::RegularFile => Measure::Count(0),
        // A socket is measured by `send_space`, which also gives its threshold.
        FileKind::Socket | FileKind::Datagram | FileKind::Kqueue | FileKind::Other => {
            Measure::Unknown
        }
    }
}

/// A socket's free send space and the threshold WRITE uses without NOTE_LOWAT (B19).
pub(super) struct SendSpace {
    pub free: i64,
    pub lowat: i64,
}

/// EVFILT_WRITE on a socket, from one `SO_MEMINFO`: the send buffer's size minus what it holds
/// (the write queue of a stream socket, the datagrams in flight of the others). Linux counts
/// buffer memory rather than payload bytes, so this approximates BSD's `sbspace(so_snd)`; but
/// it is the measure Linux itself uses to refuse a write, so the free space is ≤ 0 right after
/// a write hit EAGAIN. Read at every check: Linux grows the send buffer by itself
/// (tcp_sndbuf_expand) once data flows.
///
/// The threshold is FreeBSD's 2048 (`SEND_LOWAT`), capped at a third of the buffer: FreeBSD's
/// `soreserve` caps `sb_lowat` at the buffer's size, and Linux calls a socket writable once a
/// third of its buffer is free, which for a buffer under 6 KiB is less than 2048 bytes; with
/// the cap, epoll never wakes a level-triggered wait for a WRITE the filter then refuses.
pub(super) fn send_space(os: &Os, fd: RawFd, stream: bool) -> Result<SendSpace, Measure> {
    let mem = os::send_memory(os.rec, fd).map_err(failed)?;
    let used = if stream { mem.queued } else { mem.in_flight };
    Ok(SendSpace {
        free: (mem.sndbuf - used).max(0),
        lowat: SEND_LOWAT.min(mem.sndbuf / 3),
    })
}

/// FreeBSD's default send low-water mark (`sb_lowat` = MCLBYTES, set by `soreserve`): WRITE on
/// a socket fires only with at least this much free space unless NOTE_LOWAT says otherwise
/// (B19, B20).
pub(super) const SEND_LOWAT: i64 = 2048;

/// Linux TCP states (`include/net/tcp_states.h`), as TCP_INFO reports them.
const TCP_SYN_SENT: u8 = 2;
const TCP_SYN_RECV: u8 = 3;
const TCP_FIN_WAIT1: u8 = 4;
const TCP_FIN_WAIT2: u8 = 5;
const TCP_TIME_WAIT: u8 = 6;
const TCP_CLOSE: u8 = 7;
const TCP_LAST_ACK: u8 = 9;
const TCP_LISTEN: u8 = 10;
const TCP_CLOSING: u8 = 11;

/// Where a connection-oriented socket stands, for `filt_sowrite` (B19, B21).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Connection {
    /// Not connected: a non-blocking connect() still in progress, or a socket that never
    /// connected (Linux's CLOSE state; a connection that was closed shows EPOLLHUP with
    /// EPOLLRDHUP first, which already marks the send side shut). WRITE waits: "WRITE means
    /// connected".
    NotConnected,
    /// Connected, sending allowed.
    Open,
    /// This side can send no more: a local shutdown(SHUT_WR) or close (SBS_CANTSENDMORE).
    SendShut,
    /// It called listen() since it was registered: a listener from now on (B18).
    Listening,
}

/// The state of a TCP connection from `TCP_INFO`, the one place Linux shows a local
/// shutdown(SHUT_WR): epoll reports such a socket writable as ever. `None` for a socket that
/// is not TCP (a Unix stream socket): epoll's bits are all there is.
pub(super) fn connection(os: &Os, fd: RawFd) -> Option<Connection> {
    let info = os::tcp_info(os.rec, fd).ok()?;
    Some(match info.state {
        TCP_SYN_SENT | TCP_SYN_RECV | TCP_CLOSE => Connection::NotConnected,
        TCP_LISTEN => Connection::Listening,
        TCP_FIN_WAIT1 | TCP_FIN_WAIT2 | TCP_TIME_WAIT | TCP_LAST_ACK | TCP_CLOSING => {
            Connection::SendShut
        }
        _ => Connection::Open,
    })
}

/// The value of a pending socket error, inferred without reading it (B21): SO_ERROR would clear
/// it, and the program's own recv() or getsockopt(SO_ERROR) must still find it.
/// - A datagram socket: ECONNREFUSED, what an ICMP port unreachable leaves on a connected UDP
///   socket (the usual error on loopback).
/// - A TCP connection that never measured a round trip never completed: ECONNREFUSED. One that
///   was retransmitting or probing when it failed timed out: ETIMEDOUT. Any other was reset by
///   its peer: ECONNRESET (FreeBSD's value also where Linux says EPIPE, for a reset that
///   follows the peer's FIN).
pub(super) fn inferred_error(os: &Os, fd: RawFd, stream: bool) -> i32 {
    if !stream {
        return libc::ECONNREFUSED;
    }
    match os::tcp_info(os.rec, fd) {
        Ok(info) if info.rtt == 0 => libc::ECONNREFUSED,
        Ok(info) if info.retransmits > 0 || info.probes > 0 => libc::ETIMEDOUT,
        _ => libc::ECONNRESET,
    }
}
