//! Closing a watched descriptor through the lab ([`kq::close`], [`kq::dup2`]): B22 as FreeBSD
//! does it. `knote_fdclose` (sys/kern/kern_event.c) runs on every close of a number, from
//! `closefp` (sys/kern/kern_descrip.c), which both close() and a dup2() onto an open number
//! (`kern_dup`) go through: the knotes filed under that number go at once, in every kqueue of
//! the process, with any event they had queued, whatever becomes of the file.
//!
//! On macOS and the BSDs `kq::close` and `kq::dup2` are the plain system calls, so these
//! scenarios check the kernel; on Linux they check the emulation, which is told of the close
//! (`src/kq/emulated/fdclose.rs`). The other B22 scenarios (`sockets`, `subclauses`,
//! `freebsd_files`) close or dup2() with the raw calls on purpose: on Linux they check what the
//! emulation still does for a close it cannot see.

use std::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::mpsc;

use crate::kq::{self, Kevent, Kqueue, Timespec, EVFILT_READ, EVFILT_USER};
use crate::kq::{EV_ADD, EV_CLEAR, EV_DELETE, EV_ONESHOT, NOTE_TRIGGER};
use crate::selftest::support::{send_all, tcp_pair, wait_for_bytes, PATIENCE};
use crate::sys::unix as sys;

use super::{apply, errno_of, kevent, new_kq};

/// How long a scenario waits to see that nothing comes: a real wait, so that a stale knote
/// whose file received bytes has every chance to be reported.
const QUIET: Timespec = Timespec::from_millis(50);

/// A READ change on descriptor number `fd`.
fn read_on(fd: RawFd, flags: u16) -> Kevent {
    Kevent::new(fd as usize, EVFILT_READ, flags)
}

/// Waits `QUIET` and checks that nothing at all was reported.
fn assert_nothing_within_quiet(kq: &Kqueue, what: &str) {
    let events = kevent(kq, &[], 8, Some(QUIET));
    assert!(events.is_empty(), "{what}: {events:?}");
}

/// EV_DELETE of READ on `fd`: its errno (the knote must be gone, so it fails).
fn delete_errno(kq: &Kqueue, fd: RawFd) -> i32 {
    errno_of(kq.kevent(&[read_on(fd, EV_DELETE)], &mut [], None))
}

/// B22, FreeBSD `knote_fdclose`. A person watches a connected socket for READ (udata 1) and
/// keeps a dup() of it, so its file lives on. Another connection has 5 bytes waiting. They
/// close the watched number and put the other socket on it (the lowest free number from there:
/// the same one, unless another thread took it in between), and register nothing. The old
/// socket's peer sends 3 bytes: for 50 ms nothing is reported, neither the old file's bytes
/// nor the 5 of the socket that now has the number, and EV_DELETE on the number is ENOENT (it
/// is open, no knote watches it).
pub fn b22_a_closed_number_reused_by_another_socket_reports_nothing() {
    let kq = new_kq();
    let (mut old_peer, watched) = tcp_pair();
    let fd = watched.as_raw_fd();
    let old_file = watched.try_clone().expect("dup");
    apply(&kq, &[read_on(fd, EV_ADD).with_udata(1)]);
    let (mut other_peer, other) = tcp_pair();
    send_all(&mut other_peer, b"other");
    wait_for_bytes(&other, 5);

    kq::close(watched);
    let reused = sys::dup_at_least(other.as_raw_fd(), fd).expect("dup the other socket");
    send_all(&mut old_peer, b"old");
    wait_for_bytes(&old_file, 3);
    assert_nothing_within_quiet(&kq, "nothing of the old knote, whatever has the number");

    let errno = delete_errno(&kq, fd);
    if reused.as_raw_fd() == fd {
        assert_eq!(errno, libc::ENOENT, "open, watched by no knote");
    } else {
        // Another thread took the number first: it is closed, or someone else's.
        assert!(
            errno == libc::EBADF || errno == libc::ENOENT,
            "errno {errno}"
        );
    }
}

/// B22, FreeBSD `knote_fdclose` from `kern_dup`. A person watches a connected socket for READ
/// (udata 1) and keeps a dup() of it. They dup2() an idle socket onto the number (which closes
/// it), then dup2() the duplicate back: the number names the watched file again. The old
/// peer sends 3 bytes: for 50 ms nothing is reported, and EV_DELETE is ENOENT: the knote went
/// with the close and does not come back with the file. They add READ again (udata 2): it
/// reports the 3 bytes. Then they dup2() the duplicate straight onto the number, which already
/// names that very file: it is a close all the same, and the knote is gone again.
pub fn b22_a_dup2_back_to_the_same_file_does_not_revive_the_knote() {
    let kq = new_kq();
    let (mut old_peer, watched) = tcp_pair();
    let fd = watched.as_raw_fd();
    let duplicate = watched.try_clone().expect("dup");
    apply(&kq, &[read_on(fd, EV_ADD).with_udata(1)]);
    let (_idle_peer, idle) = tcp_pair();
    kq::dup2(idle.as_raw_fd(), fd).expect("dup2 the idle socket onto the number");
    kq::dup2(duplicate.as_raw_fd(), fd).expect("dup2 the duplicate back");
    send_all(&mut old_peer, b"old");
    wait_for_bytes(&duplicate, 3);
    assert_nothing_within_quiet(&kq, "the old knote stays gone");
    assert_eq!(
        delete_errno(&kq, fd),
        libc::ENOENT,
        "no knote on the number"
    );

    apply(&kq, &[read_on(fd, EV_ADD).with_udata(2)]);
    let events = kevent(&kq, &[], 8, Some(Timespec::from_duration(PATIENCE)));
    let fresh: Vec<(usize, i64, usize)> = events
        .iter()
        .map(|event| (event.ident, event.data, event.udata))
        .collect();
    assert_eq!(fresh, [(fd as usize, 3, 2)], "a new knote watches the file");

    kq::dup2(duplicate.as_raw_fd(), fd).expect("dup2 onto its own file");
    assert_nothing_within_quiet(&kq, "a dup2 onto the same file is a close too");
    assert_eq!(
        delete_errno(&kq, fd),
        libc::ENOENT,
        "no knote on the number"
    );
    // `watched` owns the number, which names the duplicate's file: closed on drop.
    drop(watched);
}

/// B22, FreeBSD `knote_fdclose` walks the process's list of kqueues (`fd_kqlist`). Two kqueues
/// watch the same socket for READ, 7 bytes are waiting, and a dup() keeps the file alive. The
/// person closes the number: for 50 ms neither kqueue reports anything, and deleting the knote
/// fails in each (EBADF, or ENOENT if another thread already reuses the number).
pub fn b22_closing_removes_the_knotes_in_every_kqueue() {
    let (kq_one, kq_two) = (new_kq(), new_kq());
    let (mut client, server) = tcp_pair();
    let fd = server.as_raw_fd();
    let _file_lives_on = server.try_clone().expect("dup");
    apply(&kq_one, &[read_on(fd, EV_ADD)]);
    apply(&kq_two, &[read_on(fd, EV_ADD)]);
    send_all(&mut client, b"pending");
    wait_for_bytes(&server, 7);

    kq::close(server);
    for kq in [&kq_one, &kq_two] {
        assert_nothing_within_quiet(kq, "nothing for the closed number");
        let errno = delete_errno(kq, fd);
        assert!(
            errno == libc::EBADF || errno == libc::ENOENT,
            "the knote is gone: {}",
            kq::errno_name(errno)
        );
    }
}

/// B22, FreeBSD `knote_fdclose` drops a knote with its queued event (`knote_drop` dequeues
/// it). Two sockets, each watched with READ|ONESHOT, both have bytes, so both knotes have
/// fired. A collect with room for one event returns one; the other event stays queued. The
/// person closes that other socket (a dup() keeps its file and its bytes): for 50 ms nothing
/// is delivered. Its event went with the close.
pub fn b22_an_event_queued_at_the_close_is_not_delivered() {
    let kq = new_kq();
    let mut pairs: Vec<(TcpStream, TcpStream)> = (0..2).map(|_| tcp_pair()).collect();
    for (client, server) in &mut pairs {
        apply(&kq, &[read_on(server.as_raw_fd(), EV_ADD | EV_ONESHOT)]);
        send_all(client, b"queued");
        wait_for_bytes(server, 6);
    }
    let first = kevent(&kq, &[], 1, Some(Timespec::from_duration(PATIENCE)));
    assert_eq!(first.len(), 1, "room for one: {first:?}");
    let position = pairs
        .iter()
        .position(|(_, server)| server.as_raw_fd() as usize != first[0].ident)
        .expect("the other socket");
    let (_client, queued) = pairs.remove(position);
    let _file_lives_on = queued.try_clone().expect("dup");

    kq::close(queued);
    assert_nothing_within_quiet(&kq, "the queued event went with the close");
}

/// B22 with a second thread (§7 Threads): the close reaches a kqueue while another thread is
/// blocked in kevent on it. A thread waits on a kqueue that watches a socket (a dup() keeps
/// its file) and a user event. The person closes the socket, sends bytes to the old file, and
/// triggers the user event: the thread wakes with the user event only, nothing of the closed
/// number. Nobody is left waiting for a lock (the test fails after 10 s instead of hanging).
pub fn b22_closing_while_another_thread_waits_in_kevent() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    let fd = server.as_raw_fd();
    let _file_lives_on = server.try_clone().expect("dup");
    apply(
        &kq,
        &[
            read_on(fd, EV_ADD),
            Kevent::new(7, EVFILT_USER, EV_ADD | EV_CLEAR),
        ],
    );
    let (tx, rx) = mpsc::channel();
    std::thread::scope(|scope| {
        let kq = &kq;
        scope.spawn(move || {
            let events = kevent(kq, &[], 8, Some(Timespec::from_duration(PATIENCE)));
            let _ = tx.send(events);
        });
        kq::close(server);
        send_all(&mut client, b"late");
        apply(
            kq,
            &[Kevent::new(7, EVFILT_USER, 0).with_fflags_data(NOTE_TRIGGER, 0)],
        );
        let events = rx
            .recv_timeout(PATIENCE)
            .expect("the waiting thread returns");
        let idents: Vec<(usize, i16)> = events.iter().map(|e| (e.ident, e.filter)).collect();
        assert_eq!(idents, [(7, EVFILT_USER)], "the user event, nothing else");
    });
}
