//! close() and dup2() that the emulation sees: FreeBSD's `knote_fdclose` (B22).
//!
//! On FreeBSD, closing a descriptor number (close(), or dup2() onto a number that was open)
//! runs `knote_fdclose` (sys/kern/kern_event.c, called from `closefp` in
//! sys/kern/kern_descrip.c, which close() and `kern_dup` both reach; older releases call it
//! from `do_dup` directly): every knote filed under that number, in every kqueue of the
//! process, is dropped at once, with any event it had queued. The file may live on through a
//! dup() or a child; its knotes do not.
//!
//! On Linux the emulation is the kernel of kqueue, so this is the emulation's job, and it can
//! only do it if it is told: programs close a watched descriptor with [`crate::kq::close`] (or
//! replace one with [`crate::kq::dup2`]), which calls [`knote_fdclose`] here first. For that,
//! every emulated kqueue of the process is listed in a small registry of weak references
//! (FreeBSD's `fd_kqlist`): added when the kqueue is made, removed when it is dropped.
//!
//! In each kqueue, under its lock (never held across epoll_wait, so a thread blocked in kevent
//! on it is no obstacle): the number's knotes and queued events go, and its epoll item is
//! removed with EPOLL_CTL_DEL *while the number still names the file*, the one moment the item
//! can be named at all (epoll files an item under the file and the number together). So no
//! orphaned item is left behind, whatever happens to the file next: a dup2() back or a new
//! socket on the number finds nothing of the old registration. A raw close() that bypasses
//! this is still invisible: `closed.rs` handles those lazily.
//!
//! The DEL is counted (`lab bench`) but not shown in a kevent call's trace: it belongs to the
//! close, not to any kevent call.

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use super::os;
use super::state::{Os, Owner, Registration, State};
use super::Core;

/// Every emulated kqueue of this process (FreeBSD's per-process `fd_kqlist`).
static KQUEUES: Mutex<Vec<Weak<Core>>> = Mutex::new(Vec::new());

fn kqueues() -> MutexGuard<'static, Vec<Weak<Core>>> {
    // A panic while holding the lock leaves a plain list behind; carry on with it.
    KQUEUES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Lists a new kqueue (from its constructor).
pub(super) fn register(core: &Arc<Core>) {
    let mut list = kqueues();
    list.retain(|weak| weak.strong_count() > 0);
    list.push(Arc::downgrade(core));
}

/// Takes a kqueue off the list (when it is dropped).
pub(super) fn unregister(core: &Arc<Core>) {
    let mut list = kqueues();
    list.retain(|weak| weak.strong_count() > 0 && !std::ptr::eq(weak.as_ptr(), Arc::as_ptr(core)));
}

/// FreeBSD's `knote_fdclose(fd)`, for every emulated kqueue of the process. Called just
/// before descriptor number `fd` is closed or replaced, while it still names its file.
///
/// Lock order: the list, then one kqueue's state at a time. Nothing takes them the other way
/// round: a kevent call never touches the list.
pub fn knote_fdclose(fd: RawFd) {
    let list = kqueues();
    for core in list.iter().filter_map(Weak::upgrade) {
        let os = core.os();
        drop_knotes_of(&mut core.lock(), &os, fd);
    }
}

/// One kqueue's part: the READ and WRITE knotes of number `fd` go, with their queued events,
/// and so does its epoll item (DEL while the number still names the file). Timers and user
/// events with the same ident stay: they are not descriptors (B1).
fn drop_knotes_of(state: &mut State, os: &Os, fd: RawFd) {
    let in_epoll = match state.regs.get(&fd) {
        Some(Registration {
            owner: Owner::File(_),
            in_epoll,
            ..
        }) => in_epoll.is_some(),
        _ => return,
    };
    if in_epoll {
        // Fails only if the number was already closed behind the kqueue's back and names
        // another file now: the old item is then an orphan, left to `closed.rs`.
        let _ = os::epoll_del_at_close(os.rec, os.epfd, fd);
    }
    state.purge_fd(fd);
    let knotes = &state.knotes;
    state.delivered.retain(|key| knotes.contains_key(key));
}

#[cfg(test)]
mod tests {
    use super::super::consts::*;
    use super::super::Kqueue;
    use super::*;
    use crate::kq::Kevent;

    fn listed(core: &Arc<Core>) -> bool {
        kqueues()
            .iter()
            .any(|weak| std::ptr::eq(weak.as_ptr(), Arc::as_ptr(core)))
    }

    /// A kqueue is on the process's list from its constructor until it is dropped.
    #[test]
    fn a_kqueue_is_listed_while_it_lives() {
        let kq = Kqueue::new().expect("kqueue");
        let core = Arc::clone(&kq.core);
        assert!(listed(&core));
        drop(kq);
        assert!(!listed(&core), "taken off the list by its drop");
    }

    /// B22 with B25: a kqueue watches another one for READ; dropping the watched kqueue closes
    /// its descriptor, and the watcher's knote and epoll registration go with it at once.
    #[test]
    fn dropping_a_kqueue_drops_the_knote_of_a_kqueue_watching_it() {
        let outer = Kqueue::new().expect("kqueue");
        let inner = Kqueue::new().expect("kqueue");
        let fd = inner.as_raw_fd();
        let add = Kevent::new(fd as usize, EVFILT_READ, EV_ADD);
        outer
            .kevent(&[add], &mut [], None)
            .expect("watch the inner kqueue");
        assert!(outer
            .lock()
            .knotes
            .contains_key(&(fd as usize, EVFILT_READ)));
        drop(inner);
        let state = outer.lock();
        assert!(state.knotes.is_empty(), "the knote went with the close");
        assert!(!state.regs.contains_key(&fd), "and so did the registration");
    }
}
