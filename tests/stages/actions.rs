//! The kevent changes themselves, by script (`add`, `delete`, `enable`, `disable`, `receipt`),
//! the partial read, and the notes that must stay true whatever order a person types things in.

use super::run::{conn1_knote_states, conn1_phases, run_json, run_lab};
use crate::support::trace::{flags, Field, Value};

/// The records between the n-th action of this name (0-based) and the next action other than
/// `wait` (a wait lets the loop run: its calls belong to what came before it).
fn after<'a>(records: &'a [Value], action: &str, nth: usize) -> &'a [Value] {
    let start = records
        .iter()
        .enumerate()
        .filter(|(_, r)| r["type"].str() == "action" && r["action"].str() == action)
        .nth(nth)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no action {action} #{nth}"));
    let end = records[start..]
        .iter()
        .position(|r| r["type"].str() == "action" && r["action"].str() != "wait")
        .map_or(records.len(), |p| start + p);
    &records[start..end]
}

/// The kevent records in these records.
fn kevents(records: &[Value]) -> Vec<&Value> {
    records
        .iter()
        .filter(|r| r["type"].str() == "kevent")
        .collect()
}

/// Every note's text in these records, joined.
fn notes(records: &[Value]) -> String {
    records
        .iter()
        .filter(|r| r["type"].str() == "note")
        .map(|r| r["text"].str().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The EV_ERROR entries returned by these kevent records, as their `data` (the errno, 0 for a
/// receipt of a change that succeeded).
fn error_entries(calls: &[&Value]) -> Vec<i64> {
    calls
        .iter()
        .flat_map(|c| c["events"].arr())
        .filter(|e| flags(e).contains(&"ERROR"))
        .map(|e| e["data"].num() as i64)
        .collect()
}

/// ENOENT is 2 on Linux, macOS and the BSDs.
const ENOENT: i64 = 2;

/// A person asks what EV_DELETE does after a ONESHOT event: `send hello; wait 300; delete`.
/// The delete is one kevent call, with an eventlist, carrying exactly one change, EV_DELETE on
/// conn1's READ knote; it comes back as an EV_ERROR entry with ENOENT, and the note says why:
/// EV_ONESHOT deleted the knote when it fired (B15).
#[test]
fn delete_after_a_oneshot_event_comes_back_as_enoent() {
    let records = run_json("oneshot", &["--script", "send hello; wait 300; delete"]);
    let delete = after(&records, "delete", 0);
    let calls = kevents(delete);
    assert_eq!(calls.len(), 1, "one kevent call for `delete`: {delete:?}");
    let changes = calls[0]["changes"].arr();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["label"].str(), "conn1");
    assert_eq!(changes[0]["filter"].str(), "READ");
    assert_eq!(flags(&changes[0]), ["DELETE"]);
    assert!(
        calls[0]["nevents"].num() > 0.0,
        "an eventlist, so errors are entries (B7)"
    );
    assert_eq!(error_entries(&calls), [ENOENT]);
    let said = notes(delete);
    assert!(said.contains("ENOENT") && said.contains("B15"), "{said}");
}

/// A person asks whether EV_ADD re-enables a dispatched knote: after the DISPATCH event, `add`
/// (EV_ADD|EV_DISPATCH) leaves it disabled (B3), so "x" is not reported; `enable` reports the
/// 6 waiting bytes in the very call that enabled it (B9).
#[test]
fn add_does_not_re_enable_a_dispatched_knote_but_enable_does() {
    let records = run_json(
        "dispatch",
        &[
            "--script",
            "send hello; wait 300; add; send x; wait 300; enable; wait 100",
        ],
    );
    let phases = conn1_phases(&records);
    let data = |name: &str| {
        phases
            .iter()
            .find(|p| p.after == name)
            .unwrap_or_else(|| panic!("no phase {name}"))
            .data
            .clone()
    };
    assert_eq!(
        data("add"),
        Vec::<i64>::new(),
        "EV_ADD changes nothing visible"
    );
    assert_eq!(data("send"), vec![5], "hello, then the knote is disabled");
    let after_x: Vec<i64> = phases
        .iter()
        .filter(|p| p.after == "send")
        .nth(1)
        .expect("second send")
        .data
        .clone();
    assert!(
        after_x.is_empty(),
        "still disabled after EV_ADD (B3): {after_x:?}"
    );
    assert_eq!(
        data("enable"),
        vec![6],
        "EV_ENABLE reports hello and x at once"
    );
    let add = after(&records, "add", 0);
    assert!(notes(add).contains("does not re-enable"), "{}", notes(add));
    let states = conn1_knote_states(&records);
    assert!(states.contains(&"disabled".to_string()), "{states:?}");
}

/// `receipt` is EV_ADD|EV_RECEIPT: its answer is an EV_ERROR entry with data 0, explained.
#[test]
fn receipt_comes_back_as_an_entry_with_data_zero() {
    let records = run_json("flood", &["--script", "receipt"]);
    let receipt = after(&records, "receipt", 0);
    let calls = kevents(receipt);
    assert_eq!(calls.len(), 1);
    assert!(flags(&calls[0]["changes"].arr()[0]).contains(&"RECEIPT"));
    assert_eq!(error_entries(&calls), [0]);
    assert!(notes(receipt).contains("B8"), "{}", notes(receipt));
}

/// `add write` in `lab flood` adds a second knote to conn1 (B1), level-triggered: an idle
/// connection's WRITE floods; `delete write` ends it and leaves READ alone.
#[test]
fn add_write_and_delete_write_on_the_same_connection() {
    let records = run_json(
        "flood",
        &[
            "--script",
            "add write level; wait 100; delete write; wait 100",
        ],
    );
    let writes = |r: &[Value]| -> u64 {
        kevents(r)
            .iter()
            .flat_map(|c| {
                let repeat = c["repeat"].num() as u64;
                c["events"]
                    .arr()
                    .iter()
                    .filter(|e| e["label"].str() == "conn1" && e["filter"].str() == "WRITE")
                    .map(move |_| repeat)
            })
            .sum()
    };
    assert!(writes(after(&records, "add", 0)) >= 2, "WRITE floods");
    assert_eq!(
        writes(after(&records, "delete", 0)),
        0,
        "EV_DELETE ended it"
    );
}

/// The CLEAR stall: after `read 2` of 6 bytes, the note gives the count left and says that no
/// event will come until new bytes arrive.
#[test]
fn the_clear_stall_says_how_many_bytes_wait_and_that_no_event_will_come() {
    let records = run_json("clear", &[]);
    let said = notes(after(&records, "read", 0));
    assert!(said.contains("4 bytes are still waiting"), "{said}");
    assert!(said.contains("no event will come"), "{said}");
}

/// `rearm` in `lab oneshot` before any event: the knote was never deleted, and the note says
/// so instead of "EV_ONESHOT deleted the knote".
#[test]
fn rearm_before_any_oneshot_event_does_not_claim_a_deletion() {
    let records = run_json("oneshot", &["--script", "rearm"]);
    let said = notes(after(&records, "rearm", 0));
    assert!(!said.contains("EV_ONESHOT deleted the knote"), "{said}");
    assert!(said.contains("has not fired"), "{said}");
}

/// Issue 14: `fill 1000000000000` would allocate a terabyte; it is one usage error line.
#[test]
fn an_absurd_fill_is_refused_in_one_line() {
    let output = run_lab(&["flood", "--port", "0", "--script", "fill 1000000000000"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("at most"), "{stderr}");
}

/// A large fill is written a chunk at a time: 64 MiB into a server that does not read takes
/// what fits and says so, without allocating it.
#[test]
fn the_largest_fill_takes_what_fits() {
    let records = run_json("flood", &["--script", "fill 67108864"]);
    let fill = records
        .iter()
        .find(|r| r["type"].str() == "action" && r["action"].str() == "fill")
        .expect("a fill action");
    assert!(fill["bytes"].num() > 0.0 && fill["bytes"].num() < 67_108_864.0);
}

/// `lab server` reads and changes its knotes by itself: a knote action is refused there.
#[test]
fn the_server_refuses_knote_actions() {
    let output = run_lab(&["server", "--port", "0", "--script", "delete"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("changes its knotes"));
}

/// Every stage's `--help` lists the script actions, the knote changes among them.
#[test]
fn every_stage_help_lists_the_script_actions() {
    for stage in ["flood", "oneshot", "dispatch", "clear", "write"] {
        let output = run_lab(&[stage, "--help"]);
        assert!(output.status.success());
        let help = String::from_utf8_lossy(&output.stdout);
        for action in [
            "send TEXT",
            "read [N]",
            "add [read|write]",
            "delete",
            "receipt",
        ] {
            assert!(
                help.contains(action),
                "{stage} --help lacks {action}:\n{help}"
            );
        }
    }
}

/// A person runs `lab write`: the idle connection's WRITE knote floods with data = the free
/// send space; after the two fills the server's send buffer is full and nothing is reported;
/// the client's read brings the flood back.
#[test]
fn write_floods_until_filled_and_comes_back_when_the_client_reads() {
    let records = run_json("write", &[]);
    let write_events = |r: &[Value]| -> Vec<i64> {
        kevents(r)
            .iter()
            .flat_map(|c| {
                let repeat = c["repeat"].num() as usize;
                c["events"]
                    .arr()
                    .iter()
                    .filter(|e| e["label"].str() == "conn1" && e["filter"].str() == "WRITE")
                    .flat_map(move |e| std::iter::repeat_n(e["data"].num() as i64, repeat))
            })
            .collect()
    };
    let idle = write_events(after(&records, "connect", 0));
    assert!(
        idle.len() >= 2,
        "level-triggered WRITE floods: {}",
        idle.len()
    );
    assert!(
        idle.iter().all(|&d| d > 2048),
        "data = free space: {:?}",
        &idle[..2]
    );
    let full = write_events(after(&records, "fill", 1));
    assert!(
        full.is_empty(),
        "silent once the send buffer is full: {}",
        full.len()
    );
    let back = write_events(after(&records, "read", 0));
    assert!(
        back.len() >= 2,
        "the client's read brings it back: {}",
        back.len()
    );
    let fill = after(&records, "fill", 0);
    assert!(notes(fill).contains("EAGAIN"), "{}", notes(fill));
}

/// A person runs `lab oneshot` in a terminal, presses `s` (ping arrives, one ONESHOT event),
/// then `-`: EV_DELETE comes back as an ENOENT entry on screen. `?` lists the keys; `q` ends.
#[test]
fn keys_delete_after_a_oneshot_event_and_list_the_keys() {
    let tmux = crate::support::tmux::Tmux::start("actions", 110, 32, &[]);
    tmux.run_lab("", "oneshot --port 0 --hide-os-calls");
    tmux.wait_for("the footer", |s| {
        s.contains("c connect") && s.contains("» connect conn1")
    });
    tmux.press("s");
    tmux.wait_for("the ONESHOT event", |s| {
        s.lines()
            .any(|l| l.contains("◂ READ  conn1") && l.contains("data=4"))
    });
    tmux.press("-");
    tmux.wait_for("the ENOENT entry", |s| {
        s.contains("» delete conn1") && s.contains("failed with ENOENT")
    });
    tmux.press("?");
    tmux.wait_for("the key list", |s| s.contains("keys: c connect"));
    tmux.press("q");
    tmux.wait_for_exit_status(0);
}

/// A person runs `lab clear` in a terminal, presses `s` (4 bytes) and `p` (a partial read of
/// 2): the note gives the 2 bytes left and says no event will come for them.
#[test]
fn the_partial_read_key_shows_the_clear_stall() {
    let tmux = crate::support::tmux::Tmux::start("actions", 110, 32, &[]);
    tmux.run_lab("", "clear --port 0 --hide-os-calls");
    tmux.wait_for("the footer", |s| {
        s.contains("c connect") && s.contains("» connect conn1")
    });
    tmux.press("s");
    tmux.wait_for("the CLEAR event", |s| {
        s.lines()
            .any(|l| l.contains("◂ READ  conn1") && l.contains("data=4"))
    });
    tmux.press("p");
    tmux.wait_for("the stall note", |s| {
        s.contains("2 bytes are still waiting, and no event will come")
    });
    tmux.press("q");
    tmux.wait_for_exit_status(0);
}
