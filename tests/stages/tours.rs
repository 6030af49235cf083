//! Each stage's default tour, run as a facilitator would with `--json`, asserting the one
//! thing the stage is there to show.

use super::run::{conn1_knote_states, conn1_phases, run_json, summary, Phase};
use crate::support::trace::{Field, Value};

/// Finds the phase that began with the n-th action of this name (0-based).
fn phase<'a>(phases: &'a [Phase], action: &str, nth: usize) -> &'a Phase {
    phases
        .iter()
        .filter(|p| p.after == action)
        .nth(nth)
        .unwrap_or_else(|| panic!("no phase after {action} #{nth} in {phases:?}"))
}

/// The summary's `by_label` count for conn1's READ knote.
fn summary_conn1(records: &[Value]) -> f64 {
    let s = summary(records);
    let n = &s["by_label"]["conn1 READ"];
    if n.is_null() {
        0.0
    } else {
        n.num()
    }
}

/// A person runs `lab flood`: the client sends "hello" and the server does not read, so
/// level-triggered EVFILT_READ reports conn1 with data=5 on every kevent call — many events,
/// not one. After `read`, the flood stops: no more events for conn1.
#[test]
fn flood_reports_unread_bytes_on_every_call_until_the_server_reads() {
    let records = run_json("flood", &[]);
    let phases = conn1_phases(&records);
    let before = phase(&phases, "send", 0);
    assert!(
        before.data.len() >= 50,
        "a level-triggered knote floods: expected many conn1 READ events before `read`, got {}",
        before.data.len()
    );
    assert!(
        before.data.iter().all(|&d| d == 5),
        "every flood event says 5 bytes are waiting: {:?}",
        &before.data[..before.data.len().min(10)]
    );
    let after = phase(&phases, "read", 0);
    assert!(
        after.data.is_empty(),
        "after `read` nothing is unread, so nothing is reported: {:?}",
        after.data
    );
    // The summary counts every event exactly, collapsed or not.
    let total: usize = phases.iter().map(|p| p.data.len()).sum();
    assert_eq!(summary_conn1(&records) as usize, total);
    let s = summary(&records);
    let calls: f64 = records
        .iter()
        .filter(|r| r["type"].str() == "kevent")
        .map(|r| r["repeat"].num())
        .sum();
    assert_eq!(s["kevent_calls"].num(), calls, "summary counts every call");
}

/// A person runs `lab oneshot`: the first "hello" gives exactly one event (data=5); "again"
/// gives none, because EV_ONESHOT deleted the knote at delivery (the knote table says
/// `deleted`); `rearm` adds it again and exactly one event reports all 10 unread bytes.
#[test]
fn oneshot_fires_once_then_the_knote_is_deleted_until_rearmed() {
    let records = run_json("oneshot", &[]);
    let phases = conn1_phases(&records);
    assert_eq!(
        phase(&phases, "send", 0).data,
        vec![5],
        "one event for hello"
    );
    assert_eq!(
        phase(&phases, "send", 1).data,
        Vec::<i64>::new(),
        "no event for again: the knote is gone"
    );
    assert_eq!(
        phase(&phases, "rearm", 0).data,
        vec![10],
        "one event after rearm"
    );
    let states = conn1_knote_states(&records);
    assert_eq!(
        states.first().map(String::as_str),
        Some("enabled"),
        "conn1's knote starts enabled: {states:?}"
    );
    assert_eq!(
        states.get(1).map(String::as_str),
        Some("deleted"),
        "after the first event conn1's knote is listed as deleted: {states:?}"
    );
    assert!(!states.iter().any(|s| s == "disabled"), "{states:?}");
    assert_eq!(summary_conn1(&records), 2.0);
}

/// A person runs `lab dispatch`: the same counts as oneshot — one event, none, one after
/// `rearm` — but EV_DISPATCH only disabled the knote: the table says `disabled`, never
/// `deleted`, and `rearm` is an EV_ENABLE.
#[test]
fn dispatch_fires_once_then_the_knote_is_disabled_until_enabled() {
    let records = run_json("dispatch", &[]);
    let phases = conn1_phases(&records);
    assert_eq!(phase(&phases, "send", 0).data, vec![5]);
    assert_eq!(phase(&phases, "send", 1).data, Vec::<i64>::new());
    assert_eq!(phase(&phases, "rearm", 0).data, vec![10]);
    let states = conn1_knote_states(&records);
    assert_eq!(
        states.get(1).map(String::as_str),
        Some("disabled"),
        "after the first event conn1's knote is disabled: {states:?}"
    );
    assert!(
        !states.iter().any(|s| s == "deleted"),
        "never deleted: {states:?}"
    );
    let rearm_change = records
        .iter()
        .filter(|r| r["type"].str() == "kevent")
        .flat_map(|r| r["changes"].arr().to_vec())
        .filter(|c| c["label"].str() == "conn1")
        .map(|c| {
            c["flags"]
                .arr()
                .iter()
                .map(|f| f.str().to_string())
                .collect::<Vec<_>>()
        })
        .collect::<Vec<_>>();
    assert_eq!(
        rearm_change,
        vec![
            vec!["ADD".to_string(), "DISPATCH".to_string()],
            vec!["ENABLE".to_string()]
        ],
        "conn1 is added with ADD|DISPATCH and re-armed with ENABLE"
    );
}

/// A person runs `lab clear`: "abc" gives one event (data=3); "def" one more (data=6, old
/// and new bytes); `read 2` gives none (a partial read does not re-trigger EV_CLEAR); "g"
/// gives one (data=5: the 4 left plus the new one).
#[test]
fn clear_fires_once_per_arrival_of_new_bytes() {
    let records = run_json("clear", &[]);
    let phases = conn1_phases(&records);
    assert_eq!(phase(&phases, "send", 0).data, vec![3], "abc");
    assert_eq!(phase(&phases, "send", 1).data, vec![6], "def");
    assert_eq!(phase(&phases, "read", 0).data, Vec::<i64>::new(), "read 2");
    assert_eq!(phase(&phases, "send", 2).data, vec![5], "g");
}

/// The start record names the stage, the backend and the address actually bound (port 0 is
/// replaced by the port the OS chose).
#[test]
fn the_start_record_names_stage_backend_and_bound_address() {
    let records = run_json("clear", &["--script", "wait 1"]);
    let start = &records[0];
    assert_eq!(start["type"].str(), "start");
    assert_eq!(start["stage"].str(), "clear");
    assert!(["native", "emulated"].contains(&start["backend"].str()));
    let addr = start["addr"].str();
    let port: u16 = addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("addr {addr:?} ends with a port"));
    assert_ne!(port, 0, "the bound port, not 0");
}

/// A person scripts two connections: `connect` opens conn2 and makes it current, `use 1`
/// goes back. Bytes sent on conn2 are reported for conn2 only.
#[test]
fn connect_and_use_choose_the_connection() {
    let records = run_json(
        "oneshot",
        &[
            "--script",
            "connect; send ab; wait 200; use 1; send xyz; wait 200",
        ],
    );
    let events: Vec<(String, i64)> = records
        .iter()
        .filter(|r| r["type"].str() == "kevent")
        .flat_map(|r| r["events"].arr().to_vec())
        .filter(|e| e["label"].str().starts_with("conn"))
        .map(|e| (e["label"].str().to_string(), e["data"].num() as i64))
        .collect();
    assert_eq!(
        events,
        vec![("conn2".to_string(), 2), ("conn1".to_string(), 3)]
    );
}

/// The OS name the contract's `start.os` gives, for the machine these tests run on.
fn expected_os() -> &'static str {
    match std::env::consts::OS {
        "linux" => "Linux",
        "macos" => "macOS",
        "freebsd" => "FreeBSD",
        "openbsd" => "OpenBSD",
        "netbsd" => "NetBSD",
        other => panic!("no expected OS name for {other}"),
    }
}

/// A person scripts every action of the contract on `lab clear --json` and reads the records
/// as the contract defines them: `start` names the OS and the backend (native on the BSDs,
/// emulated on Linux); each `action` record names its action, the connection it acted on
/// (`conn`), and `bytes` where bytes moved (send, fill, read); `kevent` records are numbered
/// from 1 with no gap (a collapsed record of `repeat` calls counts them all); `t` never goes
/// backwards.
#[test]
fn the_json_records_follow_the_contract() {
    let records = run_json(
        "clear",
        &[
            "--script",
            "connect; send abc; fill 4; wait 100; use 1; send hi; wait 100; read 1; rearm; close; wait 10",
        ],
    );
    let start = &records[0];
    assert_eq!(start["type"], "start");
    assert_eq!(start["os"].str(), expected_os(), "{start}");
    let backend = if cfg!(target_os = "linux") {
        "emulated"
    } else {
        "native"
    };
    assert_eq!(start["backend"].str(), backend, "{start}");

    let actions: Vec<(String, Option<f64>, Option<f64>)> = records
        .iter()
        .filter(|r| r["type"] == "action" && r["action"] != "wait")
        .map(|r| {
            (
                r["action"].str().to_string(),
                r["conn"].as_f64(),
                r["bytes"].as_f64(),
            )
        })
        .collect();
    let expected: Vec<(String, Option<f64>, Option<f64>)> = [
        ("connect", Some(1.0), None),
        ("connect", Some(2.0), None),
        ("send", Some(2.0), Some(3.0)),
        ("fill", Some(2.0), Some(4.0)),
        ("use", Some(1.0), None),
        ("send", Some(1.0), Some(2.0)),
        ("read", Some(1.0), Some(1.0)),
        ("rearm", Some(1.0), None),
        ("close", Some(1.0), None),
    ]
    .iter()
    .map(|(a, c, b)| (a.to_string(), *c, *b))
    .collect();
    assert_eq!(actions, expected);

    let mut next_call = 1.0;
    for call in records.iter().filter(|r| r["type"] == "kevent") {
        assert_eq!(
            call["call"].num(),
            next_call,
            "no gap in the numbering: {call}"
        );
        let repeat = call["repeat"].num();
        assert!(repeat >= 1.0, "{call}");
        next_call += repeat;
    }
    assert!(next_call > 1.0, "some kevent calls");
    assert_eq!(summary(&records)["kevent_calls"].num(), next_call - 1.0);

    for pair in records.windows(2) {
        assert!(
            pair[1]["t"].num() >= pair[0]["t"].num(),
            "t went backwards:\n{}\n{}",
            pair[0],
            pair[1]
        );
    }
}

/// `--host` chooses where a flag stage listens: `lab oneshot --host 127.0.0.2` (another
/// loopback address, which Linux answers) binds there, says so in its start record, and its
/// built-in client reaches it: "hi" is reported for conn1 with data=2.
#[cfg(target_os = "linux")]
#[test]
fn host_chooses_where_a_stage_listens() {
    let records = run_json(
        "oneshot",
        &["--host", "127.0.0.2", "--script", "send hi; wait 100"],
    );
    let addr = records[0]["addr"].str();
    assert!(addr.starts_with("127.0.0.2:"), "{addr}");
    let phases = conn1_phases(&records);
    assert_eq!(phase(&phases, "send", 0).data, vec![2]);
}
