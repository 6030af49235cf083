//! `lab bench` options an attendee reaches for when comparing servers: `--threads`,
//! `--duration`, `--no-batch`, each checked through the one JSON report `--json` writes.

use std::process::Stdio;

use crate::support::trace::{Field, Value};

/// `lab bench ARGS --json` run to its end: its report, one JSON object.
fn bench_report(args: &[&str]) -> Value {
    let mut all = vec!["bench"];
    all.extend_from_slice(args);
    all.push("--json");
    let out = crate::support::lab(&all)
        .stdin(Stdio::null())
        .output()
        .expect("run lab bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "lab {all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("bad report {stdout}: {e}"))
}

/// A person drives 4 connections from 2 client threads: every message comes back, and the
/// report says 2 threads. Asking for more threads than connections gives one thread per
/// connection (a thread with no connection would have nothing to do).
#[test]
fn threads_share_the_connections_and_every_echo_comes_back() {
    let report = bench_report(&["--connections", "4", "--messages", "10", "--threads", "2"]);
    assert_eq!(report["threads"].num(), 2.0, "{report}");
    assert_eq!(report["expected"].num(), 40.0, "{report}");
    assert_eq!(report["echoed"].num(), 40.0, "{report}");
    assert_eq!(report["complete"], true, "{report}");

    let capped = bench_report(&["--connections", "3", "--messages", "5", "--threads", "8"]);
    assert_eq!(capped["threads"].num(), 3.0, "{capped}");
    assert_eq!(capped["echoed"].num(), 15.0, "{capped}");
}

/// A person asks for far more messages than one second allows (two million round trips, one
/// at a time) with `--duration 1`: the run stops sending after about a second instead of
/// running for minutes, and the report says it was stopped by the duration and is incomplete,
/// with fewer echoes than planned.
#[test]
fn duration_stops_a_run_that_would_take_too_long() {
    let report = bench_report(&[
        "--connections",
        "2",
        "--messages",
        "1000000",
        "--duration",
        "1",
    ]);
    assert_eq!(report["stopped_by_duration"], true, "{report}");
    assert_eq!(report["complete"], false, "{report}");
    assert_eq!(report["expected"].num(), 2_000_000.0);
    let echoed = report["echoed"].num();
    assert!(echoed > 0.0 && echoed < 2_000_000.0, "{report}");
}

/// `--no-batch` makes the in-process server apply every change with its own kevent call. With
/// a small send buffer the server's writes block and clients flip between read and write mode
/// (changes to apply); still no call carries more than one change on average, and the report
/// is labelled so.
#[test]
fn no_batch_never_puts_more_than_one_change_on_a_call() {
    let report = bench_report(&[
        "--connections",
        "8",
        "--messages",
        "50",
        "--size",
        "4000",
        "--pipeline",
        "8",
        "--sndbuf",
        "4096",
        "--no-batch",
    ]);
    assert_eq!(report["no_batch"], true, "{report}");
    assert_eq!(report["label"].str(), "kqueue --no-batch", "{report}");
    assert_eq!(report["echoed"].num(), 400.0, "{report}");
    let per_call = report["server"]["changes_per_call"].num();
    assert!(per_call <= 1.0, "{per_call} changes per kevent call");
}

/// `--threads 0` and `--duration 0` are usage errors: exit 2, one line naming the option.
#[test]
fn zero_threads_or_duration_is_a_usage_error() {
    for (option, says) in [
        ("--threads", "lab: --threads must be at least 1"),
        ("--duration", "lab: --duration must be at least 1 (seconds)"),
    ] {
        let out = crate::support::lab(&["bench", option, "0"])
            .stdin(Stdio::null())
            .output()
            .expect("run lab bench");
        assert_eq!(out.status.code(), Some(2), "{option}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim_end(), says);
    }
}
