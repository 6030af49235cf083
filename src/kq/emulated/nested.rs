//! A kqueue watched by another kqueue (B25, FreeBSD `kqueue_kqfilter` and `filt_kqueue`).
//!
//! On FreeBSD a kqueue descriptor accepts EVFILT_READ only (WRITE is EINVAL), and its READ
//! event's data is the number of events pending in it (`kq_count`). Here the watched kqueue is
//! an epoll descriptor, which epoll can watch: readiness comes from epoll as for any file. The
//! count comes from this registry: every emulated kqueue of the process publishes the length
//! of its ready queue under its descriptor number after each kevent call. It is a lower bound
//! (events its epoll set holds that it has not taken in yet are not counted), so a kqueue that
//! epoll reports readable counts at least 1.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The emulated kqueues of this process: descriptor number → published count.
static REGISTRY: Mutex<Vec<(RawFd, Weak<AtomicUsize>)>> = Mutex::new(Vec::new());

/// One kqueue's entry in the registry, removed when the kqueue is dropped.
pub(super) struct Published {
    fd: RawFd,
    count: Arc<AtomicUsize>,
}

impl Published {
    pub(super) fn new(fd: RawFd) -> Published {
        let count = Arc::new(AtomicUsize::new(0));
        let mut registry = REGISTRY
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        registry.retain(|(other, weak)| *other != fd && weak.strong_count() > 0);
        registry.push((fd, Arc::downgrade(&count)));
        Published { fd, count }
    }

    /// Publishes how many knotes wait in the ready queue.
    pub(super) fn set(&self, pending: usize) {
        self.count.store(pending, Ordering::Relaxed);
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        let mut registry = REGISTRY
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        registry.retain(|(fd, weak)| *fd != self.fd && weak.strong_count() > 0);
    }
}

/// READ data of an emulated kqueue's descriptor that epoll reported readable: its published
/// count, at least 1. `None` when `fd` is no emulated kqueue of this process (a raw epoll
/// descriptor, or a kqueue inherited from a parent).
pub(super) fn pending(fd: RawFd) -> Option<i64> {
    let registry = REGISTRY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let (_, weak) = registry.iter().find(|(other, _)| *other == fd)?;
    let count = weak.upgrade()?.load(Ordering::Relaxed);
    Some(count.max(1) as i64)
}
