//! Collapsing a flood whose ready knotes do not fit the eventlist (issue: round-robin made
//! consecutive calls differ, so nothing collapsed and the trace grew by megabytes a second).

use std::io::Write;
use std::net::TcpStream;

use crate::support::live::LiveRun;
use crate::support::trace::{Field, Value};

/// The labels of a kevent record's events.
fn labels(record: &Value) -> Vec<String> {
    record["events"]
        .arr()
        .iter()
        .map(|e| e["label"].str().to_string())
        .collect()
}

/// A facilitator runs `lab flood --external --json --port 0` and connects nine clients that
/// each send 2 bytes and never read: nine READ knotes stay ready, the eventlist holds eight, so
/// kqueue hands them out in rotation (B17). The trace shows each rotation once and counts the
/// rest: after every client has been seen, a stop with SIGINT leaves a trace of a few dozen
/// kevent records, not one per call, and the records' counts (`repeat`) add up exactly to the
/// summary's.
#[test]
fn a_rotating_flood_collapses_and_its_counts_stay_exact() {
    let mut run = LiveRun::start(&["flood", "--external", "--json", "--port", "0"]);
    let addr = run.addr();
    let clients: Vec<TcpStream> = (0..9)
        .map(|_| {
            let mut client = TcpStream::connect(&addr).expect("connect to lab");
            client.write_all(b"hi").expect("send 2 bytes");
            client
        })
        .collect();
    // Wait until a call has returned a full eventlist of clients, and every client has been
    // reported: the rotation is under way.
    let mut seen = std::collections::BTreeSet::new();
    while !(1..=9).all(|n| seen.contains(&format!("conn{n}"))) {
        let call = run.next("a kevent call returning all nine clients in turn", |r| {
            r["type"] == "kevent" && r["changes"].arr().is_empty() && labels(r).len() == 8
        });
        seen.extend(labels(&call));
    }
    run.signal(libc::SIGINT);
    let (status, records) = run.finish();
    assert!(status.success(), "{status:?}");
    drop(clients);

    let calls: Vec<&Value> = records.iter().filter(|r| r["type"] == "kevent").collect();
    let full = calls.iter().filter(|r| labels(r).len() == 8).count();
    // Nine rotations shown once, each once more for its repeats, and a few around the end
    // (the signal's own knote joins the ready set).
    assert!(
        full <= 40,
        "{full} kevent records with a full eventlist: the rotation was not collapsed"
    );
    let summary = records
        .iter()
        .find(|r| r["type"] == "summary")
        .expect("a summary");
    let repeat_sum: f64 = calls.iter().map(|r| r["repeat"].num()).sum();
    let event_sum: f64 = calls
        .iter()
        .map(|r| r["repeat"].num() * r["events"].arr().len() as f64)
        .sum();
    assert_eq!(repeat_sum, summary["kevent_calls"].num());
    assert_eq!(event_sum, summary["events"].num());
}
