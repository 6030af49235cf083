//! Nothing unbounded: the summary of a long run stays short, and the memory the server may hold
//! for its clients has a budget.

use std::io::Read;
use std::net::TcpStream;

use lab::client::framing;

use super::{closed_by_server, connect, round_trip};
use crate::support::lab;
use crate::support::live::LiveRun;
use crate::support::trace::{self, Field};

/// A facilitator leaves `lab server --external --json` running while 120 people each connect,
/// send a message, read the echo and leave. When the server is stopped, the summary lists the
/// 32 knotes with the most events and adds up the others (`by_label_others`), and counts the
/// closes by reason (`closed_by`) and names the last 8 (`last_closed`), instead of one entry
/// for every connection ever made.
#[test]
fn the_summary_lists_the_busiest_knotes_and_adds_up_the_rest() {
    const PEOPLE: u64 = 120;
    let mut run = LiveRun::start(&["server", "--external", "--json", "--port", "0"]);
    let addr = run.addr().parse().unwrap();
    for i in 0..PEOPLE {
        let mut person = connect(addr);
        let message = format!("hello {i}");
        assert_eq!(
            round_trip(&mut person, message.as_bytes()),
            message.as_bytes()
        );
    }
    for _ in 0..PEOPLE {
        run.next("a client closed", |r| {
            r["type"] == "client" && r["event"] == "closed"
        });
    }
    run.signal(libc::SIGTERM);
    let (status, records) = run.finish();
    assert!(status.success(), "{status:?}");
    let summary = trace::summary(&records);
    assert_eq!(
        summary["closed_by"]["eof"].num() as u64,
        PEOPLE,
        "closes counted by reason: {summary}"
    );
    let last = summary["last_closed"].arr();
    assert_eq!(last.len(), 8, "the last 8 clients closed: {summary}");
    assert!(last
        .iter()
        .all(|c| c["reason"] == "eof" && c["conn"].num() >= 1.0));
    let shown = summary["by_label"].as_object().expect("by_label object");
    assert!(shown.len() <= 32, "{} knotes listed", shown.len());
    let others = &summary["by_label_others"];
    assert!(
        shown.len() as u64 + others["knotes"].num() as u64 > PEOPLE,
        "every connection's READ knote is listed or counted: {summary}"
    );
    let listed: f64 = shown.values().map(|n| n.num()).sum();
    assert!(listed + others["events"].num() <= summary["events"].num());
}

/// A server whose memory budget holds two clients (`--memory-budget-mib 1 --buffer-size
/// 262144`: each client holds two 256 KiB buffers). Two people are served; a third is accepted
/// and closed at once (end of file, not a hang), the trace says why, and the summary counts it
/// (`shed`).
#[test]
fn beyond_the_memory_budget_connections_are_shed_visibly() {
    let mut run = LiveRun::start(&[
        "server",
        "--external",
        "--json",
        "--port",
        "0",
        "--memory-budget-mib",
        "1",
        "--buffer-size",
        "262144",
    ]);
    let addr = run.addr().parse().unwrap();
    let mut first = connect(addr);
    let mut second = connect(addr);
    assert_eq!(round_trip(&mut first, b"one"), b"one");
    assert_eq!(round_trip(&mut second, b"two"), b"two");
    let mut third: TcpStream = connect(addr);
    let _ = framing::write_message(&mut third, b"three");
    assert!(closed_by_server(&mut third), "the third is closed at once");
    let mut rest = Vec::new();
    assert!(matches!(third.read_to_end(&mut rest), Ok(0) | Err(_)));
    // The two within the budget are still served.
    assert_eq!(round_trip(&mut first, b"still"), b"still");
    drop((first, second, third));
    run.signal(libc::SIGTERM);
    let (status, records) = run.finish();
    assert!(status.success(), "{status:?}");
    assert_eq!(trace::summary(&records)["shed"].num(), 1.0);
    assert!(
        trace::of_type(&records, "note").any(|n| n["text"].str().contains("shed")),
        "a note says the connection was shed"
    );
}

/// A budget that cannot hold even one client is refused before anything runs: one line, exit 2.
#[test]
fn a_budget_too_small_for_one_client_is_a_usage_error() {
    let out = lab(&[
        "server",
        "--port",
        "0",
        "--memory-budget-mib",
        "1",
        "--buffer-size",
        "1048576",
    ])
    .output()
    .expect("run lab");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--memory-budget-mib") && stderr.lines().count() == 1,
        "{stderr}"
    );
}
