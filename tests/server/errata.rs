//! Errata 9 on every tour run: the published server's stale staged changes come back as
//! EV_ERROR receipts, and the fixed server never stages them.

use super::json_trace;
use crate::support::trace::{events, flags, Field, Value};

/// The EV_ERROR entries of a run's eventlists.
fn error_entries(records: &[Value]) -> Vec<&Value> {
    events(records)
        .map(|(event, _)| event)
        .filter(|event| flags(event).contains(&"ERROR"))
        .collect()
}

/// conn1's first READ event: the tour's echo client sent its burst and hung up before the
/// server loop started, so that event carries the 47 bytes (3 framed messages) and EV_EOF at
/// once.
fn first_conn1_read(records: &[Value]) -> (f64, bool) {
    events(records)
        .map(|(event, _)| event)
        .find(|e| e["label"] == "conn1" && e["filter"] == "READ" && !flags(e).contains(&"ERROR"))
        .map(|e| (e["data"].num(), flags(e).contains(&"EOF")))
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
    assert_eq!(first_conn1_read(&published), (47.0, true));
    let receipts = error_entries(&published);
    assert_eq!(receipts.len(), 2, "{receipts:?}");
    assert!(
        receipts
            .iter()
            .all(|e| e["label"] == "conn1" && e["data"].num() == f64::from(libc::EBADF)),
        "{receipts:?}"
    );
    assert!(
        receipts.iter().any(|e| e["udata"].num() == 0.0),
        "the DISABLE half carries udata 0 as published: {receipts:?}"
    );

    let fixed = json_trace(&[]);
    assert_eq!(first_conn1_read(&fixed), (47.0, true));
    let errors = error_entries(&fixed);
    assert!(
        errors.is_empty(),
        "the fixed server stages nothing for a closed client: {errors:?}"
    );
}
