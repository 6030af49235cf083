//! How kevent reports: error entries, receipts, the order of changes and collect, timeouts and
//! signals (B7–B11).

use std::sync::mpsc;
use std::thread;

use crate::kq::*;

use super::{apply, errno_of, kevent, new_kq, poll, read_change};
use crate::selftest::support::{send_all, tcp_pair, wait_for_bytes, wait_until, PATIENCE};

/// B7. A person sends a changelist with two bad deletes around one good add:
/// - with room, each failure becomes an entry (EV_ERROR, errno in data, ident and udata of the
///   change) and processing continues, so the good add is applied;
/// - once an entry was written the call returns without collecting, even with data pending and
///   a NULL timeout;
/// - with room for only one entry, the second failure makes the call fail with its errno;
/// - with no room at all, the first failure does.
pub fn b07_errors_become_entries_while_there_is_room_then_fail() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    let (_other_client, other) = tcp_pair();
    send_all(&mut client, b"pending");
    wait_for_bytes(&server, 7);

    let changes = [
        read_change(&other, EV_DELETE).with_udata(11),
        read_change(&server, EV_ADD | EV_ONESHOT),
        Kevent::new(424_242, EVFILT_USER, EV_DELETE).with_udata(33),
    ];
    let entries = kevent(&kq, &changes, 8, None);
    assert_eq!(
        entries.len(),
        2,
        "two errors, and no READ event: {entries:?}"
    );
    for (entry, change) in entries.iter().zip([changes[0], changes[2]]) {
        assert!(entry.is_failure());
        assert_eq!(entry.data, i64::from(libc::ENOENT));
        assert_eq!(
            (entry.ident, entry.filter, entry.udata),
            (change.ident, change.filter, change.udata)
        );
        // B7: FreeBSD overwrites flags with exactly EV_ERROR; macOS ORs it into the change's.
        #[cfg(not(target_os = "macos"))]
        assert_eq!(entry.flags, EV_ERROR);
        #[cfg(target_os = "macos")]
        assert_eq!(entry.flags, change.flags | EV_ERROR);
    }
    // The good add in the middle was applied.
    assert_eq!(poll(&kq, 8).len(), 1, "the READ knote exists and fires");

    let two_bad = [
        read_change(&other, EV_DELETE),
        Kevent::new(424_242, EVFILT_USER, EV_DISABLE),
    ];
    let mut one = [Kevent::default(); 1];
    assert_eq!(errno_of(kq.kevent(&two_bad, &mut one, None)), libc::ENOENT);
    assert_eq!(errno_of(kq.kevent(&two_bad, &mut [], None)), libc::ENOENT);

    // FreeBSD skips changelist entries whose filter is 0.
    #[cfg(not(target_os = "macos"))]
    assert!(kevent(&kq, &[Kevent::new(1, 0, EV_ADD)], 4, Some(Timespec::ZERO)).is_empty());
}

/// B8. Data is waiting when a person adds READ and WRITE with EV_RECEIPT, passing room for two
/// entries: two receipts come back (EV_ERROR with data 0: success), and no READ event, because
/// the call returned after writing entries. The next collect delivers READ, whose flags still
/// carry EV_RECEIPT. When the eventlist runs out of room for receipts, FreeBSD stops there and
/// returns 0; macOS skips the receipt and carries on.
pub fn b08_receipt_reports_each_change_and_suppresses_events() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    send_all(&mut client, b"r");
    wait_for_bytes(&server, 1);
    let fd = server_ident(&server);
    let receipts = kevent(
        &kq,
        &[
            read_change(&server, EV_ADD | EV_RECEIPT),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD | EV_RECEIPT | EV_DISABLE),
        ],
        2,
        None,
    );
    assert_eq!(receipts.len(), 2, "receipts only: {receipts:?}");
    for receipt in &receipts {
        assert!(receipt.is_error() && !receipt.is_failure(), "{receipt:?}");
        assert_eq!(receipt.data, 0);
    }
    let events = poll(&kq, 8);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].filter, EVFILT_READ);
    assert!(events[0].flags & EV_RECEIPT != 0, "EV_RECEIPT stays stored");

    let mut room_for_one = [Kevent::default(); 1];
    let n = kq
        .kevent(
            &[
                Kevent::new(1, EVFILT_USER, EV_ADD | EV_RECEIPT),
                Kevent::new(2, EVFILT_USER, EV_ADD | EV_RECEIPT),
                Kevent::new(3, EVFILT_USER, EV_ADD | EV_RECEIPT),
            ],
            &mut room_for_one,
            None,
        )
        .expect("receipts");
    #[cfg(not(target_os = "macos"))]
    {
        assert_eq!(n, 0, "B8: FreeBSD stops when receipts no longer fit");
        // User event 2 was applied before the stop, 3 was never reached.
        apply(&kq, &[Kevent::new(2, EVFILT_USER, EV_DELETE)]);
        let failed = kq.kevent(&[Kevent::new(3, EVFILT_USER, EV_DELETE)], &mut [], None);
        assert_eq!(errno_of(failed), libc::ENOENT);
    }
    #[cfg(target_os = "macos")]
    assert_eq!(n, 1, "B8: macOS skips the receipts that do not fit");
}

fn server_ident(stream: &std::net::TcpStream) -> usize {
    super::ident(stream)
}

/// B9. Data is waiting; a person adds READ and collects in the same call: the event caused by
/// the call's own change comes back. With no room for events the call returns at once, even
/// with a NULL timeout. Stale EV_ERROR/EV_EOF bits left in a reused entry are ignored.
pub fn b09_changes_apply_before_the_collect_and_no_room_returns_at_once() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    send_all(&mut client, b"now");
    wait_for_bytes(&server, 3);
    let events = kevent(&kq, &[read_change(&server, EV_ADD)], 4, None);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, 3);

    // A kevent that blocked would never answer: run it on a thread and wait for the answer.
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let kq = new_kq();
        let stale = Kevent::new(9, EVFILT_USER, EV_ADD | EV_ERROR | EV_EOF);
        let result = kq.kevent(&[stale], &mut [], None);
        let exists = kq.kevent(&[Kevent::new(9, EVFILT_USER, EV_DELETE)], &mut [], None);
        tx.send((result.ok(), exists.is_ok())).unwrap();
    });
    let (result, existed) = rx
        .recv_timeout(PATIENCE)
        .expect("kevent with no eventlist returned at once");
    waiter.join().unwrap();
    assert_eq!(result, Some(0));
    assert!(
        existed,
        "the stale EV_ERROR bit was ignored and the add applied"
    );

    // The same entry array reused as a changelist: its EV_EOF/EV_ERROR bits from the last
    // collect are masked off (EV_SYSFLAGS), so they neither fail the change nor stick to the
    // knote's flags.
    // (The trigger is a second change: an EV_ADD carrying NOTE_TRIGGER does not fire, B24.)
    let reused = Kevent::new(10, EVFILT_USER, EV_ADD | EV_CLEAR | EV_ERROR | EV_EOF);
    let trigger = Kevent::new(10, EVFILT_USER, EV_ERROR | EV_EOF).with_fflags_data(NOTE_TRIGGER, 0);
    let delivered = kevent(&kq, &[reused, trigger], 4, None);
    let user = delivered.iter().find(|event| event.filter == EVFILT_USER);
    assert!(
        user.is_some_and(|event| event.flags & (EV_ERROR | EV_EOF) == 0),
        "{delivered:?}"
    );
}

/// B10. A zero timeout polls (0 when nothing is ready); a positive timeout returns 0 when it
/// expires, and not before; a negative field or nsec ≥ 10⁹ is EINVAL. FreeBSD checks after
/// applying the changes (so a change in that call still happens); macOS checks before.
pub fn b10_timeouts_poll_wait_and_invalid_values_are_einval() {
    let kq = new_kq();
    assert!(kevent(&kq, &[], 4, Some(Timespec::ZERO)).is_empty());
    let started = std::time::Instant::now();
    assert!(kevent(&kq, &[], 4, Some(Timespec::from_millis(20))).is_empty());
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(20),
        "a 20 ms timeout returned after {waited:?}: it must wait, never end early"
    );

    let mut room = [Kevent::default(); 4];
    for bad in [
        Timespec {
            sec: 0,
            nsec: 1_000_000_000,
        },
        Timespec { sec: -1, nsec: 0 },
        Timespec { sec: 0, nsec: -1 },
    ] {
        let failed = kq.kevent(&[], &mut room, Some(bad));
        assert_eq!(errno_of(failed), libc::EINVAL, "{bad:?}");
    }

    let add = Kevent::new(5, EVFILT_USER, EV_ADD);
    let bad = Timespec { sec: -1, nsec: 0 };
    assert_eq!(
        errno_of(kq.kevent(&[add], &mut room, Some(bad))),
        libc::EINVAL
    );
    let delete = kq.kevent(&[Kevent::new(5, EVFILT_USER, EV_DELETE)], &mut [], None);
    #[cfg(not(target_os = "macos"))]
    assert!(delete.is_ok(), "B10: FreeBSD applied the change first");
    #[cfg(target_os = "macos")]
    assert_eq!(errno_of(delete), libc::ENOENT, "B10: macOS rejected first");
}

extern "C" fn ignore_signal(_: libc::c_int) {}

/// B11. A thread waits in kevent (long timeout) after adding a USER event in the same call; a
/// signal with a handler installed with SA_RESTART arrives: kevent fails with EINTR at once,
/// it is not restarted, and the change was applied (a later delete succeeds).
pub fn b11_a_signal_ends_the_wait_with_eintr_after_the_changes() {
    // A handler that does nothing, for SIGUSR2, which no other test uses.
    crate::sys::unix::on_signal_restarting(libc::SIGUSR2, ignore_signal).expect("sigaction");
    let kq = std::sync::Arc::new(new_kq());
    let waiter_kq = kq.clone();
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let mut room = [Kevent::default(); 1];
        let result = waiter_kq.kevent(
            &[Kevent::new(77, EVFILT_USER, EV_ADD)],
            &mut room,
            Some(Timespec::from_duration(PATIENCE)),
        );
        tx.send(result.map_err(|err| err.kind())).unwrap();
    });
    // Keep signalling the waiting thread until it answers: a signal that lands before the
    // thread is inside kevent is simply handled and the next one interrupts the wait.
    let thread_id = {
        use std::os::unix::thread::JoinHandleExt;
        waiter.as_pthread_t()
    };
    let mut answer = None;
    let answered = wait_until(PATIENCE, || {
        if let Ok(result) = rx.try_recv() {
            answer = Some(result);
            return true;
        }
        // The thread is not joined yet, so its id is valid.
        crate::sys::unix::signal_thread(thread_id, libc::SIGUSR2).expect("pthread_kill");
        false
    });
    waiter.join().unwrap();
    assert!(answered, "the waiter never returned");
    assert_eq!(answer, Some(Err(std::io::ErrorKind::Interrupted)));
    apply(&kq, &[Kevent::new(77, EVFILT_USER, EV_DELETE)]);
}
