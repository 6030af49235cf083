//! Sub-clauses that a mutation run showed no other scenario checks: each closes a hole where a
//! small change to the emulation (`src/kq/emulated/`) passed the whole conformance suite
//! (`tests/MUTATIONS.md`, "cargo-mutants"). Plain narratives over real loopback sockets, using
//! only the portable API (`crate::kq`), std and the conformance helpers.
//!
//! | B | sub-clause | test |
//! |---|---|---|
//! | B1 | a READ ident beyond INT_MAX names no descriptor (EBADF), even when its low 32 bits do | `b01_an_ident_beyond_int_max_names_no_descriptor` |
//! | B1 | the emulation's own eventfd and timerfds are no descriptors of the program (EBADF) | `b01_the_emulations_own_descriptors_are_not_the_programs` |
//! | B4, B15 | a fired ONESHOT knote is delivered with the udata of the change made after it fired | `b15_a_fired_oneshot_carries_the_udata_of_the_last_change` |
//! | B19 | a never-connected TCP socket reports nothing, and (emulation) does not wake the wait | `b19_an_unconnected_socket_does_not_wake_the_wait` |
//! | B23 | re-adding a timer drops its own pending expirations, not the other knotes' events | `b23_re_adding_a_timer_leaves_the_other_pending_events_alone` |
//! | B26 | EV_ENABLE / EV_DISABLE given at creation are actions, not stored flags | `b26_enable_and_disable_at_creation_are_not_delivered` |

use std::os::fd::AsRawFd;

use crate::kq::*;

use super::{apply, errno_of, ident, kevent, new_kq, poll, read_change, wait_for};
use crate::selftest::support::{send_all, tcp_pair, wait_for_bytes};

/// B1. The ident of a READ or WRITE knote is a descriptor number, an `int`. A person has a
/// socket with a byte waiting, number N, and by mistake adds READ for ident 2³² + N (a
/// pointer-sized value whose low 32 bits are N). FreeBSD refuses any ident beyond INT_MAX with
/// EBADF before looking anything up, so nothing is registered and no event comes for N. (macOS
/// documents nothing for this case: not checked there.)
pub fn b01_an_ident_beyond_int_max_names_no_descriptor() {
    if cfg!(target_os = "macos") {
        return;
    }
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    send_all(&mut client, b"x");
    wait_for_bytes(&server, 1);
    let fd = ident(&server);
    // A 32-bit usize cannot hold such an ident: nothing to check there.
    let Some(wide) = fd.checked_add(1 << 31).and_then(|n| n.checked_add(1 << 31)) else {
        return;
    };
    let added = kq.kevent(
        &[Kevent::new(wide, EVFILT_READ, EV_ADD)],
        &mut [],
        Some(Timespec::ZERO),
    );
    assert_eq!(
        errno_of(added),
        libc::EBADF,
        "ident {wide:#x} is no descriptor"
    );
    let events = poll(&kq, 8);
    assert!(events.is_empty(), "nothing was registered: {events:?}");
}

/// B1, on the emulation only. A kqueue over epoll holds descriptors of its own: an eventfd to
/// wake a waiting thread, and a timerfd per EVFILT_TIMER knote. On BSD no number of the
/// program's could name them. A person who guesses those numbers (here, read from the recorded
/// system calls: the eventfd written by a NOTE_TRIGGER, the timerfd a timer created) and adds
/// READ for them gets EBADF, as for any number the program does not have open. (Nothing to
/// check on a native kqueue.)
pub fn b01_the_emulations_own_descriptors_are_not_the_programs() {
    if Backend::CURRENT != Backend::Emulated {
        return; // a native kqueue has no descriptors of its own to guess
    }
    let kq = new_kq();
    kq.set_recording(true);
    apply(
        &kq,
        &[
            Kevent::new(1, EVFILT_USER, EV_ADD | EV_CLEAR),
            Kevent::new(2, EVFILT_TIMER, EV_ADD).with_fflags_data(0, 60_000),
        ],
    );
    // EV_ADD never triggers (B24): the trigger is a change of its own.
    apply(
        &kq,
        &[Kevent::new(1, EVFILT_USER, 0).with_fflags_data(NOTE_TRIGGER, 0)],
    );
    let calls = kq.take_os_calls();
    kq.set_recording(false);
    let wakefd = calls
        .iter()
        .find(|call| call.name == "write" && call.args.starts_with("eventfd "))
        .and_then(|call| call.args.split([' ', ',']).nth(1)?.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("the trigger writes the eventfd: {calls:?}"));
    let timerfd = calls
        .iter()
        .find(|call| call.name == "timerfd_create")
        .and_then(|call| call.ret.parse::<usize>().ok())
        .unwrap_or_else(|| panic!("the timer has a timerfd: {calls:?}"));
    for (what, fd) in [("eventfd", wakefd), ("timerfd", timerfd)] {
        let added = kq.kevent(
            &[Kevent::new(fd, EVFILT_READ, EV_ADD)],
            &mut [],
            Some(Timespec::ZERO),
        );
        assert_eq!(errno_of(added), libc::EBADF, "the kqueue's own {what} {fd}");
    }
}

/// B4 and B15. Bytes are waiting on a socket; a person adds READ with EV_ONESHOT and udata 1,
/// so the knote fires at once, and before collecting they re-add it with udata 2 (a
/// modification keeps the ONESHOT mode, B3). The one event delivered carries udata 2: every
/// change replaces udata, also of a knote that has already fired.
pub fn b15_a_fired_oneshot_carries_the_udata_of_the_last_change() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    send_all(&mut client, b"xy");
    wait_for_bytes(&server, 2);
    apply(
        &kq,
        &[read_change(&server, EV_ADD | EV_ONESHOT).with_udata(1)],
    );
    apply(&kq, &[read_change(&server, EV_ADD).with_udata(2)]);
    let event = wait_for(&kq, "the ONESHOT READ", |e| e.filter == EVFILT_READ);
    assert_eq!(event.udata, 2, "the udata of the last change: {event:?}");
    assert!(poll(&kq, 8).is_empty(), "ONESHOT: delivered once");
}

/// B19 (and the emulation's E5: no wasted calls). A person watches a TCP socket that was never
/// connected for READ and WRITE, and waits 50 ms: nothing is reported, WRITE means connected.
/// On the emulation Linux calls such a socket hung up (EPOLLHUP), and would say so to every
/// level-triggered epoll_wait: the registration turns edge-triggered at the first report, so
/// the wait costs a couple of epoll_wait calls, not one per wake-up for 50 ms.
pub fn b19_an_unconnected_socket_does_not_wake_the_wait() {
    let kq = new_kq();
    let socket = crate::sys::unix::tcp_socket().expect("socket()");
    let fd = socket.as_raw_fd() as usize;
    apply(
        &kq,
        &[
            Kevent::new(fd, EVFILT_READ, EV_ADD),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD),
        ],
    );
    let before = kq.os_call_counts();
    let events = kevent(&kq, &[], 8, Some(Timespec::from_millis(50)));
    let spent = kq.os_call_counts().since(&before);
    assert_eq!(events, [], "an unconnected TCP socket reports nothing");
    if Backend::CURRENT == Backend::Emulated {
        assert!(spent.epoll_wait <= 4, "the wait spun: {spent:?}");
    }
}

/// B23. A person has a 5 ms timer (ident 9) and two EV_CLEAR user events (idents 1 and 2).
/// They wait, through a second kqueue watching the first one's descriptor (B25), until the
/// timer has expired, then trigger both user events: three events are pending. They collect
/// with room for one, then re-add the timer with a one-hour period, which throws away its
/// expirations not yet delivered. The next collect still returns every user event the first
/// one did not: restarting one knote touches no other knote's pending event.
pub fn b23_re_adding_a_timer_leaves_the_other_pending_events_alone() {
    let kq = new_kq();
    let watcher = new_kq();
    let timer = |ms: i64| Kevent::new(9, EVFILT_TIMER, EV_ADD).with_fflags_data(0, ms);
    apply(
        &kq,
        &[
            timer(5),
            Kevent::new(1, EVFILT_USER, EV_ADD | EV_CLEAR),
            Kevent::new(2, EVFILT_USER, EV_ADD | EV_CLEAR),
        ],
    );
    apply(
        &watcher,
        &[Kevent::new(kq.as_raw_fd() as usize, EVFILT_READ, EV_ADD)],
    );
    wait_for(&watcher, "the timer's expiry", |_| true);
    let trigger = |ident| Kevent::new(ident, EVFILT_USER, 0).with_fflags_data(NOTE_TRIGGER, 0);
    apply(&kq, &[trigger(1), trigger(2)]);

    let first = kevent(&kq, &[], 1, Some(Timespec::ZERO));
    assert_eq!(first.len(), 1, "three are pending: {first:?}");
    apply(&kq, &[timer(3_600_000)]);
    let rest = poll(&kq, 8);
    let users: Vec<usize> = first
        .iter()
        .chain(&rest)
        .filter(|e| e.filter == EVFILT_USER)
        .map(|e| e.ident)
        .collect();
    assert_eq!(
        users.len(),
        2,
        "both user events come back: {first:?} then {rest:?}"
    );
    assert!(users.contains(&1) && users.contains(&2), "{users:?}");
    assert!(
        rest.iter().all(|e| e.filter != EVFILT_TIMER),
        "the re-add dropped the timer's pending expiry: {rest:?}"
    );
}

/// B26. A person writes the common idiom `EV_ADD | EV_ENABLE` for a READ knote, and a second
/// socket's READ knote `EV_ADD | EV_DISABLE | EV_CLEAR`, later turned on with EV_ENABLE. Data
/// arrives on both. On FreeBSD (and the emulation) the first comes back with flags 0 and the
/// second with EV_CLEAR only: ENABLE and DISABLE are actions, stripped like EV_ADD when the
/// knote is stored, so neither comes back in an event. On macOS the mode is kept the same way,
/// and the actions may come back too (B26: XNU stores the caller's flags).
pub fn b26_enable_and_disable_at_creation_are_not_delivered() {
    let kq = new_kq();
    let (mut client_a, server_a) = tcp_pair();
    let (mut client_b, server_b) = tcp_pair();
    apply(
        &kq,
        &[
            read_change(&server_a, EV_ADD | EV_ENABLE).with_udata(1),
            read_change(&server_b, EV_ADD | EV_DISABLE | EV_CLEAR).with_udata(2),
        ],
    );
    send_all(&mut client_a, b"a");
    send_all(&mut client_b, b"b");
    let enabled = wait_for(&kq, "READ on the EV_ENABLE knote", |e| e.udata == 1);

    apply(&kq, &[read_change(&server_b, EV_ENABLE).with_udata(2)]);
    let cleared = wait_for(&kq, "READ on the re-enabled knote", |e| e.udata == 2);

    #[cfg(not(target_os = "macos"))]
    {
        assert_eq!(enabled.flags, 0, "B26: EV_ENABLE is not stored");
        assert_eq!(cleared.flags, EV_CLEAR, "B26: EV_DISABLE is not stored");
    }
    #[cfg(target_os = "macos")]
    {
        // XNU stores the caller's flags (B26): compare without the actions.
        const ACTIONS: u16 = EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE;
        assert_eq!(
            enabled.flags & !ACTIONS,
            0,
            "B26: only actions besides the mode"
        );
        assert_eq!(cleared.flags & !ACTIONS, EV_CLEAR, "B26: the mode is kept");
    }
}
