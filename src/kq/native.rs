//! macOS and the BSDs: the operating system's own kqueue, reached through `libc`.
//!
//! This backend is deliberately thin: the kernel already implements every behaviour of the spec
//! (B1–B26), so all this file does is translate. The C `struct kevent` differs per OS (spec §2):
//! macOS packs it to 4 bytes, FreeBSD 12+ appends `ext[4]`, NetBSD makes `filter` and `flags`
//! unsigned 32-bit, `data` is `intptr_t` on some and `int64_t` on others. All of that is absorbed
//! in ONE place, [`to_sys`] and [`from_sys`] (STYLE.md habit 2); nothing else here touches a
//! `libc::kevent` field.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr;
use std::sync::Mutex;

use super::{errno_name, Backend, Kevent, OsCall, OsCallCounts, Timespec};

pub const BACKEND: Backend = Backend::Native;

/// The kernel's own values, taken from `libc` and never written as literals, because they differ
/// per OS (spec §4, pitfall P8): EVFILT_USER is -11 on FreeBSD, -10 on macOS and OpenBSD, 8 on
/// NetBSD; the timer units disagree (FreeBSD NOTE_NSECONDS 0x8 is macOS NOTE_ABSOLUTE).
///
/// The portable types are FreeBSD's (`i16` filter, `u16` flags, `u32` fflags). `as _` converts
/// where the OS's C type differs (NetBSD: `u32` filter and flags) and is a no-op elsewhere.
pub mod consts {
    // Filters.
    pub const EVFILT_READ: i16 = libc::EVFILT_READ as _;
    pub const EVFILT_WRITE: i16 = libc::EVFILT_WRITE as _;
    pub const EVFILT_TIMER: i16 = libc::EVFILT_TIMER as _;
    pub const EVFILT_USER: i16 = libc::EVFILT_USER as _;

    // Actions (going in) and state (coming out).
    pub const EV_ADD: u16 = libc::EV_ADD as _;
    pub const EV_DELETE: u16 = libc::EV_DELETE as _;
    pub const EV_ENABLE: u16 = libc::EV_ENABLE as _;
    pub const EV_DISABLE: u16 = libc::EV_DISABLE as _;
    pub const EV_ONESHOT: u16 = libc::EV_ONESHOT as _;
    pub const EV_CLEAR: u16 = libc::EV_CLEAR as _;
    pub const EV_RECEIPT: u16 = libc::EV_RECEIPT as _;
    pub const EV_DISPATCH: u16 = libc::EV_DISPATCH as _;
    /// 0xF000 on FreeBSD, macOS and NetBSD; 0xF800 on OpenBSD and DragonFly (spec §2).
    pub const EV_SYSFLAGS: u16 = libc::EV_SYSFLAGS as _;
    pub const EV_ERROR: u16 = libc::EV_ERROR as _;
    pub const EV_EOF: u16 = libc::EV_EOF as _;

    // READ/WRITE: a low-water mark in `data` (B22; macOS clamps it, spec §2).
    pub const NOTE_LOWAT: u32 = libc::NOTE_LOWAT as _;

    // USER: trigger, and the operation applied to the 24 user bits of fflags.
    pub const NOTE_TRIGGER: u32 = libc::NOTE_TRIGGER as _;
    pub const NOTE_FFNOP: u32 = libc::NOTE_FFNOP as _;
    pub const NOTE_FFAND: u32 = libc::NOTE_FFAND as _;
    pub const NOTE_FFOR: u32 = libc::NOTE_FFOR as _;
    pub const NOTE_FFCOPY: u32 = libc::NOTE_FFCOPY as _;
    pub const NOTE_FFCTRLMASK: u32 = libc::NOTE_FFCTRLMASK as _;
    pub const NOTE_FFLAGSMASK: u32 = libc::NOTE_FFLAGSMASK as _;

    // TIMER units. Same names, different bits per OS (spec §2 "timer unit bits"). libc 0.2 has
    // none of them for OpenBSD and DragonFly (their timers count milliseconds only), so there
    // these names do not exist and code that needs them does not compile, rather than silently
    // sending another OS's bit.
    #[cfg(not(any(target_os = "openbsd", target_os = "dragonfly")))]
    pub const NOTE_SECONDS: u32 = libc::NOTE_SECONDS as _;
    #[cfg(not(any(target_os = "openbsd", target_os = "dragonfly")))]
    pub const NOTE_USECONDS: u32 = libc::NOTE_USECONDS as _;
    #[cfg(not(any(target_os = "openbsd", target_os = "dragonfly")))]
    pub const NOTE_NSECONDS: u32 = libc::NOTE_NSECONDS as _;
    /// FreeBSD (0x2) and NetBSD (0, the default unit) only: macOS has no NOTE_MSECONDS, and its
    /// 0x2 means microseconds (spec §2, timer pitfall).
    #[cfg(any(target_os = "freebsd", target_os = "netbsd"))]
    pub const NOTE_MSECONDS: u32 = libc::NOTE_MSECONDS as _;
}

/// A kernel kqueue: the descriptor, plus the lab's record of the kevent calls made on it.
pub struct Kqueue {
    /// Closed on drop (`OwnedFd`), which also deletes every knote of the queue.
    fd: OwnedFd,
    /// Counts and recorded calls; locked only after the system call returns, never across it,
    /// so one thread can block in `kevent` while another applies changes (§7).
    log: Mutex<CallLog>,
}

#[derive(Default)]
struct CallLog {
    recording: bool,
    calls: Vec<OsCall>,
    counts: OsCallCounts,
}

// `kevent` takes `&self` and a queue is shared between threads (a NOTE_TRIGGER from one thread
// wakes a waiter in another), so the type must stay Send + Sync: checked at compile time.
const _: fn() = || {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Kqueue>();
};

impl Kqueue {
    /// `kqueue()`, then close-on-exec, so that a program the lab starts does not inherit it.
    pub fn new() -> io::Result<Kqueue> {
        // SAFETY: kqueue() takes no arguments; it returns a new descriptor, or -1 and sets errno.
        let raw = unsafe { libc::kqueue() };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `raw` was just returned by kqueue() and is owned by nothing else; from here on
        // the OwnedFd closes it, including on the error path below.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        // Plain kqueue() is portable across the BSDs; kqueuex(KQUEUE_CLOEXEC) is FreeBSD 14 only
        // and kqueue1(O_CLOEXEC) NetBSD only, so set the flag with fcntl, as mio does.
        // SAFETY: `fd` is an open descriptor we own; F_SETFD takes an int argument.
        if unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFD, libc::FD_CLOEXEC) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Kqueue {
            fd,
            log: Mutex::new(CallLog::default()),
        })
    }

    /// One `kevent(2)` system call: the kernel applies the changes, then collects (B9).
    ///
    /// Errors come back exactly as the kernel reports them: EINTR is returned, not retried,
    /// because a signal ending the wait is itself a behaviour the lab shows (B11); an invalid
    /// timeout is passed through so the kernel rejects it with EINVAL (B10).
    pub fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Timespec>,
    ) -> io::Result<usize> {
        let changelist: Vec<libc::kevent> = changes.iter().map(to_sys).collect();
        let mut eventlist: Vec<libc::kevent> = vec![to_sys(&Kevent::default()); events.len()];

        let nchanges = c_count(changelist.len())?;
        let nevents = c_count(eventlist.len())?;

        // None blocks (null pointer); Some(ZERO) polls (B10). Fields keep their sign.
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.sec as _,
            tv_nsec: t.nsec as _,
        });
        let ts_ptr = ts
            .as_ref()
            .map_or(ptr::null(), |t| t as *const libc::timespec);

        // SAFETY: the changelist and eventlist pointers come from live Vecs whose lengths are
        // exactly `nchanges` and `nevents`, so the kernel reads and writes only inside them;
        // `ts_ptr` is null or points to `ts`, which lives until the end of this function.
        let n = unsafe {
            libc::kevent(
                self.fd.as_raw_fd(),
                changelist.as_ptr(),
                nchanges,
                eventlist.as_mut_ptr(),
                nevents,
                ts_ptr,
            )
        };
        // Take errno at once, before anything else can overwrite it.
        let result = if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        };

        self.log_call(changes.len(), events.len(), &result);

        let filled = result?;
        for (event, raw) in events.iter_mut().zip(&eventlist[..filled]) {
            *event = from_sys(raw);
        }
        Ok(filled)
    }

    /// Count the call, and record it when recording is on.
    fn log_call(&self, nchanges: usize, nevents: usize, result: &io::Result<usize>) {
        let mut log = self.lock_log();
        log.counts.kevent += 1;
        if log.recording {
            let ret = match result {
                Ok(n) => n.to_string(),
                Err(e) => match e.raw_os_error() {
                    Some(errno) => format!("-1 {}", errno_name(errno)),
                    None => format!("-1 {e}"),
                },
            };
            log.calls.push(OsCall {
                name: "kevent",
                args: format!(
                    "kq {}, {nchanges} changes, {nevents} events",
                    self.fd.as_raw_fd()
                ),
                ret,
            });
        }
    }

    pub fn set_recording(&self, on: bool) {
        self.lock_log().recording = on;
    }

    pub fn take_os_calls(&self) -> Vec<OsCall> {
        mem::take(&mut self.lock_log().calls)
    }

    pub fn os_call_counts(&self) -> OsCallCounts {
        self.lock_log().counts
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The log holds plain counters and strings, valid even if a thread panicked holding it.
    fn lock_log(&self) -> std::sync::MutexGuard<'_, CallLog> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// FreeBSD's `knote_fdclose`: nothing to do here, the kernel runs it itself inside close() and
/// dup2() (B22). The emulation's twin does the work (`emulated/fdclose.rs`).
pub fn knote_fdclose(_fd: RawFd) {}

/// A list's length as kevent's count argument: `int`, or `size_t` on NetBSD (spec §2). A list too
/// long for an `int` is EINVAL rather than a silently truncated count.
fn c_count<T: TryFrom<usize>>(len: usize) -> io::Result<T> {
    T::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// Portable → C (the `EV_SET` macro). Fields the portable type does not have (FreeBSD's `ext`)
/// are zero, as EV_SET makes them; `as _` adapts each field to this OS's C type (spec §2).
// On macOS and OpenBSD every field is named, so the `..zeroed()` has nothing left to fill there.
#[allow(clippy::needless_update)]
fn to_sys(kev: &Kevent) -> libc::kevent {
    libc::kevent {
        ident: kev.ident as _,
        filter: kev.filter as _,
        flags: kev.flags as _,
        fflags: kev.fflags as _,
        data: kev.data as _,
        udata: kev.udata as _,
        // SAFETY: every field of libc::kevent is an integer, an integer array or a raw pointer,
        // for which all-zero bytes is a valid value (0, or a null udata).
        ..unsafe { mem::zeroed() }
    }
}

/// C → portable. Each field is read by value (a copy): Apple's kevent is `packed(4)`, and a
/// reference to one of its fields could be unaligned (STYLE.md habit 2).
fn from_sys(raw: &libc::kevent) -> Kevent {
    Kevent {
        ident: raw.ident as _,
        filter: raw.filter as _,
        flags: raw.flags as _,
        fflags: raw.fflags as _,
        data: raw.data as _,
        udata: raw.udata as _,
    }
}

#[cfg(test)]
mod tests {
    //! These run only on macOS and the BSDs; on Linux the emulation is tested instead.

    use super::consts::*;
    use super::*;

    /// Every field survives the trip portable → C → kernel → C → portable: a USER event is
    /// triggered with a value in fflags and a udata, and comes back carrying both (B4).
    #[test]
    fn a_user_event_comes_back_with_its_fields() {
        let kq = Kqueue::new().expect("kqueue");
        let udata = 0xfeed_usize;
        let add = Kevent::new(42, EVFILT_USER, EV_ADD | EV_CLEAR).with_udata(udata);
        let trigger =
            Kevent::new(42, EVFILT_USER, 0).with_fflags_data(NOTE_TRIGGER | NOTE_FFCOPY | 0x5a, 0);
        let mut events = [Kevent::default(); 4];

        let n = kq
            .kevent(&[add, trigger], &mut events, Some(Timespec::ZERO))
            .expect("kevent");

        assert_eq!(n, 1);
        let event = events[0];
        assert_eq!(event.ident, 42);
        assert_eq!(event.filter, EVFILT_USER);
        assert_eq!(event.fflags & NOTE_FFLAGSMASK, 0x5a);
        assert_eq!(event.udata, udata);
        assert!(!event.is_error());
    }

    /// A change on a knote that does not exist fails with ENOENT: with room in the eventlist it
    /// comes back as an EV_ERROR entry carrying the errno in `data` (B7).
    #[test]
    fn a_failing_change_becomes_an_error_entry() {
        let kq = Kqueue::new().expect("kqueue");
        let delete = Kevent::new(7, EVFILT_USER, EV_DELETE);
        let mut events = [Kevent::default(); 1];

        let n = kq
            .kevent(&[delete], &mut events, Some(Timespec::ZERO))
            .expect("kevent");

        assert_eq!(n, 1);
        assert!(events[0].is_failure());
        assert_eq!(errno_name(events[0].data as i32), "ENOENT");
    }

    /// With recording on, each kevent call is one recorded system call, and every call counts.
    #[test]
    fn each_call_is_counted_and_recorded() {
        let kq = Kqueue::new().expect("kqueue");
        kq.kevent(&[], &mut [], Some(Timespec::ZERO))
            .expect("kevent");
        kq.set_recording(true);
        let mut events = [Kevent::default(); 8];
        kq.kevent(&[], &mut events, Some(Timespec::ZERO))
            .expect("kevent");

        assert_eq!(kq.os_call_counts().kevent, 2);
        let calls = kq.take_os_calls();
        assert_eq!(calls.len(), 1);
        assert_eq!(calls[0].name, "kevent");
        assert_eq!(
            calls[0].args,
            format!("kq {}, 0 changes, 8 events", kq.as_raw_fd())
        );
        assert_eq!(calls[0].ret, "0");
        assert!(kq.take_os_calls().is_empty());
    }

    /// An invalid timeout is passed to the kernel, which rejects it with EINVAL (B10).
    #[test]
    fn an_invalid_timeout_is_rejected_by_the_kernel() {
        let kq = Kqueue::new().expect("kqueue");
        let mut events = [Kevent::default(); 1];
        let bad = Timespec { sec: 0, nsec: -1 };

        let err = kq.kevent(&[], &mut events, Some(bad)).unwrap_err();

        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
    }
}
