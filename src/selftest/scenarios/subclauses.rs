//! The sub-clauses of B1–B22 that the one-test-per-behaviour files leave out: each a plain
//! narrative scenario over real loopback sockets, using only the portable API (`crate::kq`), std
//! and the conformance helpers.
//!
//! | B | sub-clause | test |
//! |---|---|---|
//! | B1 | timer N and fd N are different knotes; closing fd N leaves timer N | `b01_a_timer_and_a_socket_with_the_same_number_do_not_collide` |
//! | B3, B20 | a re-add replaces the NOTE_LOWAT threshold | `b03_b20_a_re_add_changes_the_low_water_mark` |
//! | B4 | EV_ENABLE stores its udata on a DISPATCH knote | `b04_enable_stores_its_udata_on_a_dispatch_knote` |
//! | B6 | a delete drops an event already pending | `b06_deleting_drops_an_event_that_was_pending` |
//! | B10 | a positive timeout really waits | `b10_a_positive_timeout_waits_at_least_that_long` |
//! | B14 | EV_CLEAR fires again on EOF | `b14_clear_fires_again_on_eof` |
//! | B18 | WRITE on a listener never fires | `b18_write_on_a_listener_never_fires` |
//! | B22 | close() removes the knotes in every kqueue | `b22_close_removes_the_knotes_in_two_kqueues` |
//!
//! B21's local shutdown (EOF on WRITE) is tested with B21 itself, in `sockets`.

use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

use crate::kq::*;

use super::{apply, errno_of, ident, kevent, new_kq, poll, read_change, wait_for};
use crate::selftest::support::{
    accept_within, addr_of, listener, send_all, tcp_pair, wait_for_bytes, PATIENCE,
};

/// B1. A person adds a 10 ms timer whose ident is the number of a socket they also watch for
/// READ. Data arrives: READ and TIMER both come back for that number, as two knotes. The person
/// deletes READ and closes the socket: the timer keeps firing, because timer idents are plain
/// numbers in their own namespace and close() only removes descriptor knotes (B22).
pub fn b01_a_timer_and_a_socket_with_the_same_number_do_not_collide() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    let fd = ident(&server);
    apply(
        &kq,
        &[
            read_change(&server, EV_ADD),
            Kevent::new(fd, EVFILT_TIMER, EV_ADD).with_fflags_data(0, 10),
        ],
    );
    send_all(&mut client, b"hi");
    let read = wait_for(&kq, "READ on the socket", |e| e.filter == EVFILT_READ);
    assert_eq!((read.ident, read.data), (fd, 2));
    let timer = wait_for(&kq, "the timer", |e| e.filter == EVFILT_TIMER);
    assert_eq!(timer.ident, fd, "the timer has the socket's number");

    apply(&kq, &[read_change(&server, EV_DELETE)]);
    drop(server);
    // Expirations counted before the close may be queued: take them, then wait for a new one.
    let _ = poll(&kq, 8);
    let after = wait_for(&kq, "the timer after close", |e| e.filter == EVFILT_TIMER);
    assert_eq!(after.ident, fd, "closing fd {fd} did not touch timer {fd}");
}

/// B3 and B20. A person adds READ with NOTE_LOWAT 5 and 3 bytes arrive: nothing. They re-add
/// the same knote with NOTE_LOWAT 2: the modification replaces the threshold, and the 3 bytes
/// are now enough (data=3). A re-add with NOTE_LOWAT 10 raises it again: nothing more.
pub fn b03_b20_a_re_add_changes_the_low_water_mark() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    let lowat = |n: i64| read_change(&server, EV_ADD).with_fflags_data(NOTE_LOWAT, n);
    apply(&kq, &[lowat(5)]);
    send_all(&mut client, b"abc");
    wait_for_bytes(&server, 3);
    assert!(poll(&kq, 8).is_empty(), "3 bytes are below 5");

    apply(&kq, &[lowat(2)]);
    let events = poll(&kq, 8);
    assert_eq!(
        events.len(),
        1,
        "3 bytes reach the new mark of 2: {events:?}"
    );
    assert_eq!((events[0].filter, events[0].data), (EVFILT_READ, 3));

    apply(&kq, &[lowat(10)]);
    let events = poll(&kq, 8);
    assert!(
        events.is_empty(),
        "3 bytes are below the new 10: {events:?}"
    );
}

/// B4. A person arms READ with EV_DISPATCH and udata 1, takes the event, and re-arms it with
/// EV_ENABLE carrying udata 2. The condition still holds, so the next collect delivers it again,
/// carrying udata 2: EV_ENABLE stores its udata like every other change (FreeBSD, macOS).
pub fn b04_enable_stores_its_udata_on_a_dispatch_knote() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(
        &kq,
        &[read_change(&server, EV_ADD | EV_DISPATCH).with_udata(1)],
    );
    send_all(&mut client, b"x");
    let first = wait_for(&kq, "the first READ", |e| e.filter == EVFILT_READ);
    assert_eq!(first.udata, 1);

    apply(&kq, &[read_change(&server, EV_ENABLE).with_udata(2)]);
    let again = poll(&kq, 8);
    assert_eq!(
        again.len(),
        1,
        "EV_ENABLE re-delivers the condition: {again:?}"
    );
    assert_eq!(again[0].udata, 2, "the udata of the EV_ENABLE change");
}

/// B6. Two sockets have data and a person collects with room for one event: one comes back and
/// the other stays pending. The person deletes the pending one's READ knote: the next collects
/// return only the first socket, never the deleted knote, although its bytes are still unread.
pub fn b06_deleting_drops_an_event_that_was_pending() {
    let kq = new_kq();
    let (mut client_a, server_a) = tcp_pair();
    let (mut client_b, server_b) = tcp_pair();
    apply(
        &kq,
        &[
            read_change(&server_a, EV_ADD),
            read_change(&server_b, EV_ADD),
        ],
    );
    send_all(&mut client_a, b"a");
    send_all(&mut client_b, b"b");
    wait_for_bytes(&server_a, 1);
    wait_for_bytes(&server_b, 1);
    // Wait until both are ready, taking one event per call (B17): one of them is left pending.
    let mut seen = Vec::new();
    let deadline = Instant::now() + PATIENCE;
    while !(seen.contains(&ident(&server_a)) && seen.contains(&ident(&server_b))) {
        assert!(Instant::now() < deadline, "both sockets reported: {seen:?}");
        seen.extend(poll(&kq, 1).iter().map(|e| e.ident));
    }
    let first = poll(&kq, 1);
    assert_eq!(first.len(), 1, "one event taken, the other pending");
    let pending = if first[0].ident == ident(&server_a) {
        &server_b
    } else {
        &server_a
    };
    apply(&kq, &[read_change(pending, EV_DELETE)]);
    for _ in 0..3 {
        let events = poll(&kq, 8);
        assert!(
            events.iter().all(|e| e.ident != ident(pending)),
            "the deleted knote delivered: {events:?}"
        );
        assert_eq!(
            events.len(),
            1,
            "the other socket is still level: {events:?}"
        );
    }
}

/// B10. With nothing to report, a person waits with a 50 ms timeout: kevent returns 0, and not
/// before 50 ms have passed (a timeout is the longest wait, and never ends early; a slow
/// machine can only make the wait longer).
pub fn b10_a_positive_timeout_waits_at_least_that_long() {
    let kq = new_kq();
    let started = Instant::now();
    let events = kevent(&kq, &[], 4, Some(Timespec::from_millis(50)));
    let waited = started.elapsed();
    assert!(events.is_empty());
    assert!(
        waited >= Duration::from_millis(50),
        "returned after {waited:?}"
    );
}

/// B14. A person adds READ with EV_CLEAR; 2 bytes arrive and are reported once. Nothing more
/// comes while the bytes sit unread. The peer then shuts down its sending side: the FIN is a
/// new wakeup, so the knote fires again, with EV_EOF and the 2 bytes still counted.
pub fn b14_clear_fires_again_on_eof() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD | EV_CLEAR)]);
    send_all(&mut client, b"ab");
    let first = wait_for(&kq, "READ for 2 bytes", |e| e.filter == EVFILT_READ);
    assert_eq!(first.data, 2);
    assert!(!first.is_eof());
    assert!(
        poll(&kq, 8).is_empty(),
        "EV_CLEAR: quiet until something new"
    );

    client.shutdown(Shutdown::Write).expect("shutdown(SHUT_WR)");
    let eof = wait_for(&kq, "READ with EOF", |e| e.filter == EVFILT_READ);
    assert!(eof.is_eof(), "the FIN re-triggers with EV_EOF: {eof:?}");
    assert_eq!(eof.data, 2, "the unread bytes are still counted");
}

/// B18. A person watches a listening socket for READ and for WRITE, and a client connects:
/// READ reports the waiting connection; WRITE never fires on a listener, in that collect or
/// the next.
pub fn b18_write_on_a_listener_never_fires() {
    let kq = new_kq();
    let listener = listener();
    let fd = listener_ident(&listener);
    apply(
        &kq,
        &[
            Kevent::new(fd, EVFILT_READ, EV_ADD),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD),
        ],
    );
    let _client = TcpStream::connect(addr_of(&listener)).expect("connect");
    let read = wait_for(&kq, "READ on the listener", |e| e.filter == EVFILT_READ);
    assert_eq!(read.ident, fd);
    let later = kevent(&kq, &[], 8, Some(Timespec::from_millis(20)));
    assert!(
        later.iter().all(|e| e.filter != EVFILT_WRITE),
        "no WRITE on a listener: {later:?}"
    );
    assert!(accept_within(&listener, PATIENCE).is_some());
}

/// The descriptor number of a listener, as a kevent ident.
fn listener_ident(listener: &std::net::TcpListener) -> usize {
    use std::os::fd::AsRawFd;
    listener.as_raw_fd() as usize
}

/// B22. Two kqueues watch the same socket for READ, and bytes are waiting, so both would report
/// it. The person closes the socket: neither kqueue reports it any more, and deleting the knote
/// afterwards fails in each (EBADF, or ENOENT if the number was already reused for another
/// file): close() removed the knotes in every kqueue. The socket is simply dropped: on Linux,
/// the emulation's lazy path for a close it cannot see (`closing.rs` closes through the lab).
pub fn b22_close_removes_the_knotes_in_two_kqueues() {
    let (kq_one, kq_two) = (new_kq(), new_kq());
    let (mut client, server) = tcp_pair();
    let fd = ident(&server);
    apply(&kq_one, &[read_change(&server, EV_ADD)]);
    apply(&kq_two, &[read_change(&server, EV_ADD)]);
    send_all(&mut client, b"pending");
    wait_for_bytes(&server, 7);
    drop(server);
    for kq in [&kq_one, &kq_two] {
        let events = poll(kq, 8);
        assert!(
            events.is_empty(),
            "nothing for the closed socket: {events:?}"
        );
        let delete = kq.kevent(&[Kevent::new(fd, EVFILT_READ, EV_DELETE)], &mut [], None);
        let errno = errno_of(delete);
        assert!(
            errno == libc::EBADF || errno == libc::ENOENT,
            "the knote is gone: {}",
            errno_name(errno)
        );
    }
}
