//! Knotes: identity, modification, udata, enable/disable, delete, oneshot, dispatch, and the
//! flags a delivered event carries (B1–B6, B15, B16, B26).

use crate::kq::*;

use super::{apply, ident, kevent, new_kq, poll, read_change, wait_for};
use crate::selftest::support::{read_available, send_all, tcp_pair, wait_for_bytes};

/// B1. A person watches one socket for READ and WRITE, deletes the READ knote and sends data:
/// only WRITE comes back. A USER event with the same number as the socket lives in its own
/// namespace, and a second kqueue watching the same socket keeps its own READ knote.
pub fn b01_read_and_write_knotes_are_independent_and_namespaces_do_not_collide() {
    let kq = new_kq();
    let other_kq = new_kq();
    let (mut client, server) = tcp_pair();
    let fd = ident(&server);
    apply(
        &kq,
        &[
            read_change(&server, EV_ADD),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD),
            // Same ident as the socket, different filter: a different knote.
            Kevent::new(fd, EVFILT_USER, EV_ADD | EV_CLEAR),
        ],
    );
    apply(&other_kq, &[read_change(&server, EV_ADD)]);
    apply(&kq, &[read_change(&server, EV_DELETE)]);

    send_all(&mut client, b"hello");
    wait_for_bytes(&server, 5);
    apply(
        &kq,
        &[Kevent::new(fd, EVFILT_USER, 0).with_fflags_data(NOTE_TRIGGER, 0)],
    );

    let events = poll(&kq, 8);
    let filters: Vec<i16> = events.iter().map(|event| event.filter).collect();
    assert!(events.iter().all(|event| event.ident == fd));
    assert!(
        filters.contains(&EVFILT_WRITE),
        "WRITE still fires: {events:?}"
    );
    assert!(filters.contains(&EVFILT_USER), "USER {fd} is its own knote");
    assert!(
        !filters.contains(&EVFILT_READ),
        "READ was deleted: {events:?}"
    );

    let other = poll(&other_kq, 8);
    assert_eq!(other.len(), 1, "the other kqueue still has its READ knote");
    assert_eq!((other[0].filter, other[0].data), (EVFILT_READ, 5));
}

/// B2. A person adds the same READ knote twice (the second time with udata 2) and sends data:
/// one event comes back, not two, carrying the newer udata.
pub fn b02_adding_the_same_knote_twice_modifies_it() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD).with_udata(1)]);
    apply(&kq, &[read_change(&server, EV_ADD).with_udata(2)]);
    send_all(&mut client, b"x");
    wait_for_bytes(&server, 1);

    let events = poll(&kq, 8);
    assert_eq!(events.len(), 1, "one knote, one event: {events:?}");
    assert_eq!(events[0].udata, 2);
}

/// B3. A person arms READ with EV_DISPATCH, takes the event (the knote is now disabled), then
/// "re-arms" with a plain EV_ADD: nothing comes back, because a modification neither
/// re-enables nor changes the mode. EV_ENABLE re-arms it, and the knote is still DISPATCH:
/// after the next event it is quiet again.
pub fn b03_modification_keeps_the_mode_and_does_not_re_enable() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD | EV_DISPATCH)]);
    send_all(&mut client, b"abc");
    let first = wait_for(&kq, "the first READ", |event| event.filter == EVFILT_READ);
    assert_eq!(first.data, 3);

    apply(&kq, &[read_change(&server, EV_ADD)]);
    assert!(poll(&kq, 8).is_empty(), "EV_ADD alone does not re-enable");

    apply(&kq, &[read_change(&server, EV_ENABLE)]);
    let again = poll(&kq, 8);
    assert_eq!(again.len(), 1, "EV_ENABLE re-arms: {again:?}");
    assert!(again[0].flags & EV_DISPATCH != 0, "still a DISPATCH knote");
    assert!(poll(&kq, 8).is_empty(), "disabled again after delivery");
}

/// B4. A person adds READ with udata A, disables it with udata B, enables it with udata C and
/// sends a byte: the event carries C. Every change that finds the knote stores its udata.
pub fn b04_every_change_replaces_udata() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD).with_udata(0xA)]);
    apply(&kq, &[read_change(&server, EV_DISABLE).with_udata(0xB)]);
    apply(&kq, &[read_change(&server, EV_ENABLE).with_udata(0xC)]);
    send_all(&mut client, b"!");
    let event = wait_for(&kq, "READ", |event| event.filter == EVFILT_READ);
    assert_eq!(event.udata, 0xC);
}

/// B5. Data is already waiting when a person adds READ with EV_ADD|EV_DISABLE: nothing comes
/// back. EV_ENABLE delivers the condition that already holds (data=1). Asking for
/// EV_ENABLE|EV_DISABLE at once is EINVAL on FreeBSD (and the emulation); macOS lets disable win.
pub fn b05_disabled_knote_is_kept_and_enable_delivers_the_pending_condition() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    send_all(&mut client, b"1");
    wait_for_bytes(&server, 1);
    apply(&kq, &[read_change(&server, EV_ADD | EV_DISABLE)]);
    assert!(poll(&kq, 8).is_empty(), "a disabled knote reports nothing");

    apply(&kq, &[read_change(&server, EV_ENABLE)]);
    let events = poll(&kq, 8);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, 1);

    let both = kevent(
        &kq,
        &[read_change(&server, EV_ENABLE | EV_DISABLE)],
        1,
        None,
    );
    #[cfg(not(target_os = "macos"))]
    {
        assert_eq!(both.len(), 1);
        assert!(both[0].is_error());
        assert_eq!(
            both[0].data,
            i64::from(libc::EINVAL),
            "B5: FreeBSD says EINVAL"
        );
    }
    #[cfg(target_os = "macos")]
    {
        let _ = both;
        assert!(poll(&kq, 8).is_empty(), "B5: on macOS disable wins");
    }
}

/// B6. A person deletes a READ knote that was never added: with room for one entry the error
/// comes back as an EV_ERROR entry carrying ENOENT; with no room the call itself fails with
/// ENOENT. Deleting a real knote works once, and then it is gone (ENOENT again).
pub fn b06_deleting_removes_the_knote_and_a_missing_knote_is_enoent() {
    let kq = new_kq();
    let (_client, server) = tcp_pair();
    let delete = read_change(&server, EV_DELETE);

    let entries = kevent(&kq, &[delete], 1, None);
    assert_eq!(entries.len(), 1);
    assert!(entries[0].is_failure());
    assert_eq!(entries[0].data, i64::from(libc::ENOENT));

    let failed = kq.kevent(&[delete], &mut [], None);
    assert_eq!(super::errno_of(failed), libc::ENOENT);

    apply(&kq, &[read_change(&server, EV_ADD)]);
    apply(&kq, &[delete]);
    let failed = kq.kevent(&[delete], &mut [], None);
    assert_eq!(super::errno_of(failed), libc::ENOENT, "deleted means gone");
}

/// B15. A person adds READ with EV_ONESHOT and sends data: one event (flags still show
/// ONESHOT), then nothing, even though the bytes are still unread; the knote is gone (delete
/// is ENOENT) until a new EV_ADD re-arms it.
pub fn b15_oneshot_fires_once_and_is_deleted() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD | EV_ONESHOT)]);
    send_all(&mut client, b"once");
    let event = wait_for(&kq, "READ", |event| event.filter == EVFILT_READ);
    assert!(event.flags & EV_ONESHOT != 0);
    assert!(poll(&kq, 8).is_empty(), "delivered once, then deleted");

    let failed = kq.kevent(&[read_change(&server, EV_DELETE)], &mut [], None);
    assert_eq!(super::errno_of(failed), libc::ENOENT);

    apply(&kq, &[read_change(&server, EV_ADD | EV_ONESHOT)]);
    assert_eq!(poll(&kq, 8).len(), 1, "re-armed by a new EV_ADD");
}

/// B16. A person adds READ with EV_DISPATCH and sends data: one event, then nothing while the
/// bytes sit unread; the knote still exists (disabled). EV_ENABLE delivers again because the
/// condition still holds. EV_DISPATCH|EV_ONESHOT is accepted by FreeBSD and acts as ONESHOT.
pub fn b16_dispatch_fires_once_then_waits_for_enable() {
    let kq = new_kq();
    let (mut client, mut server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD | EV_DISPATCH)]);
    send_all(&mut client, b"twice");
    let event = wait_for(&kq, "READ", |event| event.filter == EVFILT_READ);
    assert!(event.flags & EV_DISPATCH != 0);
    assert!(poll(&kq, 8).is_empty(), "disabled after delivery");

    apply(&kq, &[read_change(&server, EV_ENABLE)]);
    let again = poll(&kq, 8);
    assert_eq!(again.len(), 1, "condition still holds at enable");
    assert_eq!(again[0].data, 5);
    read_available(&mut server);
    apply(&kq, &[read_change(&server, EV_DELETE)]); // still exists: no ENOENT

    #[cfg(not(target_os = "macos"))]
    {
        apply(
            &kq,
            &[read_change(&server, EV_ADD | EV_DISPATCH | EV_ONESHOT)],
        );
        send_all(&mut client, b"z");
        wait_for(&kq, "READ", |event| event.filter == EVFILT_READ);
        let failed = kq.kevent(&[read_change(&server, EV_DELETE)], &mut [], None);
        assert_eq!(
            super::errno_of(failed),
            libc::ENOENT,
            "B16: DISPATCH|ONESHOT behaves as ONESHOT on FreeBSD"
        );
    }
}

/// B26. A person adds READ knotes with different modes and looks at the flags of the events:
/// FreeBSD (and the emulation) strip the actions (EV_ADD...) and keep the mode (ONESHOT,
/// DISPATCH, CLEAR) plus EV_EOF when it applies; macOS keeps EV_ADD as well.
pub fn b26_delivered_flags_keep_the_mode_not_the_actions() {
    for mode in [0, EV_CLEAR, EV_ONESHOT, EV_DISPATCH] {
        let kq = new_kq();
        let (mut client, server) = tcp_pair();
        apply(&kq, &[read_change(&server, EV_ADD | mode)]);
        send_all(&mut client, b"f");
        let event = wait_for(&kq, "READ", |event| event.filter == EVFILT_READ);
        #[cfg(not(target_os = "macos"))]
        assert_eq!(event.flags, mode, "B26: FreeBSD strips EV_ADD");
        #[cfg(target_os = "macos")]
        assert_eq!(event.flags & !EV_ADD, mode, "B26: macOS keeps EV_ADD");

        if mode == 0 {
            // EOF is added to the stored flags when the peer closes.
            drop(client);
            let eof = wait_for(&kq, "READ with EOF", |event| event.is_eof());
            assert_eq!(eof.flags & !(EV_ADD | EV_EOF), 0);
        }
    }
}
