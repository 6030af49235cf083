//! `lab replay FILE`: a saved JSON trace, redrawn as the annotated text.

use super::harness::{run_lab, text, TempDir};

/// A facilitator saves a trace with `--json` on one machine and replays it on another. The
/// replay shows the same story as the live text: the stage header, the kevent calls with their
/// flags decoded, each wait with its duration (`» wait 300 ms`, from the record's `ms`), and
/// the summary with the same counts.
#[test]
fn a_saved_json_trace_replays_as_annotated_text() {
    let state = TempDir::new("replay");
    let live = run_lab(&state, &["clear", "--port", "0", "--json"], None);
    assert!(live.status.success(), "{}", text(&live.stderr));
    let file = state.path().join("clear.jsonl");
    std::fs::write(&file, &live.stdout).unwrap();
    let json = text(&live.stdout);
    assert!(
        json.contains("\"type\":\"action\",\"action\":\"wait\",\"ms\":300}"),
        "{json}"
    );

    let replay = run_lab(&state, &["replay", file.to_str().unwrap()], None);
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let out = text(&replay.stdout);
    assert!(out.contains("lab clear"), "{out}");
    assert!(out.contains("ADD|CLEAR"), "{out}");
    assert!(out.contains("» wait 300 ms"), "{out}");
    assert!(out.contains("conn1 READ ×3"), "{out}");
    assert!(!out.contains('\x1b'), "piped replay must be plain");
}

/// Mistakes with the file: a missing file, a file that is not a trace, a truncated line. Each
/// gives exit status 1 and one line on stderr naming the problem; no argument at all is a
/// usage error (2). Never a panic.
#[test]
fn bad_replay_files_give_one_line_errors() {
    let state = TempDir::new("replay-bad");
    let missing = state.path().join("nope.jsonl");
    let garbage = state.path().join("garbage.jsonl");
    std::fs::write(&garbage, "hello, I am not JSON\n").unwrap();
    let truncated = state.path().join("truncated.jsonl");
    std::fs::write(
        &truncated,
        "{\"t\":0,\"type\":\"note\",\"text\":\"fine\"}\n{\"t\":0.1,\"type\":\"kevent\",\"call\":",
    )
    .unwrap();
    let empty = state.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();

    for (file, expect) in [
        (&missing, "cannot read"),
        (&garbage, "line 1"),
        (&truncated, "line 2"),
        (&empty, "no trace records"),
    ] {
        let output = run_lab(&state, &["replay", file.to_str().unwrap()], None);
        assert_eq!(output.status.code(), Some(1), "{}", file.display());
        let err = text(&output.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains(expect), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }

    let no_arg = run_lab(&state, &["replay"], None);
    assert_eq!(no_arg.status.code(), Some(2));
}

/// A facilitator shows a trace recorded on a Mac to a Linux room. The file names filters and
/// flags, not numbers (EVFILT_USER is -10 on macOS and -11 on FreeBSD), so the Linux replay
/// decodes them correctly and its header says where the trace came from.
#[test]
fn a_trace_from_a_mac_replays_on_any_machine() {
    let state = TempDir::new("replay-mac");
    let file = state.path().join("from-a-mac.jsonl");
    let mac_trace = [
        r#"{"t":0,"type":"start","stage":"oneshot","backend":"native","os":"macOS","addr":"127.0.0.1:5882"}"#,
        r#"{"t":0.001,"type":"kevent","call":1,"changes":[{"ident":7,"label":"conn1","filter":"READ","flags":["ADD","ONESHOT"],"fflags":0,"data":0,"udata":7},{"ident":1,"label":"keys","filter":"USER","flags":["ADD","CLEAR"],"fflags":0,"data":0,"udata":1}],"nevents":8,"timeout_ms":300,"events":[{"ident":7,"label":"conn1","filter":"READ","flags":["ONESHOT"],"fflags":0,"data":5,"udata":7}],"repeat":1,"blocked_s":0.0001,"os_calls":["kevent(2 changes, 8 events) = 1"]}"#,
        r#"{"t":0.001,"type":"note","text":"EV_ONESHOT: the knote was deleted as this event was delivered"}"#,
        r#"{"t":0.3,"type":"summary","kevent_calls":1,"changes":2,"events":1,"by_label":{"conn1 READ":1}}"#,
    ]
    .join("\n");
    std::fs::write(&file, mac_trace).unwrap();

    let replay = run_lab(&state, &["replay", file.to_str().unwrap()], None);
    assert!(replay.status.success(), "{}", text(&replay.stderr));
    let out = text(&replay.stdout);
    assert!(out.contains("native kqueue (macOS)"), "{out}");
    assert!(out.contains("<ADD|ONESHOT>"), "{out}");
    assert!(out.contains("USER  keys"), "{out}");
    assert!(out.contains("the knote was deleted"), "{out}");
    assert!(out.contains("conn1 READ ×1"), "{out}");
}

/// A facilitator saves a flood with `--json` and replays it from standard input
/// (`lab replay - < flood.jsonl`). The collapsed flood reads as in the live run: one count line
/// whose count is the live summary's number of conn1 READ events, with its rate.
#[test]
fn a_replayed_flood_shows_the_live_count_and_rate() {
    let state = TempDir::new("replay-flood");
    let live = run_lab(&state, &["flood", "--port", "0", "--json"], None);
    assert!(live.status.success(), "{}", text(&live.stderr));
    let summary = crate::support::trace::parse_trace(&text(&live.stdout))
        .into_iter()
        .find(|r| r["type"] == "summary")
        .expect("a summary");
    let floods = summary["by_label"]["conn1 READ"]
        .as_u64()
        .expect("conn1 READ events");

    let output = run_lab(&state, &["replay", "-"], Some(&text(&live.stdout)));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    let count_line = out
        .lines()
        .find(|l| l.contains("↻ READ conn1"))
        .unwrap_or_else(|| panic!("no count line in:\n{out}"));
    let count = floods.to_string();
    let grouped: String = count
        .chars()
        .rev()
        .collect::<Vec<_>>()
        .chunks(3)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
        .chars()
        .rev()
        .collect();
    assert!(
        count_line.contains(&format!("×{grouped} in ")),
        "live count {grouped}: {count_line}"
    );
    assert!(count_line.contains("/s)"), "a rate: {count_line}");
}

/// Someone replays a file that never ends a line (`lab replay /dev/zero`): one error line
/// saying the line is too long, exit status 1, in bounded memory and time (the reader stops at
/// the cap instead of reading until memory runs out).
#[test]
fn an_endless_line_is_one_error_not_an_out_of_memory() {
    let state = TempDir::new("replay-zero");
    let output = run_lab(&state, &["replay", "/dev/zero"], None);
    assert_eq!(output.status.code(), Some(1));
    let err = text(&output.stderr);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("longer than"), "{err}");
}
