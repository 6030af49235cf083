//! The portable kqueue API: one `kevent` call, the way the man page describes it.
//!
//! On macOS and the BSDs this is the real kqueue, reached through `libc` (`native.rs`). On Linux it
//! is the lab's own emulation over epoll (`emulated/`), which follows FreeBSD 14 wherever FreeBSD
//! and macOS disagree (`docs/kqueue-semantics.md` §7). Everything above this module — the stages,
//! the server, the trace and the conformance tests — uses only what is declared here, so the same
//! code teaches the same lesson on every machine an attendee brings.
//!
//! The vocabulary is the man page's:
//! - a **knote** is one registration, keyed by `(ident, filter)` (B1);
//! - a **change** is one entry of the changelist; the **eventlist** is filled by the collect;
//! - `kevent(changes, events, timeout)` applies every change first, then collects (B9).
//! - [`close`] and [`dup2`] close a descriptor a kqueue may watch, and its knotes with it, in
//!   every kqueue of the process (B22); on Linux they are how the emulation learns of a close.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::time::Duration;

mod names;
pub use names::{describe_flags, errno_name, filter_name, flag_names};

// Select the backend at module level (STYLE.md habit 3): each backend exposes the same small set
// of items: `Kqueue` (new, kevent, as_raw_fd, recording hooks), `knote_fdclose`, `BACKEND` and
// the constants.
#[cfg(any(
    target_os = "macos",
    target_os = "ios",
    target_os = "freebsd",
    target_os = "dragonfly",
    target_os = "netbsd",
    target_os = "openbsd"
))]
#[path = "native.rs"]
mod sys;

#[cfg(any(target_os = "linux", target_os = "android"))]
#[path = "emulated/mod.rs"]
mod sys;

pub use sys::consts::*;
/// An epoll mask in words (`IN|OUT|RDHUP`): the emulation's decoder, shared with the raw epoll
/// server (`server/epoll.rs`), both Linux-only.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) use sys::epoll_mask_names;

/// One kevent entry, used both as a change (going in) and as an event (coming out).
///
/// The fields are the man page's. Their C types differ per OS (NetBSD's filter is unsigned,
/// macOS packs the struct, FreeBSD 12+ adds `ext[4]`); the native backend converts in one place.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Kevent {
    /// What is watched: a file descriptor for READ/WRITE, any number for TIMER/USER (B1).
    pub ident: usize,
    /// Which condition: `EVFILT_READ`, `EVFILT_WRITE`, ... Not a bitmask (Part 7).
    pub filter: i16,
    /// Actions going in (`EV_ADD`, ...), state coming out (`EV_EOF`, `EV_ERROR`, ...).
    pub flags: u16,
    /// Filter-specific flags: NOTE_TRIGGER for USER, timer units, the socket error with EV_EOF.
    pub fflags: u32,
    /// Filter-specific data: bytes readable, free send space, timer period or expirations, errno.
    pub data: i64,
    /// The caller's opaque value, handed back untouched with every event (B4).
    pub udata: usize,
}

impl Kevent {
    /// A change or event with the given key and flags; `fflags`, `data` and `udata` are zero.
    /// (The C macro `EV_SET` with the common arguments.)
    pub const fn new(ident: usize, filter: i16, flags: u16) -> Kevent {
        Kevent {
            ident,
            filter,
            flags,
            fflags: 0,
            data: 0,
            udata: 0,
        }
    }

    /// The same entry carrying `udata`.
    pub const fn with_udata(mut self, udata: usize) -> Kevent {
        self.udata = udata;
        self
    }

    /// The same entry carrying `fflags` and `data`.
    pub const fn with_fflags_data(mut self, fflags: u32, data: i64) -> Kevent {
        self.fflags = fflags;
        self.data = data;
        self
    }

    /// True for an error or receipt entry (B7/B8). Portable code tests the bit, never `==`,
    /// because macOS ORs EV_ERROR into the caller's flags (pitfall P5).
    pub const fn is_error(&self) -> bool {
        self.flags & EV_ERROR != 0
    }

    /// True when the entry is a real failure: EV_ERROR with a non-zero errno in `data`
    /// (a receipt with `data == 0` is success, B8).
    pub const fn is_failure(&self) -> bool {
        self.is_error() && self.data != 0
    }

    /// True when EV_EOF is set (the peer closed, or the socket failed; B21).
    pub const fn is_eof(&self) -> bool {
        self.flags & EV_EOF != 0
    }
}

/// A kevent timeout, as the C `struct timespec`: kept signed so that the invalid values of B10
/// (negative fields, `nsec` ≥ 10⁹) can be passed and rejected with EINVAL, as the kernel does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timespec {
    pub sec: i64,
    pub nsec: i64,
}

impl Timespec {
    /// A zero timeout: poll, never block (B10).
    pub const ZERO: Timespec = Timespec { sec: 0, nsec: 0 };

    pub const fn from_millis(ms: u64) -> Timespec {
        Timespec {
            sec: (ms / 1000) as i64,
            nsec: ((ms % 1000) * 1_000_000) as i64,
        }
    }

    pub fn from_duration(d: Duration) -> Timespec {
        Timespec {
            sec: d.as_secs().min(i64::MAX as u64) as i64,
            nsec: i64::from(d.subsec_nanos()),
        }
    }

    /// True for the values B10 says the kernel rejects with EINVAL.
    pub const fn is_valid(&self) -> bool {
        self.sec >= 0 && self.nsec >= 0 && self.nsec < 1_000_000_000
    }

    /// The timeout as a `Duration`, or `None` if it is invalid.
    pub fn to_duration(&self) -> Option<Duration> {
        if self.is_valid() {
            Some(Duration::new(self.sec as u64, self.nsec as u32))
        } else {
            None
        }
    }

    /// Whole milliseconds, rounded up (what a trace prints and what epoll_wait takes).
    pub fn as_millis_ceil(&self) -> u64 {
        let sub_ms = (self.nsec.max(0) as u64).div_ceil(1_000_000);
        (self.sec.max(0) as u64)
            .saturating_mul(1000)
            .saturating_add(sub_ms)
    }
}

/// Which kqueue is running underneath: every trace header names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The operating system's own kqueue (macOS, FreeBSD, ...).
    Native,
    /// The lab's emulation of kqueue over epoll on Linux, with FreeBSD semantics.
    Emulated,
}

impl Backend {
    /// The backend compiled into this binary.
    pub const CURRENT: Backend = sys::BACKEND;

    /// `native` or `emulated`, as in the JSON `start` record.
    pub const fn json_name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Emulated => "emulated",
        }
    }

    /// The words for a trace header.
    pub fn describe(self) -> String {
        match self {
            Backend::Native => format!("native kqueue ({})", os_name()),
            Backend::Emulated => "kqueue emulated over epoll, FreeBSD semantics".to_string(),
        }
    }
}

/// The operating system's name as an attendee would say it (`macOS`, `FreeBSD`, `Linux`).
pub fn os_name() -> &'static str {
    match std::env::consts::OS {
        "macos" => "macOS",
        "freebsd" => "FreeBSD",
        "openbsd" => "OpenBSD",
        "netbsd" => "NetBSD",
        "dragonfly" => "DragonFly BSD",
        "linux" => "Linux",
        other => other,
    }
}

/// One system call that a kevent call made underneath. The emulation records the epoll_ctl,
/// epoll_wait, ioctl, getsockopt... it needed, so that a trace can show the epoll twin of every
/// kqueue line. The native backend records the one `kevent` system call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OsCall {
    /// The system call's name: `epoll_ctl`, `epoll_wait`, `ioctl`, `kevent`, ...
    pub name: &'static str,
    /// Its arguments in words, e.g. `MOD fd 7 IN|RDHUP`.
    pub args: String,
    /// What it returned, e.g. `0`, `3 ready`, `-1 EBADF`.
    pub ret: String,
}

impl std::fmt::Display for OsCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({}) = {}", self.name, self.args, self.ret)
    }
}

/// Running totals of the system calls a kqueue made, by kind (for `lab bench` and for the tests
/// that prove no call is wasted). Always counted, whether or not calls are being recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OsCallCounts {
    /// Native kevent system calls (0 on the emulation).
    pub kevent: u64,
    pub epoll_wait: u64,
    pub epoll_ctl: u64,
    /// ioctl calls (FIONREAD for READ data).
    pub ioctl: u64,
    /// getsockopt calls (SO_MEMINFO for WRITE data, TCP_INFO for a listener's queue and a
    /// connection's state, SO_ACCEPTCONN, SO_TYPE...).
    pub getsockopt: u64,
    /// Everything else the emulation needed (fstat, read of a timerfd or eventfd, ...).
    pub other: u64,
}

impl OsCallCounts {
    pub const fn total(&self) -> u64 {
        self.kevent + self.epoll_wait + self.epoll_ctl + self.ioctl + self.getsockopt + self.other
    }

    /// The calls made since `earlier` was read (the counts only grow): what one step cost.
    pub const fn since(&self, earlier: &OsCallCounts) -> OsCallCounts {
        OsCallCounts {
            kevent: self.kevent - earlier.kevent,
            epoll_wait: self.epoll_wait - earlier.epoll_wait,
            epoll_ctl: self.epoll_ctl - earlier.epoll_ctl,
            ioctl: self.ioctl - earlier.ioctl,
            getsockopt: self.getsockopt - earlier.getsockopt,
            other: self.other - earlier.other,
        }
    }
}

/// A kqueue. The descriptor is closed on drop.
///
/// `kevent` takes `&self`: as with a real kqueue, one thread may block in `kevent` while another
/// applies changes to the same queue (for example a NOTE_TRIGGER that wakes the waiter, §7).
pub struct Kqueue {
    inner: sys::Kqueue,
}

impl Kqueue {
    /// `kqueue()`: a new, empty queue.
    pub fn new() -> io::Result<Kqueue> {
        Ok(Kqueue {
            inner: sys::Kqueue::new()?,
        })
    }

    /// `kevent(kq, changes, events, timeout)`.
    ///
    /// Applies every change in order, then collects up to `events.len()` events (B9):
    /// - an empty `events` returns at once, after the changes, whatever the timeout (B9);
    /// - a failing change becomes an EV_ERROR entry while `events` has room, and the call then
    ///   returns without collecting; with no room the call fails with that errno (B7, B8);
    /// - `None` blocks until an event arrives; `Some(Timespec::ZERO)` polls (B10);
    /// - a signal ends the wait with `ErrorKind::Interrupted`, changes already applied (B11).
    ///
    /// Returns how many entries of `events` were filled.
    pub fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Timespec>,
    ) -> io::Result<usize> {
        self.inner.kevent(changes, events, timeout)
    }

    /// Start or stop recording the system calls made underneath (see [`OsCall`]).
    pub fn set_recording(&self, on: bool) {
        self.inner.set_recording(on)
    }

    /// The calls recorded since the last take, oldest first.
    pub fn take_os_calls(&self) -> Vec<OsCall> {
        self.inner.take_os_calls()
    }

    /// Totals of the system calls made so far.
    pub fn os_call_counts(&self) -> OsCallCounts {
        self.inner.os_call_counts()
    }
}

impl AsRawFd for Kqueue {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

/// `close(fd)` for a descriptor a kqueue may watch: its knotes go, in every kqueue of the
/// process, with any event they had queued, even if the file lives on through a dup() or a
/// child (B22, FreeBSD `knote_fdclose`).
///
/// On macOS and the BSDs this is the plain system call: the kernel does the rest. The Linux
/// emulation never sees a close() made any other way (dropping a `TcpStream` or an `OwnedFd`,
/// libc's close): it then purges the knotes lazily, and a number reused in the meantime can
/// still carry something of the old registration (`emulated/mod.rs`, "Where the emulation
/// differs"). The lab's own programs close their watched descriptors here.
pub fn close(fd: impl Into<OwnedFd>) {
    let fd: OwnedFd = fd.into();
    sys::knote_fdclose(fd.as_raw_fd());
    drop(fd); // close(2)
}

/// `dup2(from, onto)` for a number a kqueue may watch: `onto` now names `from`'s file, and the
/// file it named before is closed as by [`close`], knotes included (B22: FreeBSD's `do_dup` runs
/// `knote_fdclose` on the replaced number), even when both name the same file (a dup2 back).
/// `onto` stays close-on-exec; `from == onto` is EINVAL, as for dup3; a `from` that is not
/// open is EBADF, and then `onto` and its knotes are left as they were.
pub fn dup2(from: RawFd, onto: RawFd) -> io::Result<()> {
    if from == onto {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    if !crate::sys::unix::is_open(from) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    sys::knote_fdclose(onto);
    crate::sys::unix::dup2(from, onto)
}

impl std::fmt::Debug for Kqueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kqueue")
            .field("fd", &self.as_raw_fd())
            .field("backend", &Backend::CURRENT)
            .finish()
    }
}
