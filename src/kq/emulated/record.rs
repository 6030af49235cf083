//! Counting and recording the Linux calls the emulation makes underneath each `kevent`.
//!
//! Counting is always on and costs one atomic add per call (`lab bench`, and the item-5 tests
//! that prove no epoll_ctl is wasted). Recording in words (`epoll_ctl(MOD fd 7 IN|RDHUP) = 0`)
//! is only done while switched on: the words are built by closures that are never called when
//! recording is off, so an untraced run formats no strings.

use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::kq::{errno_name, OsCall, OsCallCounts};

/// Which counter of [`OsCallCounts`] a call adds to.
#[derive(Clone, Copy, Debug)]
pub(super) enum Kind {
    EpollWait,
    EpollCtl,
    Ioctl,
    Getsockopt,
    Other,
}

#[derive(Default)]
pub(super) struct Recorder {
    epoll_wait: AtomicU64,
    epoll_ctl: AtomicU64,
    ioctl: AtomicU64,
    getsockopt: AtomicU64,
    other: AtomicU64,
    recording: AtomicBool,
    calls: Mutex<Vec<OsCall>>,
}

impl Recorder {
    /// Counts one call and, if recording, keeps it in words. `args` and `ok` are only called
    /// while recording.
    pub(super) fn note<T>(
        &self,
        kind: Kind,
        name: &'static str,
        result: &io::Result<T>,
        args: impl FnOnce() -> String,
        ok: impl FnOnce(&T) -> String,
    ) {
        self.count(kind);
        if !self.recording.load(Ordering::Relaxed) {
            return;
        }
        let ret = match result {
            Ok(value) => ok(value),
            Err(err) => format!("-1 {}", errno_name(err.raw_os_error().unwrap_or(0))),
        };
        let call = OsCall {
            name,
            args: args(),
            ret,
        };
        self.calls
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(call);
    }

    /// Counts one call without recording it: a call made outside any kevent call (the DEL of
    /// `fdclose.rs`), which a kevent call's trace must not show as its own.
    pub(super) fn count(&self, kind: Kind) {
        self.counter(kind).fetch_add(1, Ordering::Relaxed);
    }

    fn counter(&self, kind: Kind) -> &AtomicU64 {
        match kind {
            Kind::EpollWait => &self.epoll_wait,
            Kind::EpollCtl => &self.epoll_ctl,
            Kind::Ioctl => &self.ioctl,
            Kind::Getsockopt => &self.getsockopt,
            Kind::Other => &self.other,
        }
    }

    pub(super) fn set_recording(&self, on: bool) {
        self.recording.store(on, Ordering::Relaxed);
    }

    pub(super) fn take(&self) -> Vec<OsCall> {
        std::mem::take(
            &mut *self
                .calls
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }

    pub(super) fn counts(&self) -> OsCallCounts {
        OsCallCounts {
            kevent: 0,
            epoll_wait: self.epoll_wait.load(Ordering::Relaxed),
            epoll_ctl: self.epoll_ctl.load(Ordering::Relaxed),
            ioctl: self.ioctl.load(Ordering::Relaxed),
            getsockopt: self.getsockopt.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
        }
    }
}
