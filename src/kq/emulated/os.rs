//! The Linux system calls the emulation needs, counted: each wrapper makes one call through
//! the crate's Linux module ([`crate::sys::linux`], where the `unsafe` lives), counts it, and
//! records it in words when recording is on (see `record.rs`).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::record::{Kind, Recorder};
use crate::sys::linux;

/// The interest bits the emulation uses, as `epoll_event.events` wants them.
pub(super) const IN: u32 = libc::EPOLLIN as u32;
pub(super) const OUT: u32 = libc::EPOLLOUT as u32;
pub(super) const RDHUP: u32 = libc::EPOLLRDHUP as u32;
pub(super) const HUP: u32 = libc::EPOLLHUP as u32;
pub(super) const ERR: u32 = libc::EPOLLERR as u32;
pub(super) const ET: u32 = libc::EPOLLET as u32;

/// `IN|RDHUP|ET`: an epoll mask in words, for the trace. The one decoder of epoll masks in the
/// crate: the raw epoll server (`server/epoll.rs`) uses it too, as `kq::epoll_mask_names`.
pub(crate) fn mask_names(mask: u32) -> String {
    let names = [
        (IN, "IN"),
        (OUT, "OUT"),
        (RDHUP, "RDHUP"),
        (HUP, "HUP"),
        (ERR, "ERR"),
        (ET, "ET"),
    ];
    let words: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| mask & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    if words.is_empty() {
        "0".to_string()
    } else {
        words.join("|")
    }
}

/// The three epoll_ctl operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum CtlOp {
    Add,
    Mod,
    Del,
}

impl CtlOp {
    fn raw(self) -> libc::c_int {
        match self {
            CtlOp::Add => libc::EPOLL_CTL_ADD,
            CtlOp::Mod => libc::EPOLL_CTL_MOD,
            CtlOp::Del => libc::EPOLL_CTL_DEL,
        }
    }
    fn name(self) -> &'static str {
        match self {
            CtlOp::Add => "ADD",
            CtlOp::Mod => "MOD",
            CtlOp::Del => "DEL",
        }
    }
}

fn ok_zero<T>(_: &T) -> String {
    "0".to_string()
}

pub(super) fn epoll_create(rec: &Recorder) -> io::Result<OwnedFd> {
    let result = linux::epoll_create();
    rec.note(
        Kind::Other,
        "epoll_create1",
        &result,
        || "EPOLL_CLOEXEC".to_string(),
        |fd| fd.as_raw_fd().to_string(),
    );
    result
}

/// `epoll_ctl(epfd, op, fd, {mask, token})`.
pub(super) fn epoll_ctl(
    rec: &Recorder,
    epfd: RawFd,
    op: CtlOp,
    fd: RawFd,
    mask: u32,
    token: u64,
) -> io::Result<()> {
    let result = linux::epoll_ctl(epfd, op.raw(), fd, mask, token);
    rec.note(
        Kind::EpollCtl,
        "epoll_ctl",
        &result,
        || match op {
            CtlOp::Del => format!("DEL fd {fd}"),
            _ => format!("{} fd {fd} {}", op.name(), mask_names(mask)),
        },
        ok_zero,
    );
    result
}

/// `epoll_ctl(epfd, DEL, fd)` made by a close through the lab (`fdclose.rs`): counted, not
/// recorded, since it is part of no kevent call.
pub(super) fn epoll_del_at_close(rec: &Recorder, epfd: RawFd, fd: RawFd) -> io::Result<()> {
    rec.count(Kind::EpollCtl);
    linux::epoll_ctl(epfd, CtlOp::Del.raw(), fd, 0, 0)
}

/// `epoll_wait(epfd, buf, buf.len(), timeout_ms)`; -1 blocks.
pub(super) fn epoll_wait(
    rec: &Recorder,
    epfd: RawFd,
    buf: &mut [libc::epoll_event],
    timeout_ms: i32,
) -> io::Result<usize> {
    let max = buf.len().min(i32::MAX as usize) as libc::c_int;
    let result = linux::epoll_wait(epfd, buf, timeout_ms);
    let ready = &*buf;
    rec.note(
        Kind::EpollWait,
        "epoll_wait",
        &result,
        || {
            let wait = if timeout_ms < 0 {
                "-1 (block)".to_string()
            } else {
                format!("{timeout_ms} ms")
            };
            format!("epfd {epfd}, max {max}, timeout {wait}")
        },
        |n| {
            let items: Vec<String> = ready[..*n]
                .iter()
                .map(|event| {
                    let (token, events) = (event.u64, event.events);
                    format!("{} {}", token_name(token), mask_names(events))
                })
                .collect();
            if items.is_empty() {
                "0 ready".to_string()
            } else {
                format!("{n} ready: {}", items.join(", "))
            }
        },
    );
    result
}

/// The token the emulation stores in epoll for its own wake-up eventfd (never a valid fd).
pub(super) const WAKE_TOKEN: u64 = u64::MAX;

fn token_name(token: u64) -> String {
    if token == WAKE_TOKEN {
        "wake".to_string()
    } else {
        // The low 32 bits are the descriptor; the generation above them is not shown.
        format!("fd {}", token as u32 as RawFd)
    }
}

/// A non-blocking eventfd (the kqueue's wake-up line for EVFILT_USER and for pollers).
pub(super) fn eventfd(rec: &Recorder) -> io::Result<OwnedFd> {
    let result = linux::eventfd();
    rec.note(
        Kind::Other,
        "eventfd",
        &result,
        || "0, EFD_CLOEXEC|EFD_NONBLOCK".to_string(),
        |fd| fd.as_raw_fd().to_string(),
    );
    result
}

/// Adds 1 to an eventfd's counter, making it readable.
pub(super) fn eventfd_poke(rec: &Recorder, fd: RawFd) -> io::Result<()> {
    let result = linux::eventfd_add(fd, 1);
    rec.note(
        Kind::Other,
        "write",
        &result,
        || format!("eventfd {fd}, 1"),
        |_| "8".to_string(),
    );
    result
}

/// Reads an eventfd or timerfd counter (8 bytes). A counter that is still 0 (EAGAIN) reads as 0.
fn read_counter(rec: &Recorder, fd: RawFd, what: &'static str) -> io::Result<u64> {
    let result = match linux::read_counter(fd) {
        Ok(value) => Ok(value),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Ok(0),
        Err(err) => Err(err),
    };
    rec.note(
        Kind::Other,
        "read",
        &result,
        || format!("{what} {fd}"),
        |value| {
            if *value == 0 {
                "-1 EAGAIN".to_string()
            } else {
                format!("8 (count {value})")
            }
        },
    );
    result
}

pub(super) fn eventfd_drain(rec: &Recorder, fd: RawFd) -> io::Result<u64> {
    read_counter(rec, fd, "eventfd")
}

/// A non-blocking CLOCK_MONOTONIC timerfd (one per EVFILT_TIMER knote, B23).
pub(super) fn timerfd_create(rec: &Recorder) -> io::Result<OwnedFd> {
    let result = linux::timerfd_create();
    rec.note(
        Kind::Other,
        "timerfd_create",
        &result,
        || "CLOCK_MONOTONIC, TFD_CLOEXEC|TFD_NONBLOCK".to_string(),
        |fd| fd.as_raw_fd().to_string(),
    );
    result
}

/// Arms a timerfd: first expiry after `period`, then every `period` if `periodic`. Setting the
/// time also resets the count of undelivered expirations to zero (B23 re-add).
pub(super) fn timerfd_settime(
    rec: &Recorder,
    fd: RawFd,
    period: Duration,
    periodic: bool,
) -> io::Result<()> {
    let interval = if periodic { period } else { Duration::ZERO };
    let result = linux::timerfd_settime(fd, period, interval);
    rec.note(
        Kind::Other,
        "timerfd_settime",
        &result,
        || {
            let every = if periodic { "every" } else { "once after" };
            format!("fd {fd}, {every} {period:?}")
        },
        ok_zero,
    );
    result
}

/// The number of expirations since the last read (0 if none).
pub(super) fn timerfd_read(rec: &Recorder, fd: RawFd) -> io::Result<u64> {
    read_counter(rec, fd, "timerfd")
}

/// What fstat tells the emulation about a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct FileId {
    pub dev: u64,
    pub ino: u64,
    pub mode: u32,
    /// The size in bytes (`st_size`), for a regular file's READ data (B13, `filt_vfsread`).
    pub size: i64,
}

pub(super) fn fstat(rec: &Recorder, fd: RawFd) -> io::Result<FileId> {
    let result = linux::fstat(fd).map(|stat| FileId {
        dev: stat.st_dev,
        ino: stat.st_ino,
        mode: stat.st_mode,
        size: stat.st_size,
    });
    rec.note(
        Kind::Other,
        "fstat",
        &result,
        || format!("fd {fd}"),
        |id| format!("0 (ino {})", id.ino),
    );
    result
}

/// `poll(fd, POLLOUT, 0)`: whether the write end of a pipe has lost its reader (POLLERR).
pub(super) fn pipe_reader_gone(rec: &Recorder, fd: RawFd) -> io::Result<bool> {
    let result = linux::poll_now(fd, libc::POLLOUT);
    rec.note(
        Kind::Other,
        "poll",
        &result,
        || format!("fd {fd} POLLOUT, timeout 0"),
        |revents| format!("revents {revents:#x}"),
    );
    result.map(|revents| revents & libc::POLLERR != 0)
}

/// `readlink("/proc/self/fd/N")`: what an anonymous descriptor is (`anon_inode:[eventpoll]`).
pub(super) fn fd_target(rec: &Recorder, fd: RawFd) -> io::Result<String> {
    let result = linux::fd_target(fd);
    rec.note(
        Kind::Other,
        "readlink",
        &result,
        || format!("/proc/self/fd/{fd}"),
        |target| target.clone(),
    );
    result
}

/// `lseek(fd, 0, SEEK_CUR)`: the file offset of an open file.
pub(super) fn file_offset(rec: &Recorder, fd: RawFd) -> io::Result<i64> {
    let result = linux::file_offset(fd);
    rec.note(
        Kind::Other,
        "lseek",
        &result,
        || format!("fd {fd}, 0, SEEK_CUR"),
        |offset| offset.to_string(),
    );
    result
}

/// `getsockopt` of an int option (`name` is for the trace: `SO_SNDBUF`...).
pub(super) fn getsockopt_int(
    rec: &Recorder,
    fd: RawFd,
    level: libc::c_int,
    option: libc::c_int,
    name: &'static str,
) -> io::Result<i32> {
    let result = linux::getsockopt_int(fd, level, option);
    rec.note(
        Kind::Getsockopt,
        "getsockopt",
        &result,
        || format!("fd {fd}, {name}"),
        |value| format!("0 ({value})"),
    );
    result
}

/// `setsockopt` of an int option.
pub(super) fn setsockopt_int(
    rec: &Recorder,
    fd: RawFd,
    level: libc::c_int,
    option: libc::c_int,
    name: &'static str,
    value: i32,
) -> io::Result<()> {
    let result = linux::setsockopt_int(fd, level, option, value);
    rec.note(
        Kind::Other,
        "setsockopt",
        &result,
        || format!("fd {fd}, {name}, {value}"),
        ok_zero,
    );
    result
}

/// The accept-queue length of a listening TCP socket: on a LISTEN socket Linux reports it in
/// `tcpi_unacked` (and the backlog limit in `tcpi_sacked`; `net/ipv4/tcp.c` `tcp_get_info`, B18).
pub(super) fn tcp_accept_queue(rec: &Recorder, fd: RawFd) -> io::Result<i64> {
    let result = linux::tcp_info(fd).map(|info| i64::from(info.tcpi_unacked));
    rec.note(
        Kind::Getsockopt,
        "getsockopt",
        &result,
        || format!("fd {fd}, TCP_INFO"),
        |queued| format!("0 (tcpi_unacked {queued})"),
    );
    result
}

/// `ioctl(fd, FIONREAD or TIOCOUTQ, &int)`.
pub(super) fn ioctl_int(
    rec: &Recorder,
    fd: RawFd,
    request: libc::Ioctl,
    name: &'static str,
) -> io::Result<i32> {
    let result = linux::ioctl_int(fd, request);
    rec.note(
        Kind::Ioctl,
        "ioctl",
        &result,
        || format!("fd {fd}, {name}"),
        |value| format!("0 ({value})"),
    );
    result
}

/// `recv(fd, buf, MSG_PEEK|MSG_DONTWAIT)`: how many queued bytes were copied (not consumed).
pub(super) fn recv_peek(rec: &Recorder, fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let room = buf.len();
    let result = linux::recv_peek(fd, buf);
    rec.note(
        Kind::Other,
        "recv",
        &result,
        || format!("fd {fd}, {room} bytes, MSG_PEEK|MSG_DONTWAIT"),
        |n| n.to_string(),
    );
    result
}

/// `fcntl(fd, F_GETPIPE_SZ)`: a pipe's capacity in bytes.
pub(super) fn pipe_capacity(rec: &Recorder, fd: RawFd) -> io::Result<i32> {
    let result = linux::pipe_capacity(fd);
    rec.note(
        Kind::Other,
        "fcntl",
        &result,
        || format!("fd {fd}, F_GETPIPE_SZ"),
        |size| size.to_string(),
    );
    result
}

/// `dup3(from, onto, O_CLOEXEC)`: makes descriptor number `onto` name `from`'s file.
pub(super) fn dup3(rec: &Recorder, from: RawFd, onto: RawFd) -> io::Result<()> {
    let result = linux::dup_onto(from, onto);
    rec.note(
        Kind::Other,
        "dup3",
        &result,
        || format!("{from}, {onto}, O_CLOEXEC"),
        |_| onto.to_string(),
    );
    result
}

/// Closes a descriptor the emulation owns (a timerfd). The kernel also drops its epoll item.
pub(super) fn close(rec: &Recorder, fd: OwnedFd) {
    let raw = fd.as_raw_fd();
    drop(fd);
    rec.note(
        Kind::Other,
        "close",
        &Ok(()),
        || format!("fd {raw}"),
        ok_zero,
    );
}

/// `poll(fd, POLLIN|POLLOUT|POLLRDHUP, 0)`: the descriptor's readiness right now, in the same
/// bits as epoll's (POLLRDHUP is EPOLLRDHUP, and so on), without waiting or consuming anything.
pub(super) fn poll_bits(rec: &Recorder, fd: RawFd) -> io::Result<u32> {
    let events = libc::POLLIN | libc::POLLOUT | libc::POLLRDHUP;
    let result = linux::poll_now(fd, events).map(|revents| u32::from(revents as u16));
    rec.note(
        Kind::Other,
        "poll",
        &result,
        || format!("fd {fd}, IN|OUT|RDHUP, 0 ms"),
        |bits| mask_names(*bits),
    );
    result
}

/// What the emulation reads of a TCP connection's `TCP_INFO` (Linux `tcp_get_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct TcpInfo {
    /// Linux's TCP state: 1 ESTABLISHED, 2 SYN_SENT, 3 SYN_RECV, 4 FIN_WAIT1, 5 FIN_WAIT2,
    /// 6 TIME_WAIT, 7 CLOSE, 8 CLOSE_WAIT, 9 LAST_ACK, 10 LISTEN, 11 CLOSING.
    pub state: u8,
    /// The smoothed round-trip time in µs: 0 while no round trip was ever measured.
    pub rtt: u32,
    /// Retransmissions (and keepalive or window probes) of the current timeout.
    pub retransmits: u8,
    pub probes: u8,
}

/// `getsockopt(TCP_INFO)` of a TCP socket; an error (ENOPROTOOPT, EOPNOTSUPP) for any other.
pub(super) fn tcp_info(rec: &Recorder, fd: RawFd) -> io::Result<TcpInfo> {
    let result = linux::tcp_info(fd).map(|info| TcpInfo {
        state: info.tcpi_state,
        rtt: info.tcpi_rtt,
        retransmits: info.tcpi_retransmits,
        probes: info.tcpi_probes,
    });
    rec.note(
        Kind::Getsockopt,
        "getsockopt",
        &result,
        || format!("fd {fd}, TCP_INFO"),
        |info| format!("0 (tcpi_state {})", info.state),
    );
    result
}

/// A socket's send-buffer accounting from `getsockopt(SO_MEMINFO)`, in the kernel's own
/// units (buffer memory, not payload bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct SendMemory {
    /// The send buffer's size (what SO_SNDBUF reports).
    pub sndbuf: i64,
    /// What the TCP write queue holds (`sk_wmem_queued`).
    pub queued: i64,
    /// What the datagrams still in flight hold (`sk_wmem_alloc`).
    pub in_flight: i64,
}

pub(super) fn send_memory(rec: &Recorder, fd: RawFd) -> io::Result<SendMemory> {
    let result = linux::so_meminfo(fd).map(|info| SendMemory {
        sndbuf: i64::from(info[libc::SK_MEMINFO_SNDBUF as usize]),
        queued: i64::from(info[libc::SK_MEMINFO_WMEM_QUEUED as usize]),
        in_flight: i64::from(info[libc::SK_MEMINFO_WMEM_ALLOC as usize]),
    });
    rec.note(
        Kind::Getsockopt,
        "getsockopt",
        &result,
        || format!("fd {fd}, SO_MEMINFO"),
        |mem| {
            format!(
                "0 (sndbuf {}, wmem_queued {}, wmem_alloc {})",
                mem.sndbuf, mem.queued, mem.in_flight
            )
        },
    );
    result
}
