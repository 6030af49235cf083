//! Interactive mode in a real terminal. tmux plays the terminal (see `support::tmux`): a
//! detached session of fixed size runs a shell, the test types keys into it and reads the
//! screen, waiting for each expected sight with a deadline.
//!
//! These tests need tmux (CI installs it); without it they fail and say so.

use crate::support::tmux::Tmux;

/// A roomy terminal, 110 columns by 32 rows.
fn terminal() -> Tmux {
    terminal_sized(110, 32)
}

/// A terminal of `width` columns by `height` rows. A stage run to its end records its
/// progress in the terminal's own scratch directory.
fn terminal_sized(width: u16, height: u16) -> Tmux {
    Tmux::start("stages", width, height, &[])
}

/// What these tests do in every terminal (an addition to the shared [`Tmux`]).
impl Tmux {
    /// Start `lab flood --port 0` in the shell and wait for its key footer. `env` is put
    /// before the command (`LAB_TEST_FAULT=panic`, or nothing).
    fn start_flood(&self, env: &str) {
        self.run_lab(env, "flood --port 0");
        self.wait_for("the key footer", |s| {
            s.contains("c connect") && s.contains("q quit")
        });
    }

    /// Press `s` and wait for the level-triggered flood's live count.
    fn send_and_flood(&self) {
        self.press("s");
        self.wait_for("the live flood count", |s| {
            s.contains("↻ READ conn1 data=4 ×")
        });
    }
}

/// A person runs `lab flood` in a terminal. The key footer is visible. `s` sends "ping": the
/// trace shows conn1 with 4 bytes waiting, the key's EVFILT_USER wake-up, and the flood
/// collapsed into a live count. `r` reads the bytes, `k` shows the knote table, `q` ends
/// the stage with a summary, and the shell is usable again.
#[test]
fn keys_drive_the_flood_and_q_restores_the_terminal() {
    let tmux = terminal();
    tmux.start_flood("");
    tmux.press("s");
    tmux.wait_for("conn1's 4 bytes", |s| {
        s.contains("READ  conn1") && s.contains("data=4")
    });
    tmux.wait_for("the key wake-up", |s| s.contains("USER  keys"));
    tmux.wait_for("the live flood count", |s| {
        s.contains("↻ READ conn1 data=4 ×")
    });
    tmux.wait_for("the footer under the flood", |s| s.contains("q quit"));
    tmux.press("r");
    tmux.wait_for("the read", |s| {
        s.contains("the server read 4 bytes from conn1")
    });
    let tables = tmux.screen().matches("knotes:").count();
    tmux.press("k");
    tmux.wait_for("the knote table", |s| s.matches("knotes:").count() > tables);
    tmux.press("q");
    tmux.wait_for("the summary", |s| s.contains("summary:"));
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// A person presses Ctrl-C while the flood is running flat out: the stage ends with its
/// summary and the terminal is restored.
#[test]
fn ctrl_c_mid_flood_ends_the_stage_and_restores_the_terminal() {
    let tmux = terminal();
    tmux.start_flood("");
    tmux.send_and_flood();
    tmux.press("C-c");
    tmux.wait_for("the summary", |s| s.contains("summary:"));
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// A panic in the middle of an interactive run (reached through the `LAB_TEST_FAULT=panic`
/// test hook, right after the first key, with the terminal in raw mode): the panic message is
/// printed readably, each line from the first column (raw mode would make a staircase of it),
/// lab exits with status 101, and the shell is usable again.
#[test]
fn a_panic_prints_a_readable_message_and_restores_the_terminal() {
    let tmux = terminal();
    tmux.start_flood("LAB_TEST_FAULT=panic");
    tmux.press("s");
    tmux.wait_for_exit_status(101);
    let screen = tmux.screen();
    assert!(
        screen
            .lines()
            .any(|l| l.starts_with("thread 'main'") && l.contains("panicked at")),
        "a line starting with the panic's location:\n{screen}"
    );
    for start in [
        "LAB_TEST_FAULT=panic: a deliberate panic (test hook)",
        "note: run with `RUST_BACKTRACE=1`",
    ] {
        assert!(
            screen.lines().any(|l| l.starts_with(start)),
            "a line starting with {start:?}:\n{screen}"
        );
    }
    assert!(
        !screen.contains("c connect"),
        "the key footer was erased before the message:\n{screen}"
    );
    tmux.assert_terminal_usable();
}

/// A runtime error in the middle of an interactive run (the `LAB_TEST_FAULT=error` test hook,
/// right after the first key): lab prints its one-line `lab: …` error from the first column,
/// exits with status 1, and the shell is usable again.
#[test]
fn a_runtime_error_prints_one_line_and_restores_the_terminal() {
    let tmux = terminal();
    tmux.start_flood("LAB_TEST_FAULT=error");
    tmux.press("s");
    tmux.wait_for_exit_status(1);
    let screen = tmux.screen();
    assert!(
        screen
            .lines()
            .any(|l| l == "lab: LAB_TEST_FAULT=error: a deliberate runtime error (test hook)"),
        "the error on a line of its own:\n{screen}"
    );
    tmux.assert_terminal_usable();
}

/// The two footer lines are the last two rows of the screen, under the trace.
fn footer_at_the_bottom(rows: &str) -> bool {
    let rows: Vec<&str> = rows.lines().collect();
    rows.len() >= 2
        && rows[rows.len() - 2].starts_with("── lab flood")
        && rows[rows.len() - 1].starts_with("c connect")
        && rows[rows.len() - 1].contains("q quit")
}

/// A person runs `lab flood` in a small terminal (80 × 20) and starts a flood: the trace
/// fills the screen and scrolls, and the key footer stays on the bottom two rows under the
/// live count. `k` prints the knote table, taller than what is left of the screen: the footer
/// is still on the bottom two rows afterwards.
#[test]
fn in_a_small_terminal_the_footer_stays_at_the_bottom_through_a_flood_and_the_knote_table() {
    let tmux = terminal_sized(80, 20);
    tmux.start_flood("");
    tmux.send_and_flood();
    tmux.wait_for_visible(
        "the footer on the bottom rows under the live count",
        |rows| {
            let lines: Vec<&str> = rows.lines().collect();
            lines.len() == 20
                && footer_at_the_bottom(rows)
                && lines[17].contains("↻ READ conn1 data=4 ×")
        },
    );
    let tables = tmux.screen().matches("knotes:").count();
    tmux.press("k");
    tmux.wait_for("the knote table", |s| s.matches("knotes:").count() > tables);
    tmux.wait_for_visible(
        "the footer on the bottom rows after the knote table",
        |rows| rows.lines().count() == 20 && footer_at_the_bottom(rows),
    );
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// The key that rearms, and what a person sees after it in each stage (the `✎` note and, where
/// the stage re-arms with a change, the change itself).
fn rearm_sight(stage: &str) -> &'static str {
    match stage {
        "flood" => "no re-arm needed: a level-triggered knote",
        "oneshot" => "re-arming is a new EV_ADD (B15)",
        "dispatch" => "re-arming is EV_ENABLE (B16)",
        "clear" => "no re-arm needed: an EV_CLEAR knote",
        other => panic!("no stage {other}"),
    }
}

/// A person drives `lab STAGE` with every key of the footer but `r` and `k` (which the flood
/// test covers), waiting to see each key's effect before pressing the next:
/// - `c` opens conn2 (the built-in client opened conn1 at the start) and makes it current;
/// - `1` goes back to conn1, and `s` sends "ping" on conn1 (4 bytes, reported for conn1), except
///   in flood, where a send starts the flood the other tests drive;
/// - `a` re-arms conn1 as the stage teaches (or says why it needs no re-arm);
/// - `2` selects conn2 again and `x` closes it;
/// - a key with no action (`z`) and a connection that does not exist (`9`) each get a note,
///   and nothing else happens;
/// - Esc ends the stage with its summary and exit status 0, and the terminal is usable again.
fn every_key_in(stage: &str) {
    let tmux = terminal();
    tmux.run_lab("", &format!("{stage} --port 0 --hide-os-calls"));
    tmux.wait_for("the key footer and conn1", |s| {
        s.contains(&format!("── lab {stage}"))
            && s.contains("c connect")
            && s.contains("» connect conn1")
    });
    tmux.press("c");
    tmux.wait_for("conn2 opened", |s| s.contains("» connect conn2"));
    tmux.press("1");
    tmux.wait_for("conn1 selected", |s| s.contains("» use conn1"));
    if stage != "flood" {
        tmux.press("s");
        tmux.wait_for("ping sent on conn1 and reported for conn1", |s| {
            s.contains("» send conn1 (4 bytes)")
                && s.lines()
                    .any(|l| l.contains("◂ READ  conn1") && l.contains("data=4"))
        });
    }
    tmux.press("a");
    tmux.wait_for("the re-arm of conn1", |s| {
        s.contains("» rearm conn1") && s.contains(rearm_sight(stage))
    });
    // The change a re-arm makes, where the stage makes one: a second ADD|ONESHOT for conn1
    // (the first registered it), or an ENABLE.
    let rearm_change = match stage {
        "oneshot" => Some(("flags=0x11<ADD|ONESHOT>", 2)),
        "dispatch" => Some(("flags=0x4<ENABLE>", 1)),
        _ => None,
    };
    if let Some((change, times)) = rearm_change {
        tmux.wait_for("the re-arm's change", |s| {
            s.lines()
                .filter(|l| l.contains("▸ READ  conn1") && l.contains(change))
                .count()
                == times
        });
    }
    tmux.press("2");
    tmux.wait_for("conn2 selected", |s| s.contains("» use conn2"));
    tmux.press("x");
    tmux.wait_for("conn2 closed", |s| s.contains("» close conn2"));
    tmux.press("z");
    tmux.wait_for("the note on an unbound key", |s| {
        s.contains("does nothing; the keys are in the footer")
    });
    tmux.press("9");
    tmux.wait_for("the note on a missing connection", |s| {
        s.contains("there is no connection 9")
    });
    let screen = tmux.screen();
    assert!(
        !screen.contains("» use conn9") && !screen.contains("» use conn0"),
        "no connection selected by `9`:\n{screen}"
    );
    tmux.press("Escape");
    tmux.wait_for("the summary", |s| s.contains("summary:"));
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// Every key of the footer in `lab flood` (see [`every_key_in`]).
#[test]
fn every_key_works_in_flood_and_escape_restores_the_terminal() {
    every_key_in("flood");
}

/// Every key of the footer in `lab oneshot`: `a` adds conn1's knote again with EV_ADD|ONESHOT.
#[test]
fn every_key_works_in_oneshot_and_escape_restores_the_terminal() {
    every_key_in("oneshot");
}

/// Every key of the footer in `lab dispatch`: `a` re-enables conn1's knote with EV_ENABLE.
#[test]
fn every_key_works_in_dispatch_and_escape_restores_the_terminal() {
    every_key_in("dispatch");
}

/// Every key of the footer in `lab clear`: `a` explains that EV_CLEAR needs no re-arm.
#[test]
fn every_key_works_in_clear_and_escape_restores_the_terminal() {
    every_key_in("clear");
}

/// The lessons this terminal's runs marked done (its own progress file).
fn progress_in(tmux: &Tmux) -> Vec<String> {
    crate::support::lessons_done(tmux.state_dir())
}

/// An attendee types lesson 1's command, `lab flood --port 0 --tour`, in a real terminal of
/// 80 × 24: the tour plays by itself (send, the flood, the read) and the stage ends with its
/// summary, with no key footer and no key needed; lesson 1 is marked done.
#[test]
fn tour_in_a_terminal_plays_the_tour_and_ends_by_itself() {
    let tmux = terminal_sized(80, 24);
    tmux.run_lab("", "flood --port 0 --tour");
    tmux.wait_for_exit_status(0);
    let screen = tmux.screen();
    for sight in [
        "» send conn1 (5 bytes)",
        "↻ READ conn1 data=5 ×",
        "the server read 5 bytes from conn1",
        "summary:",
    ] {
        assert!(screen.contains(sight), "{sight:?} in the tour:\n{screen}");
    }
    assert!(
        !screen.contains("c connect") && !screen.contains("q quit"),
        "no key footer in a --tour run:\n{screen}"
    );
    assert_eq!(
        progress_in(&tmux),
        ["flood"],
        "the finished tour marks lesson 1"
    );
}

/// A facilitator narrates `lab flood --port 0 --step` at 80 × 24. The prompt line names the
/// next step and waits: nothing connects until Space. After Space the client connects and
/// the prompt names the send; after Space again the flood runs, and keeps running while the
/// prompt for the read waits (the live count moves on, and no read happens). Enter performs
/// the read; the run then ends by itself with its summary, the prompt is gone from the screen,
/// the terminal is usable and the lesson is done.
#[test]
fn step_waits_for_space_before_each_step() {
    let tmux = terminal_sized(80, 24);
    tmux.run_lab("", "flood --port 0 --step");
    let screen = tmux.wait_for("the first prompt", |s| {
        s.contains("step 1 of 3: connect") && s.contains("Space: next step, q: quit")
    });
    assert!(
        !screen.contains("» connect conn1"),
        "waits for Space:\n{screen}"
    );

    tmux.press("Space");
    let screen = tmux.wait_for("the connect, then the second prompt", |s| {
        s.contains("» connect conn1") && s.contains("step 2 of 3: send hello, then wait 1000 ms")
    });
    assert!(
        !screen.contains("» send conn1"),
        "waits for Space:\n{screen}"
    );

    tmux.press("Space");
    tmux.wait_for("the send, then the third prompt", |s| {
        s.contains("» send conn1 (5 bytes)") && s.contains("step 3 of 3: read")
    });
    // While the prompt waits, the loop runs: the flood's live count moves on by itself.
    let count = |s: &str| {
        s.lines()
            .rev()
            .find(|l| l.contains("↻ READ conn1 data=5 ×"))
            .map(str::to_string)
    };
    let first = count(&tmux.screen());
    let screen = tmux.wait_for("the flood going on under the prompt", |s| {
        count(s).is_some() && count(s) != first
    });
    assert!(
        !screen.contains("» read conn1") && screen.contains("step 3 of 3"),
        "no read before the key:\n{screen}"
    );

    tmux.press("Enter");
    tmux.wait_for_exit_status(0);
    let screen = tmux.screen();
    assert!(screen.contains("» read conn1"), "{screen}");
    assert!(screen.contains("summary:"), "{screen}");
    assert!(
        !screen.contains("Space: next step"),
        "the prompt line does not stay in the trace:\n{screen}"
    );
    tmux.assert_terminal_usable();
    assert_eq!(progress_in(&tmux), ["flood"], "a --step run to its end");
}

/// `q` at a `--step` prompt ends the run at once: the summary, exit status 0, a usable
/// terminal, and the lesson is not done (the tour did not reach its end).
#[test]
fn q_during_step_ends_the_run_and_restores_the_terminal() {
    let tmux = terminal_sized(80, 24);
    tmux.run_lab("", "oneshot --port 0 --step");
    tmux.wait_for("the first prompt", |s| s.contains("step 1 of 4: connect"));
    tmux.press("Space");
    tmux.wait_for("the second prompt", |s| {
        s.contains("» connect conn1") && s.contains("step 2 of 4: send hello")
    });
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    let screen = tmux.screen();
    assert!(
        screen.contains("» quit") && screen.contains("summary:"),
        "{screen}"
    );
    assert!(!screen.contains("» send conn1"), "{screen}");
    tmux.assert_terminal_usable();
    assert!(progress_in(&tmux).is_empty(), "{:?}", progress_in(&tmux));
}

/// A run of `lab ARGS` with stdin not a terminal: exit status and stderr.
fn run_piped(args: &[&str]) -> (Option<i32>, String) {
    let out = crate::support::lab(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run lab");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

/// Flags that cannot go together are refused before anything runs, each with one line and
/// exit status 2: `--step` without a terminal (it would wait for a key that cannot come),
/// `--tour` or `--step` with `--script` or `--external`, and `--step` with `--json`.
#[test]
fn tour_and_step_refuse_what_they_cannot_do_in_one_line() {
    let cases: [(&[&str], &str); 6] = [
        (
            &["flood", "--port", "0", "--step"],
            "lab: --step waits for Space",
        ),
        (
            &["flood", "--port", "0", "--tour", "--script", "x"],
            "lab: --tour plays the default tour, so it cannot be combined with --script",
        ),
        (
            &["clear", "--port", "0", "--step", "--script", "send a"],
            "lab: --step plays the default tour",
        ),
        (
            &["oneshot", "--port", "0", "--tour", "--external"],
            "lab: --tour plays the tour with the built-in client",
        ),
        (
            &["flood", "--port", "0", "--step", "--json"],
            "lab: --step shows its prompt under the text trace",
        ),
        (
            &["server", "--port", "0", "--tour", "--script", "send a"],
            "lab: --tour plays the default tour",
        ),
    ];
    for (args, start) in cases {
        let (status, stderr) = run_piped(args);
        assert_eq!(status, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(start), "{args:?}: {stderr}");
    }
}

/// How long a run may take to end once its terminal is gone (a loaded machine).
const HANG_UP_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// A person closes the terminal window in the middle of an interactive `lab flood` whose
/// flood is running (here: the tmux server is killed). The run ends by itself, as for
/// SIGHUP: no process is left behind reading a terminal that is gone.
#[test]
fn closing_the_terminal_ends_an_interactive_run() {
    let tmux = terminal();
    let lab = tmux.run_lab_with_pid("flood --port 0");
    tmux.wait_for("the key footer", |s| {
        s.contains("c connect") && s.contains("q quit")
    });
    tmux.send_and_flood();
    tmux.kill_server();
    assert!(
        lab.wait_gone(HANG_UP_PATIENCE),
        "lab (pid {}) still runs after its terminal went away",
        lab.pid
    );
}

/// The same for a `--step` run waiting at its prompt for Space: closing the terminal ends it.
#[test]
fn closing_the_terminal_ends_a_step_run() {
    let tmux = terminal_sized(80, 24);
    let lab = tmux.run_lab_with_pid("flood --port 0 --step");
    tmux.wait_for("the first prompt", |s| s.contains("step 1 of 3: connect"));
    tmux.kill_server();
    assert!(
        lab.wait_gone(HANG_UP_PATIENCE),
        "lab (pid {}) still runs after its terminal went away",
        lab.pid
    );
}

/// Someone sends SIGTERM (`kill PID`) to an interactive `lab flood`: the run ends with its
/// summary and exit status 0, and the terminal is usable again.
#[test]
fn sigterm_ends_an_interactive_run_with_its_summary() {
    let tmux = terminal();
    let lab = tmux.run_lab_with_pid("flood --port 0");
    tmux.wait_for("the key footer", |s| {
        s.contains("c connect") && s.contains("q quit")
    });
    lab.signal(libc::SIGTERM);
    tmux.wait_for("the summary", |s| s.contains("summary:"));
    tmux.wait_for_exit_status(0);
    assert!(lab.wait_gone(HANG_UP_PATIENCE), "lab (pid {})", lab.pid);
    tmux.assert_terminal_usable();
}
