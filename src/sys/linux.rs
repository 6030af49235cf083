//! The Linux calls of the lab's two Linux backends, wrapped as safe functions: the kqueue
//! emulation (`kq::emulated`, which counts and records each call on top of these) and the raw
//! epoll server (`server::epoll`). One wrapper per call, each `unsafe` with its `// SAFETY:`
//! line; -1/errno becomes `io::Error` (the [`syscall!`](crate::syscall) macro).
//!
//! epoll, eventfd and timerfd are Linux's own; the others (fstat, getsockopt, ioctl...) are
//! here with the Linux request numbers and structs the emulation measures `data` with.

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

use crate::syscall;

/// Takes ownership of a descriptor the kernel has just returned.
fn owned(fd: libc::c_int) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful call that creates a descriptor, so it is
    // open and owned by nobody else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// `epoll_create1(EPOLL_CLOEXEC)`.
pub fn epoll_create() -> io::Result<OwnedFd> {
    // SAFETY: epoll_create1 takes no pointers.
    syscall!(epoll_create1(libc::EPOLL_CLOEXEC)).map(owned)
}

/// `epoll_ctl(epfd, op, fd, {mask, token})`; `op` is `EPOLL_CTL_ADD`, `_MOD` or `_DEL`.
pub fn epoll_ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, mask: u32, token: u64) -> io::Result<()> {
    let mut event = libc::epoll_event {
        events: mask,
        u64: token,
    };
    // SAFETY: `event` is a valid epoll_event for the duration of the call (ignored for DEL).
    syscall!(epoll_ctl(epfd, op, fd, &mut event)).map(|_| ())
}

/// `epoll_wait(epfd, events, events.len(), timeout_ms)`: how many entries were filled. -1 blocks.
pub fn epoll_wait(
    epfd: RawFd,
    events: &mut [libc::epoll_event],
    timeout_ms: libc::c_int,
) -> io::Result<usize> {
    let max = events.len().min(i32::MAX as usize) as libc::c_int;
    // SAFETY: `events` is valid for writes of `max` epoll_event entries.
    syscall!(epoll_wait(epfd, events.as_mut_ptr(), max, timeout_ms)).map(|n| n as usize)
}

/// `dup3(from, onto, O_CLOEXEC)`: descriptor number `onto` now names `from`'s open file (the
/// file it named before is closed).
pub fn dup_onto(from: RawFd, onto: RawFd) -> io::Result<()> {
    // SAFETY: dup3 takes no pointers; the caller owns `onto` and means to replace its file.
    syscall!(dup3(from, onto, libc::O_CLOEXEC)).map(|_| ())
}

/// `gettid()`: the kernel's id of the calling thread.
pub fn gettid() -> libc::pid_t {
    // SAFETY: gettid takes no arguments and cannot fail.
    unsafe { libc::gettid() }
}

/// A non-blocking, close-on-exec eventfd with its counter at 0.
pub fn eventfd() -> io::Result<OwnedFd> {
    // SAFETY: eventfd takes no pointers.
    syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK)).map(owned)
}

/// Adds `value` to an eventfd's counter (which makes it readable).
pub fn eventfd_add(fd: RawFd, value: u64) -> io::Result<()> {
    // SAFETY: writes 8 bytes from a live u64, as eventfd requires.
    syscall!(write(fd, (&value as *const u64).cast(), 8)).map(|_| ())
}

/// Reads (and so resets) the 8-byte counter of an eventfd or a timerfd. A counter at 0 gives
/// `WouldBlock` (the descriptors are non-blocking).
pub fn read_counter(fd: RawFd) -> io::Result<u64> {
    let mut value: u64 = 0;
    // SAFETY: reads at most 8 bytes into a live u64.
    syscall!(read(fd, (&mut value as *mut u64).cast(), 8)).map(|_| value)
}

/// A non-blocking, close-on-exec CLOCK_MONOTONIC timerfd.
pub fn timerfd_create() -> io::Result<OwnedFd> {
    // SAFETY: timerfd_create takes no pointers.
    syscall!(timerfd_create(
        libc::CLOCK_MONOTONIC,
        libc::TFD_CLOEXEC | libc::TFD_NONBLOCK
    ))
    .map(owned)
}

fn to_timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        tv_sec: d.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

/// Arms a timerfd: first expiry after `first`, then every `interval` (zero: once). Setting the
/// time also resets the count of expirations not yet read.
pub fn timerfd_settime(fd: RawFd, first: Duration, interval: Duration) -> io::Result<()> {
    let spec = libc::itimerspec {
        it_interval: to_timespec(interval),
        it_value: to_timespec(first),
    };
    // SAFETY: `spec` is a valid itimerspec; the old value is not requested (null).
    syscall!(timerfd_settime(fd, 0, &spec, std::ptr::null_mut())).map(|_| ())
}

/// `fstat(fd)`.
pub fn fstat(fd: RawFd) -> io::Result<libc::stat> {
    let mut stat = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is valid for writes of one struct stat.
    syscall!(fstat(fd, stat.as_mut_ptr()))?;
    // SAFETY: fstat succeeded, so the kernel filled the struct.
    Ok(unsafe { stat.assume_init() })
}

/// What `/proc/self/fd/N` links to: `socket:[…]`, `anon_inode:[eventpoll]`, a path...
pub fn fd_target(fd: RawFd) -> io::Result<String> {
    let target = std::fs::read_link(format!("/proc/self/fd/{fd}"))?;
    Ok(target.to_string_lossy().into_owned())
}

/// `lseek(fd, 0, SEEK_CUR)`: a file's current offset.
pub fn file_offset(fd: RawFd) -> io::Result<i64> {
    // SAFETY: lseek takes no pointers.
    syscall!(lseek(fd, 0, libc::SEEK_CUR))
}

/// `recv(fd, buf, MSG_PEEK | MSG_DONTWAIT)`: copies queued bytes without consuming them.
pub fn recv_peek(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    let flags = libc::MSG_PEEK | libc::MSG_DONTWAIT;
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    syscall!(recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags)).map(|n| n as usize)
}

/// `poll` of one descriptor with a zero timeout: the `revents` it reports now.
pub fn poll_now(fd: RawFd, events: libc::c_short) -> io::Result<libc::c_short> {
    let mut entry = libc::pollfd {
        fd,
        events,
        revents: 0,
    };
    // SAFETY: `entry` is one live pollfd, and the count passed is 1.
    syscall!(poll(&mut entry, 1, 0)).map(|_| entry.revents)
}

/// `getsockopt` of an int option.
pub fn getsockopt_int(fd: RawFd, level: libc::c_int, option: libc::c_int) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` and `len` are live and `len` is the size of `value`.
    syscall!(getsockopt(
        fd,
        level,
        option,
        (&mut value as *mut libc::c_int).cast(),
        &mut len
    ))
    .map(|_| value)
}

/// `setsockopt` of an int option.
pub fn setsockopt_int(
    fd: RawFd,
    level: libc::c_int,
    option: libc::c_int,
    value: i32,
) -> io::Result<()> {
    let len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `value` is a live int and `len` is its size.
    syscall!(setsockopt(
        fd,
        level,
        option,
        (&value as *const i32).cast(),
        len
    ))
    .map(|_| ())
}

/// `getsockopt(IPPROTO_TCP, TCP_INFO)`.
pub fn tcp_info(fd: RawFd) -> io::Result<libc::tcp_info> {
    let mut info = MaybeUninit::<libc::tcp_info>::zeroed();
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    // SAFETY: `info` is valid for writes of `len` bytes.
    syscall!(getsockopt(
        fd,
        libc::IPPROTO_TCP,
        libc::TCP_INFO,
        info.as_mut_ptr().cast(),
        &mut len
    ))?;
    // SAFETY: the struct was zeroed, then (partly, on an older kernel) filled by the kernel:
    // every field is initialised.
    Ok(unsafe { info.assume_init() })
}

/// `SO_MEMINFO` from `asm-generic/socket.h` (x86, Arm, RISC-V...), which the libc crate does not
/// define; the `SK_MEMINFO_*` indexes into its answer come from libc.
const SO_MEMINFO: libc::c_int = 55;

/// How many counters `SO_MEMINFO` answers with (`SK_MEMINFO_VARS`).
pub const SK_MEMINFO_VARS: usize = libc::SK_MEMINFO_DROPS as usize + 1;

/// `getsockopt(SOL_SOCKET, SO_MEMINFO)`: a socket's buffer accounting, in the kernel's units
/// (buffer memory, not payload bytes), indexed by `libc::SK_MEMINFO_*`.
pub fn so_meminfo(fd: RawFd) -> io::Result<[u32; SK_MEMINFO_VARS]> {
    let mut info = [0u32; SK_MEMINFO_VARS];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: `info` is valid for writes of `len` bytes; the kernel writes at most that.
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        SO_MEMINFO,
        info.as_mut_ptr().cast(),
        &mut len
    ))?;
    Ok(info)
}

/// `ioctl(fd, request, &int)` for the requests that answer one int (FIONREAD, TIOCOUTQ).
pub fn ioctl_int(fd: RawFd, request: libc::Ioctl) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    // SAFETY: the requests this is used with write one int into `value`, which is live.
    syscall!(ioctl(fd, request, &mut value as *mut libc::c_int)).map(|_| value)
}

/// `fcntl(fd, F_GETPIPE_SZ)`: a pipe's capacity in bytes.
pub fn pipe_capacity(fd: RawFd) -> io::Result<i32> {
    // SAFETY: F_GETPIPE_SZ takes no pointer argument.
    syscall!(fcntl(fd, libc::F_GETPIPE_SZ))
}
