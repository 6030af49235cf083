//! The `KQueue` wrapper on its own: the staged `change_list`, its early flush, `--no-batch`,
//! and what happens to changes staged for a client that closes (errata 9).

use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use lab::server::kqueue::{KQueue, KQueueConfig};
use lab::server::poller::{Poller, Ready};
use lab::server::recorder::{Counters, Recorder};
use lab::server::token::{Slab, Token};

fn queue(change_list: usize, no_batch: bool, as_published: bool) -> (KQueue, Recorder) {
    let counters = Arc::new(Counters::default());
    let mut rec = Recorder::new(None, false, Arc::clone(&counters));
    let config = KQueueConfig {
        change_list,
        event_list: 16,
        no_batch,
        as_published,
    };
    let kq = KQueue::new(config, counters, &mut rec).expect("kqueue");
    (kq, rec)
}

/// An accepted server-side socket and the client side that keeps it open.
fn accepted_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let (server_side, _) = listener.accept().unwrap();
    (server_side, client)
}

fn a_token() -> Token {
    let mut slab = Slab::default();
    slab.insert(())
}

/// Staging is free: nothing reaches the kernel until the wait, which applies every staged change
/// in the same call that collects events.
#[test]
fn staged_changes_ride_on_the_next_wait() {
    let (mut kq, mut rec) = queue(16, false, false);
    let (server_side, _client) = accepted_pair();
    kq.new_client(server_side.as_raw_fd(), a_token(), "conn1", &mut rec)
        .unwrap();
    let counters = Arc::clone(&rec.counters);
    assert_eq!(counters.snapshot(Default::default()).kevent_calls, 0);
    let mut ready = Vec::new();
    kq.wait(Some(Duration::ZERO), &mut ready, &mut rec).unwrap();
    let stats = counters.snapshot(Default::default());
    assert_eq!(stats.kevent_calls, 1, "one call");
    assert_eq!(
        stats.changes, 3,
        "the wake knote and the client's READ and WRITE"
    );
}

/// With a `change_list` of 2, a third staged change first flushes the two already staged, by a
/// kevent call with an empty eventlist; the third rides on the wait.
#[test]
fn a_full_change_list_is_flushed_early() {
    let (mut kq, mut rec) = queue(2, false, false);
    let (server_side, _client) = accepted_pair();
    // The wake knote is already staged: this makes 3.
    kq.new_client(server_side.as_raw_fd(), a_token(), "conn1", &mut rec)
        .unwrap();
    let counters = Arc::clone(&rec.counters);
    let early = counters.snapshot(Default::default());
    assert_eq!((early.kevent_calls, early.changes), (1, 2));
    let mut ready = Vec::new();
    kq.wait(Some(Duration::ZERO), &mut ready, &mut rec).unwrap();
    let after = counters.snapshot(Default::default());
    assert_eq!((after.kevent_calls, after.changes), (2, 3));
}

/// `--no-batch`: every change is applied at once, by a kevent call of its own.
#[test]
fn with_no_batch_each_change_is_its_own_call() {
    let (mut kq, mut rec) = queue(16, true, false);
    let (server_side, _client) = accepted_pair();
    kq.new_client(server_side.as_raw_fd(), a_token(), "conn1", &mut rec)
        .unwrap();
    let stats = rec.counters.snapshot(Default::default());
    assert_eq!((stats.kevent_calls, stats.changes), (3, 3));
}

/// As published: a client's changes are staged, then the client is closed before the next
/// wait. The wait returns them as EV_ERROR entries (EBADF) carrying the old udata, and the
/// wrapper reports them as failed changes, never as readiness.
#[test]
fn as_published_changes_staged_for_a_closed_client_come_back_as_error_entries() {
    let (mut kq, mut rec) = queue(16, false, true);
    let (server_side, _client) = accepted_pair();
    let token = a_token();
    let fd = server_side.as_raw_fd();
    kq.new_client(fd, token, "conn1", &mut rec).unwrap();
    kq.forget_client(fd, "conn1", &mut rec);
    drop(server_side); // close(2) with the two changes still staged
    let mut ready = Vec::new();
    kq.wait(Some(Duration::ZERO), &mut ready, &mut rec).unwrap();
    let failed: Vec<_> = ready
        .iter()
        .filter_map(|r| match r {
            Ready::ChangeFailed { udata, errno, .. } => Some((*udata, *errno)),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        vec![
            (token.to_udata(), libc::EBADF as i64),
            (token.to_udata(), libc::EBADF as i64)
        ]
    );
    assert!(
        !ready
            .iter()
            .any(|r| matches!(r, Ready::Read { .. } | Ready::Write { .. })),
        "no receipt is taken for readiness"
    );
}

/// Fixed: closing a client drops the changes staged for it (close() removes its knotes anyway,
/// B22), so no error entry comes back at all.
#[test]
fn fixed_changes_staged_for_a_closing_client_are_dropped() {
    let (mut kq, mut rec) = queue(16, false, false);
    let (server_side, _client) = accepted_pair();
    let fd = server_side.as_raw_fd();
    kq.new_client(fd, a_token(), "conn1", &mut rec).unwrap();
    kq.forget_client(fd, "conn1", &mut rec);
    drop(server_side);
    let mut ready = Vec::new();
    kq.wait(Some(Duration::ZERO), &mut ready, &mut rec).unwrap();
    assert!(ready.is_empty(), "{ready:?}");
    assert_eq!(
        rec.counters.snapshot(Default::default()).changes,
        1,
        "only the wake knote"
    );
}
