//! `lab lessons` and `lab lesson N`, and the progress file behind the ✓ marks.

use super::harness::{run_lab, text, TempDir};

/// A new attendee types `lab lessons`: all ten lessons are listed by number and name, none is
/// marked done, and the list says what to do next and where progress is kept.
#[test]
fn lab_lessons_lists_every_lesson_with_no_progress_at_first() {
    let state = TempDir::new("list");
    let output = run_lab(&state, &["lessons"], None);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let out = text(&output.stdout);
    for name in [
        "welcome",
        "flood",
        "oneshot",
        "dispatch",
        "clear",
        "server",
        "bug-hunt",
        "epoll",
        "facilitator",
        "check",
    ] {
        assert!(out.contains(name), "`{name}` missing from:\n{out}");
    }
    assert!(out.contains("0 of 10 lessons done"), "{out}");
    assert!(!out.contains('✓'), "nothing is done yet:\n{out}");
    assert!(out.contains("next: lab lesson 0"), "{out}");
    assert!(out.contains(&state.path().display().to_string()), "{out}");
}

/// The attendee reads lesson 2. The check-yourself answers are hidden, with a hint on how to
/// see them; with `--answers` they are shown. Piped output has no colour codes.
#[test]
fn lab_lesson_2_hides_the_answers_unless_asked() {
    let state = TempDir::new("answers");
    let hidden = run_lab(&state, &["lesson", "2"], None);
    assert!(hidden.status.success(), "{}", text(&hidden.stderr));
    let hidden = text(&hidden.stdout);
    assert!(hidden.contains("EV_ONESHOT"), "{hidden}");
    assert!(hidden.contains("lab lesson 2 --answers"), "{hidden}");
    assert!(!hidden.contains("ENOENT"), "an answer leaked:\n{hidden}");
    assert!(!hidden.contains('\x1b'), "piped output must be plain");
    assert!(
        !hidden.contains("<details>"),
        "HTML must not reach the terminal"
    );

    let shown = run_lab(&state, &["lesson", "oneshot", "--answers"], None);
    assert!(shown.status.success());
    let shown = text(&shown.stdout);
    assert!(shown.contains("ENOENT"), "the answer is missing:\n{shown}");
    assert!(shown.contains("next: lab lesson 3"), "{shown}");
}

/// `--color always` styles the lesson with ANSI codes even when piped; NO_COLOR does not
/// override an explicit `always`.
#[test]
fn lab_lesson_respects_color_always() {
    let state = TempDir::new("color");
    let output = run_lab(&state, &["lesson", "1", "--color", "always"], None);
    assert!(output.status.success());
    assert!(text(&output.stdout).contains('\x1b'));
}

/// A typo: `lab lesson nine`. One line on stderr lists the valid lessons; exit status 2.
#[test]
fn an_unknown_lesson_is_a_usage_error_listing_the_valid_ones() {
    let state = TempDir::new("unknown");
    for bad in ["nine", "99"] {
        let output = run_lab(&state, &["lesson", bad], None);
        assert_eq!(output.status.code(), Some(2));
        let err = text(&output.stderr);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(
            err.contains("2 oneshot") && err.contains("8 facilitator"),
            "{err}"
        );
    }
}

/// The attendee reads the welcome lesson and runs the clear stage's tour to its end (piped),
/// then closes the terminal. A new process (`lab lessons` tomorrow) still shows both as done, and the progress
/// file is plain text naming them. `lab lessons --reset` forgets everything.
#[test]
fn progress_survives_a_restart_and_reset_clears_it() {
    let state = TempDir::new("progress");
    assert!(run_lab(&state, &["lesson", "welcome"], None)
        .status
        .success());
    let run = run_lab(&state, &["clear", "--port", "0"], None);
    assert!(run.status.success(), "{}", text(&run.stderr));

    let file = std::fs::read_to_string(state.path().join("progress")).expect("progress file");
    assert!(file.lines().any(|l| l == "welcome"), "{file}");
    assert!(file.lines().any(|l| l == "clear"), "{file}");

    let list = text(&run_lab(&state, &["lessons"], None).stdout);
    let marked = |name: &str| {
        list.lines()
            .any(|l| l.contains('✓') && l.split_whitespace().any(|w| w == name))
    };
    assert!(marked("welcome") && marked("clear"), "{list}");
    assert!(!marked("flood"), "{list}");
    assert!(list.contains("2 of 10 lessons done"), "{list}");

    let reset = run_lab(&state, &["lessons", "--reset"], None);
    assert!(reset.status.success());
    let after = text(&reset.stdout);
    assert!(after.contains("0 of 10 lessons done"), "{after}");
    assert!(!after.contains('✓'), "{after}");
    assert!(!state.path().join("progress").exists());
}

/// The raw epoll twin (`lab server --backend epoll`, Linux) belongs to lesson 7 ("epoll"), not
/// to the server lesson: a run of it to its end marks "epoll" done and leaves "server" (and the
/// bug hunt) not done. The tour, with `--quiet`, is the run.
#[cfg(target_os = "linux")]
#[test]
fn an_epoll_backend_server_run_marks_no_lesson() {
    let state = TempDir::new("epoll-progress");
    let run = run_lab(
        &state,
        &["server", "--backend", "epoll", "--port", "0", "--quiet"],
        None,
    );
    assert!(run.status.success(), "{}", text(&run.stderr));
    let list = text(&run_lab(&state, &["lessons"], None).stdout);
    let row = |name: &str| {
        list.lines()
            .find(|l| l.split_whitespace().any(|w| w == name))
            .unwrap_or_else(|| panic!("lesson {name} listed:\n{list}"))
    };
    assert!(row("epoll").contains('✓'), "epoll marked done:\n{list}");
    assert!(!row("server").contains('✓'), "server not done:\n{list}");
    assert!(!row("bug-hunt").contains('✓'), "bug hunt not done:\n{list}");
}

/// The server lessons are marked by the tour of the command that runs them: plain `lab server`
/// completes lesson 5, `--as-published` the bug hunt (lesson 6). `--quiet` keeps the tour's
/// output to its summary.
#[test]
fn server_runs_mark_their_own_lessons() {
    let state = TempDir::new("server-progress");
    let quick = ["--port", "0", "--quiet"];
    let plain: Vec<&str> = ["server"].iter().chain(&quick).copied().collect();
    assert!(run_lab(&state, &plain, None).status.success());
    let list = text(&run_lab(&state, &["lessons"], None).stdout);
    let marked = |name: &str| {
        list.lines()
            .any(|l| l.contains('✓') && l.split_whitespace().any(|w| w == name))
    };
    assert!(marked("server") && !marked("bug-hunt"), "{list}");

    let published: Vec<&str> = ["server", "--as-published"]
        .iter()
        .chain(&quick)
        .copied()
        .collect();
    assert!(run_lab(&state, &published, None).status.success());
    let list = text(&run_lab(&state, &["lessons"], None).stdout);
    assert!(
        list.lines()
            .any(|l| l.contains('✓') && l.contains("bug-hunt")),
        "{list}"
    );
}

/// A newcomer types plain `lab`: the help lists the commands and its last line says where to
/// begin, `lab lessons`. Exit 0.
#[test]
fn plain_lab_ends_its_help_with_start_with_lab_lessons() {
    let state = TempDir::new("plain-lab");
    let out = run_lab(&state, &[], None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let help = text(&out.stdout);
    let last = help
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    assert!(last.contains("start with `lab lessons`"), "{help}");
    assert!(help.contains("explain"), "{help}");
}
