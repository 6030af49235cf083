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
/// at no cost for a connected one: Linux answers FIONREAD and TIOCOUTQ on a listening socket
/// with EINVAL, and only then does the emulation ask SO_ACCEPTCONN. A socket that listens is a
/// listener from then on (FreeBSD switches it to `filt_solisten` in `solisten`).
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

/// EVFILT_WRITE data: free space (B19).
/// - Socket: `SO_SNDBUF − TIOCOUTQ`. An approximation of BSD's `sbspace(so_snd)`: Linux counts
///   the buffer in bytes of truesize, TIOCOUTQ counts payload bytes not yet acknowledged.
///   SO_SNDBUF is read at every measurement rather than cached at EV_ADD: Linux grows the send
///   buffer by itself (tcp_sndbuf_expand) once data flows, and a stale small value would make a
///   writable socket look full.
/// - Listener: 0; epoll never reports a listener writable, as FreeBSD's `filt_sowrite`.
/// - Pipe: capacity (F_GETPIPE_SZ) minus the bytes waiting in it.
pub(super) fn writable(os: &Os, fd: RawFd, kind: FileKind) -> Measure {
    match kind {
        FileKind::Listener => Measure::Count(0),
        FileKind::Socket | FileKind::Datagram => {
            let sndbuf = match os::getsockopt_int(
                os.rec,
                fd,
                libc::SOL_SOCKET,
                libc::SO_SNDBUF,
                "SO_SNDBUF",
            ) {
                Ok(size) => i64::from(size),
                Err(err) => return failed(err),
            };
            match os::ioctl_int(os.rec, fd, libc::TIOCOUTQ, "TIOCOUTQ") {
                Ok(queued) => Measure::Count((sndbuf - i64::from(queued)).max(0)),
                Err(err) if kind == FileKind::Socket => listening_or(os, fd, err),
                Err(err) => failed(err),
            }
        }
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
        FileKind::Kqueue | FileKind::Other => Measure::Unknown,
    }
}

/// The pending socket error, read (and, on Linux, cleared) with SO_ERROR.
pub(super) fn socket_error(os: &Os, fd: RawFd) -> i32 {
    os::getsockopt_int(os.rec, fd, libc::SOL_SOCKET, libc::SO_ERROR, "SO_ERROR").unwrap_or(0)
}
