//! The extra filters and the kqueue descriptor itself: EVFILT_TIMER (B23), EVFILT_USER (B24),
//! polling a kqueue and a kqueue watching itself (B25).

use std::os::fd::AsRawFd;
use std::sync::{mpsc, Arc};
use std::thread;

use crate::kq::*;

use super::{apply, kevent, new_kq, poll, wait_for};
use crate::selftest::support::{wait_until, PATIENCE};

/// B23. A person adds timer 7 firing every microsecond: events come back with EV_CLEAR forced
/// into the flags, fflags 0, and data = expirations since the last delivery, which soon
/// exceeds 1 (the timer is periodic). Re-adding it with a one-hour period restarts it and
/// throws away the expirations not yet delivered; the new udata replaces the old. A one-shot
/// timer fires once and is then gone.
pub fn b23_timer_repeats_counts_expirations_and_restarts_on_re_add() {
    let kq = new_kq();
    let timer = Kevent::new(7, EVFILT_TIMER, EV_ADD).with_fflags_data(NOTE_USECONDS, 1);
    apply(&kq, &[timer.with_udata(1)]);
    let first = wait_for(&kq, "timer 7", |event| event.filter == EVFILT_TIMER);
    assert_eq!((first.ident, first.fflags, first.udata), (7, 0, 1));
    assert!(first.flags & EV_CLEAR != 0, "B23: EV_CLEAR is forced on");
    assert!(first.data >= 1);
    // Periodic: it keeps firing, and a collect that comes late sees several expirations.
    wait_for(&kq, "several expirations in one event", |event| {
        event.filter == EVFILT_TIMER && event.data > 1
    });

    let hour = Kevent::new(7, EVFILT_TIMER, EV_ADD).with_fflags_data(NOTE_SECONDS, 3600);
    apply(&kq, &[hour.with_udata(2)]);
    assert!(
        poll(&kq, 4).is_empty(),
        "restarted: the old expirations are discarded"
    );

    let once = Kevent::new(8, EVFILT_TIMER, EV_ADD | EV_ONESHOT).with_fflags_data(NOTE_USECONDS, 1);
    apply(&kq, &[once]);
    let fired = wait_for(&kq, "timer 8", |event| event.ident == 8);
    assert!(fired.flags & EV_ONESHOT != 0);
    let failed = kq.kevent(&[Kevent::new(8, EVFILT_TIMER, EV_DELETE)], &mut [], None);
    assert_eq!(
        super::errno_of(failed),
        libc::ENOENT,
        "a one-shot timer is deleted"
    );
    apply(&kq, &[Kevent::new(7, EVFILT_TIMER, EV_DELETE)]);
}

/// B24. A person adds user event 1 (EV_CLEAR) and triggers it with NOTE_FFCOPY|0x11 and
/// data 99: the event carries fflags 0x11 (control bits and NOTE_TRIGGER cleared) and data 99,
/// once. NOTE_FFOR and NOTE_FFAND combine with the stored bits. User event 2 (no EV_CLEAR)
/// stays triggered and comes back on every collect. User event 3, disabled, gives nothing when
/// triggered.
pub fn b24_user_event_combines_fflags_and_keeps_the_last_data() {
    let kq = new_kq();
    apply(
        &kq,
        &[
            Kevent::new(1, EVFILT_USER, EV_ADD | EV_CLEAR),
            Kevent::new(2, EVFILT_USER, EV_ADD),
            Kevent::new(3, EVFILT_USER, EV_ADD | EV_DISABLE),
        ],
    );
    assert!(poll(&kq, 4).is_empty(), "EV_ADD does not trigger");

    let trigger = |ident: usize, fflags: u32, data: i64| {
        Kevent::new(ident, EVFILT_USER, 0).with_fflags_data(NOTE_TRIGGER | fflags, data)
    };
    apply(&kq, &[trigger(1, NOTE_FFCOPY | 0x11, 99)]);
    let events = poll(&kq, 4);
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].ident, events[0].fflags, events[0].data),
        (1, 0x11, 99)
    );
    assert!(events[0].flags & EV_CLEAR != 0);
    assert!(poll(&kq, 4).is_empty(), "EV_CLEAR resets the trigger");

    apply(&kq, &[trigger(1, NOTE_FFOR | 0x100, 5)]);
    assert_eq!(poll(&kq, 4)[0].fflags, 0x111);
    apply(&kq, &[trigger(1, NOTE_FFAND | 0x101, 6)]);
    let anded = poll(&kq, 4);
    assert_eq!((anded[0].fflags, anded[0].data), (0x101, 6));

    apply(&kq, &[trigger(2, NOTE_FFNOP, 0)]);
    assert_eq!(poll(&kq, 4).len(), 1);
    assert_eq!(poll(&kq, 4).len(), 1, "without EV_CLEAR it stays triggered");
    apply(&kq, &[Kevent::new(2, EVFILT_USER, EV_DELETE)]);

    apply(&kq, &[trigger(3, NOTE_FFNOP, 0)]);
    assert!(
        poll(&kq, 4).is_empty(),
        "a disabled user event reports nothing"
    );
}

/// B24 and §7 Threads. One thread blocks in kevent (NULL timeout) on a kqueue holding a user
/// event; another thread triggers it through the same kqueue: the blocked call wakes up and
/// returns that event. This is how the lab's key reader wakes its event loop.
pub fn b24_trigger_from_another_thread_wakes_a_blocked_kevent() {
    let kq = Arc::new(new_kq());
    apply(&kq, &[Kevent::new(42, EVFILT_USER, EV_ADD | EV_CLEAR)]);
    let (tx, rx) = mpsc::channel();
    let waiter_kq = kq.clone();
    let waiter = thread::spawn(move || {
        tx.send(current_thread_id()).unwrap();
        let mut events = [Kevent::default(); 4];
        let n = waiter_kq.kevent(&[], &mut events, None).expect("kevent");
        tx.send(n as i64).unwrap();
        events[..n].to_vec()
    });
    let waiter_id = rx.recv_timeout(PATIENCE).expect("waiter started");
    // Give the waiter the chance to really block first (Linux shows it as sleeping).
    wait_until(PATIENCE, || thread_is_sleeping(waiter_id));

    apply(
        &kq,
        &[Kevent::new(42, EVFILT_USER, 0)
            .with_fflags_data(NOTE_TRIGGER, 0)
            .with_udata(0xfeed)],
    );
    let n = rx
        .recv_timeout(PATIENCE)
        .expect("the blocked kevent woke up");
    let events = waiter.join().unwrap();
    assert_eq!(n, 1);
    assert_eq!((events[0].ident, events[0].udata), (42, 0xfeed));
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn current_thread_id() -> i64 {
    i64::from(crate::sys::linux::gettid())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn thread_is_sleeping(tid: i64) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).unwrap_or_default();
    // The state is the first field after the parenthesised command name.
    stat.rsplit(')')
        .next()
        .is_some_and(|rest| rest.trim_start().starts_with('S'))
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn current_thread_id() -> i64 {
    0
}

/// Elsewhere there is no cheap way to look: the test then also passes if the trigger lands
/// before the waiter blocks, which still proves the event is delivered.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn thread_is_sleeping(_: i64) -> bool {
    true
}

/// B25. A person polls the kqueue descriptor itself: not readable while nothing is pending,
/// readable once a user event is triggered; a second kqueue watching the first sees READ.
/// Asking a kqueue to watch its own descriptor is EINVAL.
pub fn b25_kqueue_fd_is_pollable_and_cannot_watch_itself() {
    let kq = new_kq();
    let watcher = new_kq();
    let kq_fd = kq.as_raw_fd();
    apply(&kq, &[Kevent::new(1, EVFILT_USER, EV_ADD | EV_CLEAR)]);
    apply(
        &watcher,
        &[Kevent::new(kq_fd as usize, EVFILT_READ, EV_ADD)],
    );
    assert!(!readable(kq_fd), "nothing pending");
    assert!(poll(&watcher, 4).is_empty());

    apply(
        &kq,
        &[Kevent::new(1, EVFILT_USER, 0).with_fflags_data(NOTE_TRIGGER, 0)],
    );
    assert!(
        readable(kq_fd),
        "pending event: the kqueue fd polls readable"
    );
    let seen = poll(&watcher, 4);
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].ident, seen[0].filter),
        (kq_fd as usize, EVFILT_READ)
    );

    assert_eq!(poll(&kq, 4).len(), 1);
    let own = kevent(
        &kq,
        &[Kevent::new(kq_fd as usize, EVFILT_READ, EV_ADD)],
        1,
        None,
    );
    assert_eq!(own.len(), 1);
    assert_eq!(
        own[0].data,
        i64::from(libc::EINVAL),
        "a kqueue cannot watch itself"
    );
}

/// poll(2) with a zero timeout: is `fd` readable now?
fn readable(fd: i32) -> bool {
    crate::sys::unix::readable_now(fd).expect("poll")
}
