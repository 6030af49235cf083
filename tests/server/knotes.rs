//! The server's knote table in the JSON trace (contract: the `knotes` record): written after
//! every kevent call that changed it, following read mode, write mode and close.

use super::json_trace;
use crate::support::trace::{knote_state as state, knote_tables as tables, Field};

/// An attendee runs the default tour with `--json` and looks at the `knotes` records. The first
/// table that lists conn1 shows how a client is registered: its READ knote enabled and its
/// WRITE knote added disabled (read mode), both carrying the same udata. Later, when the slow
/// reader's echo hits WouldBlock, a table shows conn2 in write mode: READ disabled, WRITE
/// enabled. Once conn1 has closed, its knotes are listed as deleted (close removes them, B22).
#[test]
fn the_json_tour_shows_read_mode_write_mode_and_deleted_knotes() {
    let records = json_trace(&[]);
    let tables = tables(&records);
    assert!(!tables.is_empty(), "the JSON trace has knotes records");

    let first_conn1 = tables
        .iter()
        .find(|t| state(t, "conn1", "READ").is_some())
        .expect("a table that lists conn1");
    assert_eq!(state(first_conn1, "conn1", "READ"), Some("enabled"));
    assert_eq!(state(first_conn1, "conn1", "WRITE"), Some("disabled"));
    let udatas: Vec<f64> = first_conn1
        .iter()
        .filter(|r| r["label"] == "conn1")
        .map(|r| r["udata"].num())
        .collect();
    assert_eq!(udatas.len(), 2);
    assert_eq!(udatas[0], udatas[1], "both knotes carry conn1's token");
    assert!(
        udatas[0] > 2.0,
        "a token, not the listener's, signal's or wake's udata"
    );
    assert!(
        first_conn1.iter().any(|r| r["label"] == "listener"
            && r["filter"] == "READ"
            && r["mode"].arr().is_empty()),
        "the listener is a level-triggered READ knote: {first_conn1:?}"
    );

    let write_mode = tables.iter().find(|t| {
        state(t, "conn2", "READ") == Some("disabled")
            && state(t, "conn2", "WRITE") == Some("enabled")
    });
    assert!(
        write_mode.is_some(),
        "a table shows the slow reader in write mode: {tables:#?}"
    );

    assert!(
        tables.iter().any(|t| {
            state(t, "conn1", "READ") == Some("deleted")
                && state(t, "conn1", "WRITE") == Some("deleted")
        }),
        "conn1's knotes are listed as deleted after it closed"
    );
}

/// Every `knotes` record follows a kevent record: the table is written after the call that
/// changed it, never on its own.
#[test]
fn a_knote_table_always_follows_a_kevent_call() {
    let records = json_trace(&[]);
    let mut tables = 0;
    for (i, record) in records.iter().enumerate() {
        if record["type"] == "knotes" {
            tables += 1;
            let before = records[..i]
                .iter()
                .rev()
                .find(|r| r["type"] == "kevent" || r["type"] == "knotes");
            assert_eq!(
                before.map(|r| r["type"].str()),
                Some("kevent"),
                "record {i} is a knote table with no kevent call since the last one"
            );
        }
    }
    assert!(tables > 0, "the tour writes knote tables");
}

/// `--quiet` is the benchmark's mode: only the summary is written, and no knote table either.
#[test]
fn quiet_writes_no_knote_table() {
    let records = json_trace(&["--quiet"]);
    assert!(tables(&records).is_empty());
    assert_eq!(records.last().map(|r| r["type"].str()), Some("summary"));
}

/// The raw epoll twin has no knotes: its JSON trace has no `knotes` record.
#[cfg(target_os = "linux")]
#[test]
fn the_epoll_twin_writes_no_knote_table() {
    let records = json_trace(&["--backend", "epoll"]);
    assert!(tables(&records).is_empty());
}
