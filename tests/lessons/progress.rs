//! Progress: a lesson is done when its own tour (or `--predict`) ran to the end, and only then.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use super::harness::{run_lab, text, TempDir};
use crate::support::wait_until;

fn progress(state: &TempDir) -> Vec<String> {
    crate::support::lessons_done(state.path())
}

/// A new attendee follows lesson 0: its first command is a script on the flood stage. It shows
/// the flood, but it is not lesson 1's tour, so lesson 1 is still to do; the tour itself, run
/// to its end, marks it.
#[test]
fn lesson_0s_first_command_does_not_finish_lesson_1() {
    let state = TempDir::new("progress-lesson0");
    let (_, welcome) = super::harness::lesson_files()
        .into_iter()
        .find(|(file, _)| file.starts_with("00-"))
        .expect("lesson 0");
    let first = super::harness::fences(&welcome)
        .into_iter()
        .filter(|fence| fence.info == "sh")
        .flat_map(|fence| fence.lines)
        .find(|line| line.starts_with("lab flood"))
        .expect("lesson 0 runs the flood stage");
    let dir = TempDir::new("progress-lesson0-dir");
    let first = super::harness::with_port_zero(&first);
    let run = super::harness::run_shell(&first, &dir, &state);
    assert!(run.status.success(), "{first}: {}", text(&run.stderr));
    assert!(!progress(&state).contains(&"flood".to_string()), "{first}");

    let tour = run_lab(&state, &["flood", "--port", "0"], None);
    assert!(tour.status.success(), "{}", text(&tour.stderr));
    assert_eq!(progress(&state), vec!["flood".to_string()]);
}

/// An attendee starts the server lesson's tour and stops it with Ctrl-C halfway through. The
/// run ends cleanly, but the lesson is not done: only a tour that ran to its end counts.
#[test]
fn a_tour_stopped_with_ctrl_c_does_not_finish_its_lesson() {
    let state = TempDir::new("progress-sigint");
    let mut child = crate::support::lab(&["server", "--port", "0"])
        .env("LAB_STATE_DIR", state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lab");
    // Wait until the loop runs (its first kevent line), then interrupt it.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let started = lines
        .by_ref()
        .any(|l| l.is_ok_and(|l| l.contains("kevent(")));
    assert!(started, "the server tour never printed a kevent call");
    let pid = child.id().to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success());
    // Drain the rest so the server can finish writing; it must end by itself.
    let rest = std::thread::spawn(move || lines.count());
    let mut status = None;
    let ended = wait_until(Duration::from_secs(30), || {
        status = child.try_wait().expect("wait for lab");
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
    }
    assert!(ended, "the server did not stop after SIGINT");
    let _ = rest.join();
    assert!(
        !progress(&state).contains(&"server".to_string()),
        "{:?}",
        progress(&state)
    );
}

/// `--predict` with the attendee's own script grades that script's run, and the lesson stays
/// to do (it was not the tour); `--predict` on the tour marks it.
#[test]
fn predict_grades_the_script_that_runs_and_only_the_tour_finishes_the_lesson() {
    let state = TempDir::new("progress-predict");
    let scripted = run_lab(
        &state,
        &[
            "oneshot",
            "--port",
            "0",
            "--predict",
            "--script",
            "send hello; wait 200",
        ],
        Some("1\n"),
    );
    assert!(scripted.status.success(), "{}", text(&scripted.stderr));
    let out = text(&scripted.stdout);
    assert!(
        out.contains("Right. You said 1; the trace counted 1"),
        "{out}"
    );
    assert!(out.contains("not the default tour"), "{out}");
    assert!(progress(&state).is_empty(), "{:?}", progress(&state));

    let tour = run_lab(
        &state,
        &["oneshot", "--port", "0", "--predict"],
        Some("2\n"),
    );
    assert!(tour.status.success(), "{}", text(&tour.stderr));
    assert_eq!(progress(&state), vec!["oneshot".to_string()]);
}

/// An attendee runs a lesson's command as the lesson prints it, with `--tour`: the tour runs to
/// its end and the lesson is marked done, as a piped run or `--predict` would.
#[test]
fn a_finished_tour_run_marks_its_lesson_done() {
    let state = TempDir::new("progress-tour");
    let run = run_lab(&state, &["dispatch", "--port", "0", "--tour"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));
    assert_eq!(progress(&state), vec!["dispatch".to_string()]);
}
