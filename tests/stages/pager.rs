//! `--pager`: a long trace read in a pager that keeps its colours (lesson 6's "marked in red"),
//! for the stages, the server and `lab replay`. In a terminal the run plays its tour (no keys
//! reach lab while the pager owns the keyboard) and waits for the pager; `q` ends it cleanly.
//! Piped, `--pager` does nothing, as with git.
//!
//! The terminal tests use `less` (`lessons::pager::pager_env`), with tmux as the terminal.

use std::process::Stdio;

use super::run::{parse_lines, run_lab, wait_output};
use crate::lessons::pager::pager_env;
use crate::support::tmux::{Tmux, SCREEN_PATIENCE};
use crate::support::trace::{Field, Value};
use crate::support::{lab, wait_until, TempDir};

/// `less`'s prompt is on the last row: it shows a page and waits for a key.
fn pager_prompt(rows: &str) -> bool {
    rows.lines()
        .rfind(|l| !l.trim().is_empty())
        .is_some_and(|l| l.starts_with(':') || l.starts_with("(END)"))
}

/// The shell printed lab's exit status (the typed command line also holds the words, so only a
/// whole line counts).
fn exited(rows: &str) -> bool {
    rows.lines()
        .any(|l| l.trim_end().starts_with("exit status "))
}

/// An attendee on an 80×24 laptop runs `lab flood --port 0 --pager`. The trace opens in the
/// pager: the stage's header on screen, the pager's prompt on the last row, colours as on the
/// terminal, and lab still running behind the pager (no exit status yet). No key footer: the
/// tour plays by itself. `G` shows its end, the summary; `q` quits the pager, lab exits 0, the
/// terminal is usable, and the tour, run to its end, marked lesson 1 done.
#[test]
fn a_stage_trace_opens_in_the_pager_with_colour_and_q_returns_to_the_shell() {
    let tmux = Tmux::start("tracepager", 80, 24, &pager_env());
    tmux.run_lab("", "flood --port 0 --pager");
    let rows = tmux.wait_for_visible("the flood's trace in the pager", |s| {
        s.contains("lab flood") && pager_prompt(s)
    });
    assert!(!exited(&rows), "lab did not wait for the pager:\n{rows}");
    assert!(
        !rows.contains("c connect"),
        "no key footer in the pager:\n{rows}"
    );
    let colours = tmux.visible_with_colours();
    assert!(
        colours.contains("\u{1b}["),
        "the pager shows the trace without colour:\n{colours}"
    );
    tmux.press("G");
    tmux.wait_for_visible("the end of the trace", |s| {
        s.contains("summary:") && s.contains("(END)")
    });
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
    let progress = std::fs::read_to_string(tmux.state_dir().join("progress")).unwrap_or_default();
    assert!(
        progress.lines().any(|l| l == "flood"),
        "the tour in the pager marks lesson 1 done: {progress:?}"
    );
}

/// A facilitator pages the server tour (`lab server --port 0 --pager`) and presses Ctrl-C in
/// the pager: the pager keeps the terminal, and lab ends its run behind it. `G` in the pager
/// shows the end of the trace, the summary; `q` then returns to the shell, exit 0, terminal
/// intact.
#[test]
fn ctrl_c_in_the_pager_leaves_the_pager_in_charge_and_q_ends_lab() {
    let tmux = Tmux::start("tracepagerint", 80, 24, &pager_env());
    tmux.run_lab("", "server --port 0 --pager");
    tmux.wait_for_visible("the server's trace in the pager", |s| {
        s.contains("lab server") && pager_prompt(s)
    });
    tmux.press("C-c");
    // `less` drops keys typed ahead when it gets the interrupt: `G` again until it is taken.
    let mut rows = String::new();
    let mut looks = 0;
    let end_shown = wait_until(SCREEN_PATIENCE, || {
        if looks % 50 == 0 {
            tmux.press("G");
        }
        looks += 1;
        rows = tmux.visible();
        rows.contains("summary:") && rows.contains("(END)")
    });
    assert!(
        end_shown,
        "never saw the end of the trace in the pager:\n{rows}"
    );
    assert!(!exited(&rows), "lab ended before the pager:\n{rows}");
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// `lab flood --external --pager` in a small terminal (80×8, so the header fills a page and
/// the pager takes keys: `less` reads no key while it waits for a first screenful): nothing happens until a client comes, and the person quits the pager.
/// lab does not wait for a client that may never come: it ends at once, exit 0.
#[test]
fn quitting_the_pager_ends_an_idle_external_run() {
    let tmux = Tmux::start("tracepagerext", 80, 8, &pager_env());
    tmux.run_lab("", "flood --port 0 --external --pager");
    tmux.wait_for_visible("the trace in the pager", pager_prompt);
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// A saved trace (`lab oneshot --json > trace.json`) replayed with `lab replay trace.json
/// --pager`: the text opens in the pager, coloured; `q` returns to the shell, exit 0.
#[test]
fn a_replay_opens_in_the_pager_with_colour() {
    let dir = TempDir::new("pager");
    let file = dir.path().join("trace.json");
    let output = run_lab(&["oneshot", "--json", "--port", "0"]);
    assert!(output.status.success(), "{output:?}");
    std::fs::write(&file, &output.stdout).expect("save the trace");
    let tmux = Tmux::start("replaypager", 80, 24, &pager_env());
    tmux.run_lab("", &format!("replay {} --pager", file.display()));
    let rows = tmux.wait_for_visible("the replay in the pager", |s| {
        s.contains("lab oneshot") && pager_prompt(s)
    });
    assert!(!exited(&rows), "lab did not wait for the pager:\n{rows}");
    let colours = tmux.visible_with_colours();
    assert!(colours.contains("\u{1b}["), "no colour:\n{colours}");
    tmux.press("q");
    tmux.wait_for_exit_status(0);
}

/// The actions of a run, in order: what the tour did, whatever the timings.
fn actions(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["type"] == "action")
        .map(|r| r["action"].str().to_string())
        .collect()
}

/// Piped (`lab oneshot --port 0 --pager > trace.txt`), `--pager` does nothing: the plain text
/// trace, with no escape codes even with NO_COLOR unset, and no pager waiting for a key.
#[test]
fn piped_pager_is_the_plain_trace() {
    let mut command = lab(&["oneshot", "--port", "0", "--pager"]);
    command.env_remove("NO_COLOR").env("PAGER", "less");
    let output = wait_output(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lab"),
    );
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(!text.contains('\u{1b}'), "escape codes in a pipe:\n{text}");
    assert!(
        text.contains("lab oneshot") && text.contains("summary:"),
        "{text}"
    );
}

/// `lab oneshot --json --pager | jq`: the same JSON lines as without `--pager`, every line a
/// record, the same tour.
#[test]
fn piped_json_pager_is_the_same_json() {
    let paged = run_lab(&["oneshot", "--json", "--port", "0", "--pager"]);
    let plain = run_lab(&["oneshot", "--json", "--port", "0"]);
    assert!(paged.status.success() && plain.status.success());
    let paged = parse_lines(&String::from_utf8_lossy(&paged.stdout));
    let plain = parse_lines(&String::from_utf8_lossy(&plain.stdout));
    assert_eq!(actions(&paged), actions(&plain));
    assert!(!actions(&paged).is_empty());
    assert_eq!(paged.last().map(|r| r["type"].str()), Some("summary"));
}

/// `lab replay trace.json --pager > out.txt` writes exactly what `lab replay trace.json` does.
#[test]
fn piped_replay_with_pager_is_byte_for_byte_the_replay() {
    let dir = TempDir::new("pager");
    let file = dir.path().join("trace.json");
    let output = run_lab(&["flood", "--json", "--port", "0"]);
    assert!(output.status.success());
    std::fs::write(&file, &output.stdout).expect("save the trace");
    let path = file.to_str().expect("a UTF-8 temp path");
    let paged = run_lab(&["replay", path, "--pager"]);
    let plain = run_lab(&["replay", path]);
    assert!(paged.status.success(), "{paged:?}");
    assert_eq!(paged.stdout, plain.stdout);
    assert!(!paged.stdout.is_empty());
}
