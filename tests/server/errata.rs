//! Errata 9 on every tour run: the published server's stale staged changes come back as
//! EV_ERROR receipts, and the fixed server never stages them.

use lab::trace::{Entry, KeventCall, Record};

use super::json_trace;

fn kevent_calls(entries: &[Entry]) -> impl Iterator<Item = &KeventCall> {
    entries.iter().filter_map(|e| match &e.record {
        Record::Kevent(call) => Some(call),
        _ => None,
    })
}

/// conn1's first READ event: the tour's echo client sent its burst and hung up before the
/// server loop started, so that event carries the 47 bytes and EV_EOF at once.
fn first_conn1_read(entries: &[Entry]) -> (i64, bool) {
    kevent_calls(entries)
        .flat_map(|call| &call.events)
        .find(|e| e.label == "conn1" && !e.kevent.is_error())
        .map(|e| (e.kevent.data, e.kevent.is_eof()))
        .expect("a READ event for conn1")
}

/// A workshop runs the bug hunt, `lab server --as-published`, and must see errata 9 on the
/// first try: conn1's first READ event has its data and EOF together, the server echoes (the
/// published readMode stages two changes) and closes conn1, and the very next kevent call
/// returns both changes as EV_ERROR entries with data EBADF, one of them with udata 0. The
/// fixed server, same tour, drops those changes when it closes conn1: no EV_ERROR entry at all.
#[test]
fn as_published_every_tour_returns_the_stale_changes_as_ebadf_receipts() {
    let published = json_trace(&["--as-published"]);
    assert_eq!(first_conn1_read(&published), (47, true));
    let receipts: Vec<_> = kevent_calls(&published)
        .flat_map(|call| &call.events)
        .filter(|e| e.kevent.is_error())
        .collect();
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert!(receipts
        .iter()
        .all(|e| e.label == "conn1" && e.kevent.data == i64::from(libc::EBADF)));
    assert!(
        receipts.iter().any(|e| e.kevent.udata == 0),
        "the DISABLE half carries udata 0 as published: {receipts:?}"
    );

    let fixed = json_trace(&[]);
    assert_eq!(first_conn1_read(&fixed), (47, true));
    let errors = kevent_calls(&fixed)
        .flat_map(|call| &call.events)
        .filter(|e| e.kevent.is_error())
        .count();
    assert_eq!(
        errors, 0,
        "the fixed server stages nothing for a closed client"
    );
}
