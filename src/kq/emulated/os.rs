//! Thin wrappers over the Linux system calls the emulation needs: every `unsafe` of the
//! emulation lives here. Each wrapper makes one call, counts it (and records it in words when
//! recording is on, see `record.rs`), and turns -1/errno into `io::Error`.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use super::record::{Kind, Recorder};

/// Turns the C convention (-1 and errno) into a `Result`.
fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

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
    // SAFETY: epoll_create1 takes no pointers; a non-negative result is a new fd we own.
    let result = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
        // SAFETY: the fd was just returned by the kernel and is owned by nobody else.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
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
    let mut event = libc::epoll_event {
        events: mask,
        u64: token,
    };
    // SAFETY: `event` is a valid epoll_event for the duration of the call (ignored for DEL).
    let result = check(unsafe { libc::epoll_ctl(epfd, op.raw(), fd, &mut event) }).map(|_| ());
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

/// `epoll_wait(epfd, buf, buf.len(), timeout_ms)`; -1 blocks.
pub(super) fn epoll_wait(
    rec: &Recorder,
    epfd: RawFd,
    buf: &mut [libc::epoll_event],
    timeout_ms: i32,
) -> io::Result<usize> {
    let max = buf.len().min(i32::MAX as usize) as libc::c_int;
    // SAFETY: `buf` is valid for writes of `max` epoll_event entries.
    let result = check(unsafe { libc::epoll_wait(epfd, buf.as_mut_ptr(), max, timeout_ms) })
        .map(|n| n as usize);
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

/// The token of an epoll item: the descriptor number in the low 32 bits, the registration's
/// generation above them (see `State::next_token`, B22).
pub(super) fn token(fd: RawFd, generation: u32) -> u64 {
    u64::from(generation) << 32 | u64::from(fd as u32)
}

/// The descriptor number a token was registered under.
pub(super) fn token_fd(token: u64) -> RawFd {
    token as u32 as RawFd
}

fn token_name(token: u64) -> String {
    if token == WAKE_TOKEN {
        "wake".to_string()
    } else {
        format!("fd {}", token_fd(token))
    }
}

/// A non-blocking eventfd (the kqueue's wake-up line for EVFILT_USER and for pollers).
pub(super) fn eventfd(rec: &Recorder) -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers; a non-negative result is a new fd we own.
    let result = check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })
        // SAFETY: the fd was just returned by the kernel and is owned by nobody else.
        .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
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
    let one: u64 = 1;
    // SAFETY: writes 8 bytes from a live u64, as eventfd requires.
    let ret = unsafe { libc::write(fd, (&one as *const u64).cast(), 8) };
    let result = check(ret as libc::c_int).map(|_| ());
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
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64.
    let ret = unsafe { libc::read(fd, (&mut value as *mut u64).cast(), 8) };
    let result = match check(ret as libc::c_int) {
        Ok(_) => Ok(value),
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
    // SAFETY: timerfd_create takes no pointers; a non-negative result is a new fd we own.
    let result = check(unsafe {
        libc::timerfd_create(
            libc::CLOCK_MONOTONIC,
            libc::TFD_CLOEXEC | libc::TFD_NONBLOCK,
        )
    })
    // SAFETY: the fd was just returned by the kernel and is owned by nobody else.
    .map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    rec.note(
        Kind::Other,
        "timerfd_create",
        &result,
        || "CLOCK_MONOTONIC, TFD_CLOEXEC|TFD_NONBLOCK".to_string(),
        |fd| fd.as_raw_fd().to_string(),
    );
    result
}

fn to_timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// Arms a timerfd: first expiry after `period`, then every `period` if `periodic`. Setting the
/// time also resets the count of undelivered expirations to zero (B23 re-add).
pub(super) fn timerfd_settime(
    rec: &Recorder,
    fd: RawFd,
    period: Duration,
    periodic: bool,
) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: to_timespec(if periodic { period } else { Duration::ZERO }),
        it_value: to_timespec(period),
    };
    // SAFETY: `spec` is a valid itimerspec; the old value is not requested (null).
    let result =
        check(unsafe { libc::timerfd_settime(fd, 0, &spec, std::ptr::null_mut()) }).map(|_| ());
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
}

pub(super) fn fstat(rec: &Recorder, fd: RawFd) -> io::Result<FileId> {
    let mut stat = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is valid for writes of one struct stat; it is read only on success.
    let result = check(unsafe { libc::fstat(fd, stat.as_mut_ptr()) }).map(|_| {
        // SAFETY: fstat succeeded, so the kernel filled the struct.
        let stat = unsafe { stat.assume_init() };
        FileId {
            dev: stat.st_dev,
            ino: stat.st_ino,
            mode: stat.st_mode,
        }
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

/// `getsockopt` of an int option (`name` is for the trace: `SO_SNDBUF`...).
pub(super) fn getsockopt_int(
    rec: &Recorder,
    fd: RawFd,
    level: libc::c_int,
    option: libc::c_int,
    name: &'static str,
) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and `len` is the size of `value`.
    let result = check(unsafe {
        libc::getsockopt(
            fd,
            level,
            option,
            (&mut value as *mut libc::c_int).cast(),
            &mut len,
        )
    })
    .map(|_| value);
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
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a live int and `len` is its size.
    let result =
        check(unsafe { libc::setsockopt(fd, level, option, (&value as *const i32).cast(), len) })
            .map(|_| ());
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
    let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is valid for writes of `len` bytes; it is zero-initialised, so a shorter
    // answer from an older kernel still leaves every field initialised.
    let result = check(unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    })
    // SAFETY: the struct was zeroed and then (partly) filled by the kernel.
    .map(|_| i64::from(unsafe { info.assume_init() }.tcpi_unacked));
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
    let mut value: libc::c_int = 0;
    // SAFETY: both requests write one int into `value`, which is live.
    let result =
        check(unsafe { libc::ioctl(fd, request, &mut value as *mut libc::c_int) }).map(|_| value);
    rec.note(
        Kind::Ioctl,
        "ioctl",
        &result,
        || format!("fd {fd}, {name}"),
        |value| format!("0 ({value})"),
    );
    result
}

/// `fcntl(fd, F_GETPIPE_SZ)`: a pipe's capacity in bytes.
pub(super) fn pipe_capacity(rec: &Recorder, fd: RawFd) -> io::Result<i32> {
    // SAFETY: F_GETPIPE_SZ takes no pointer argument.
    let result = check(unsafe { libc::fcntl(fd, libc::F_GETPIPE_SZ) });
    rec.note(
        Kind::Other,
        "fcntl",
        &result,
        || format!("fd {fd}, F_GETPIPE_SZ"),
        |size| size.to_string(),
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
