//! Interactive `lab server` in a real terminal. tmux plays the terminal (see
//! `support::tmux`): a detached session of fixed size runs a shell, the test types keys into it
//! and reads the screen, waiting for each expected sight with a deadline.
//!
//! These tests need tmux (CI installs it); without it they fail and say so.

use crate::support::tmux::Tmux;

/// A terminal of 120 columns by 40 rows, colours off, with a private LAB_STATE_DIR for the
/// `lab` it starts.
fn terminal() -> Tmux {
    Tmux::start("server", 120, 40, &["NO_COLOR=1"])
}

/// What these tests do in every terminal (an addition to the shared [`Tmux`]).
impl Tmux {
    /// Start `lab server --port 0 ARGS` in the shell and wait for its key footer.
    fn start_server(&self, args: &str) {
        self.run_lab("", &format!("server --port 0 {args}"));
        self.wait_for("the key footer", |s| {
            s.contains("── lab server") && s.contains("c connect") && s.contains("q quit")
        });
    }
}

/// A facilitator runs `lab server` in a terminal. The key footer is visible. `c` opens a
/// connection of the built-in client, which the server accepts as conn1; `s` sends "ping" and
/// the trace explains the key's `keys` wake-up once and shows the echo coming back; `k` shows the knote table
/// with conn1's READ knote enabled and its WRITE knote disabled; `q` ends with the summary, exit
/// status 0, and the shell is usable again.
#[test]
fn keys_drive_the_server_and_q_restores_the_terminal() {
    let tmux = terminal();
    tmux.start_server("--hide-os-calls");
    tmux.press("c");
    tmux.wait_for("conn1 accepted", |s| s.contains("client conn1 accepted"));
    // The key press wakes kevent through the `keys` knote: said once in a note, while the
    // lab's own knote stays out of the event lines (the tutorial has no such knote).
    let screen = tmux.wait_for("the key wake-up", |s| {
        s.contains("NOTE_TRIGGERed the `keys`")
    });
    assert!(!screen.contains("◂ USER  keys"), "{screen}");
    tmux.press("s");
    tmux.wait_for("the echo of ping", |s| {
        s.contains("read the echo from conn1: \"ping\"")
    });
    let tables = tmux.screen().matches("knotes:").count();
    tmux.press("k");
    let screen = tmux.wait_for("the knote table", |s| s.matches("knotes:").count() > tables);
    let rows: Vec<&str> = screen
        .lines()
        .filter(|l| l.contains(" conn1 ") && (l.contains('│') || l.contains('└')))
        .collect();
    assert!(
        rows.iter()
            .any(|r| r.contains("READ") && r.contains("enabled")),
        "conn1's READ knote enabled: {rows:?}\n{screen}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("WRITE") && r.contains("disabled")),
        "conn1's WRITE knote disabled (read mode): {rows:?}\n{screen}"
    );
    tmux.press("q");
    tmux.wait_for("the summary", |s| s.contains("summary:"));
    tmux.wait_for_exit_status(0);
    let screen = tmux.screen();
    assert!(
        screen.contains("echoed, "),
        "the server's summary line:\n{screen}"
    );
    tmux.assert_terminal_usable();
}

/// The same keys with `--backend epoll`: the `keys` wake-up is an eventfd, `s` still gets its
/// echo, `k` explains that epoll has no knotes, and Ctrl-C ends the run with the summary and a
/// usable terminal.
#[cfg(target_os = "linux")]
#[test]
fn with_the_epoll_backend_keys_work_the_same_and_ctrl_c_quits() {
    let tmux = terminal();
    tmux.start_server("--backend epoll");
    tmux.press("c");
    tmux.wait_for("conn1 accepted", |s| s.contains("client conn1 accepted"));
    tmux.press("s");
    tmux.wait_for("the echo of ping", |s| {
        s.contains("read the echo from conn1: \"ping\"")
    });
    tmux.wait_for("the keys eventfd", |s| s.contains("`keys` eventfd"));
    tmux.press("k");
    tmux.wait_for("the note on knotes", |s| s.contains("epoll has no knotes"));
    tmux.press("C-c");
    tmux.wait_for("the summary", |s| s.contains("summary:"));
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// A facilitator presses `t` in interactive mode to show the tour: its clients connect, the slow
/// reader's echoes push the server into write mode (the note says so, and the next kevent call
/// carries conn2's READ DISABLE and WRITE ENABLE), and the echo clients are closed at end of
/// file; `q` then ends the run.
#[test]
fn t_plays_the_tour_from_interactive_mode() {
    let tmux = terminal();
    tmux.start_server("--hide-os-calls --clients 2");
    tmux.press("t");
    tmux.wait_for("the tour's clients accepted", |s| {
        s.contains("client conn1 accepted") && s.contains("client conn2 accepted")
    });
    tmux.wait_for("conn1 closed at end of file", |s| {
        s.contains("client conn1 closed (eof)")
    });
    tmux.wait_for("conn2 in write mode", |s| {
        s.contains("conn2: write hit WouldBlock")
            && s.contains("write mode (READ disabled, WRITE enabled)")
            && s.lines()
                .any(|l| l.contains("▸ READ  conn2") && l.contains("<DISABLE>"))
            && s.lines()
                .any(|l| l.contains("▸ WRITE conn2") && l.contains("<ENABLE>"))
    });
    tmux.wait_for("the tour's end", |s| {
        s.contains("the tour's clients are done")
    });
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// A facilitator opens two connections with `c` `c`, goes back to the first with `1` and sends
/// "ping" (echoed on conn1, not conn2), closes it with `x` (the server sees conn1 close at end
/// of file), selects the second with `2` and sends on it. `9` names a connection that does not
/// exist: a note, nothing selected. Esc ends the run with the summary (2 messages echoed) and
/// the terminal is usable again.
#[test]
fn number_keys_choose_the_connection_and_x_closes_it() {
    let tmux = terminal();
    tmux.start_server("--hide-os-calls");
    tmux.press("c");
    tmux.wait_for("conn1 accepted", |s| s.contains("client conn1 accepted"));
    tmux.press("c");
    tmux.wait_for("conn2 accepted", |s| s.contains("client conn2 accepted"));
    tmux.press("1");
    tmux.wait_for("conn1 selected", |s| s.contains("» use conn1"));
    tmux.press("s");
    tmux.wait_for("the echo on conn1", |s| {
        s.contains("» send conn1 (8 bytes)") && s.contains("read the echo from conn1: \"ping\"")
    });
    tmux.press("x");
    tmux.wait_for("conn1 closed by its client", |s| {
        s.contains("» close conn1") && s.contains("client conn1 closed (eof)")
    });
    tmux.press("2");
    tmux.wait_for("conn2 selected", |s| s.contains("» use conn2"));
    tmux.press("s");
    tmux.wait_for("the echo on conn2", |s| {
        s.contains("» send conn2 (8 bytes)") && s.contains("read the echo from conn2: \"ping\"")
    });
    tmux.press("9");
    tmux.wait_for("the note on a missing connection", |s| {
        s.contains("there is no connection 9")
    });
    tmux.press("Escape");
    tmux.wait_for("the summary", |s| s.contains("server: 2 messages echoed"));
    tmux.wait_for_exit_status(0);
    let screen = tmux.screen();
    assert!(!screen.contains("» use conn9"), "{screen}");
    assert_eq!(
        screen.matches("read the echo from conn1").count(),
        1,
        "one echo each: {screen}"
    );
    tmux.assert_terminal_usable();
}

/// An attendee types lesson 5's command, `lab server --port 0 --tour`, in a real terminal of
/// 80 × 24: the tour's clients play by themselves with the tour's 1500 ms read timeout (conn3,
/// the idle one, is closed by it), the run ends with its summary and no key footer, and
/// lesson 5 is marked done.
#[test]
fn tour_in_a_terminal_plays_the_lessons_run() {
    let tmux = Tmux::start("server", 80, 24, &["NO_COLOR=1"]);
    tmux.run_lab("", "server --port 0 --tour");
    tmux.wait_for_exit_status(0);
    // Notes wrap to the terminal's width: read the screen as one line of words.
    let screen = tmux
        .screen()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for sight in [
        "the read timeout is shortened to 1500 ms",
        "client conn1 closed (eof)",
        "client conn3 closed (timeout)",
        "summary:",
    ] {
        assert!(screen.contains(sight), "{sight:?}:\n{screen}");
    }
    assert!(!screen.contains("c connect"), "no key footer:\n{screen}");
    let progress = std::fs::read_to_string(tmux.state_dir().join("progress")).unwrap_or_default();
    assert!(progress.lines().any(|l| l == "server"), "{progress}");
}

/// A facilitator opens a connection with `c` first, then presses `t`. The trace says that the
/// read timeout is now the tour's 1500 ms (the server's own is 60 s), and names the tour's
/// clients by the numbers the server gives them: conn1 is taken, so the lessons' conn1, conn2,
/// conn3 are conn2, conn3, conn4. As the lesson says, the idle client is closed by the read
/// timeout of 1500 ms (here conn4), and so is the idle connection `c` opened.
#[test]
fn c_then_t_plays_the_tour_with_its_read_timeout_and_names_its_clients() {
    let tmux = Tmux::start("server", 80, 24, &["NO_COLOR=1"]);
    tmux.start_server("");
    tmux.press("c");
    tmux.wait_for("conn1 accepted", |s| s.contains("client conn1 accepted"));
    tmux.press("t");
    // Notes wrap to the terminal's width: read them as one line of words.
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    tmux.wait_for("the read-timeout note", |s| {
        words(s).contains("the read timeout is now the tour's 1500 ms (it was 60000 ms")
    });
    tmux.wait_for("the tour's clients named", |s| {
        let s = words(s);
        s.contains("the lessons' conn1, conn2, conn3 are conn2, conn3, conn4 here")
            && s.contains("conn4 sends one message, then goes idle until the read timeout")
    });
    tmux.wait_for("the idle client closed by the tour's read timeout", |s| {
        words(s).contains("conn4 sent no complete message for 1500 ms: closed")
            && s.contains("client conn4 closed (timeout)")
    });
    tmux.wait_for("the tour's end", |s| {
        s.contains("the tour's clients are done")
    });
    let screen = tmux.screen();
    assert!(
        screen.contains("client conn1 closed (timeout)"),
        "the connection `c` opened follows the same timeout, as the note said:\n{screen}"
    );
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// Press Space at each `lab server --step` prompt from kevent call `first` on, as a person
/// would: wait for the prompt that names call N, check that call N has not been made yet,
/// press Space, and so on until the run ends (the shell's `exit status` line). Returns the
/// number of the last call made.
fn step_to_the_end(tmux: &Tmux, first: usize) -> usize {
    let ended = |s: &str| s.lines().any(|l| l.starts_with("exit status"));
    for n in first..=200 {
        let prompt = format!("▶ kevent call {n} ·");
        let screen = tmux.wait_for_visible(&format!("the prompt for call {n}, or the end"), |s| {
            s.contains(&prompt) || ended(s)
        });
        if ended(&screen) {
            return n - 1;
        }
        let trace = tmux.screen();
        assert!(
            !trace.lines().any(|l| l.starts_with(&format!("#{n} +"))),
            "call {n} waits for its Space:\n{trace}"
        );
        tmux.press("Space");
    }
    panic!(
        "the tour did not end within 200 kevent calls:\n{}",
        tmux.screen()
    );
}

/// A facilitator narrates `lab server --port 0 --step` at 80 × 24. The prompt line names the
/// kevent call to come and the changes queued for it ("kevent call 1 · 3 changes queued"), and
/// the trace stands still until Space: no call #1 before it, then call #1 and the prompt for
/// call 2, with no #2. Pressing Space at each prompt plays the whole tour (conn3 closed by the
/// read timeout, 20 messages echoed); the run ends by itself after the tour's last client, with
/// its summary and no prompt left on screen; the terminal is usable and lesson 5 is done.
#[test]
fn step_makes_one_kevent_call_per_space_to_the_end_of_the_tour() {
    let tmux = Tmux::start("server", 80, 24, &["NO_COLOR=1"]);
    tmux.run_lab("", "server --port 0 --step");
    let screen = tmux.wait_for_visible("the first prompt", |s| {
        s.contains("▶ kevent call 1 · 3 changes queued · Space: next kevent call, q: quit")
    });
    assert!(
        !tmux.screen().contains("#1 +"),
        "waits for Space:\n{screen}"
    );

    tmux.press("Space");
    let screen = tmux.wait_for("call 1, then the prompt for call 2", |s| {
        s.contains("#1 +") && s.contains("▶ kevent call 2 ·")
    });
    assert!(
        screen.contains("client conn1 accepted") && !screen.contains("#2 +"),
        "one call per Space:\n{screen}"
    );

    let last = step_to_the_end(&tmux, 2);
    assert!(last >= 3, "{last} calls");
    tmux.wait_for_exit_status(0);
    // Notes wrap to the terminal's width: read the screen as one line of words.
    let words = tmux
        .screen()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for sight in [
        "--step: one pass of the event loop per Space",
        "client conn3 closed (timeout)",
        "20 messages echoed",
        "summary:",
    ] {
        assert!(words.contains(sight), "{sight:?}:\n{words}");
    }
    assert!(
        !words.contains("Space: next kevent call"),
        "the prompt does not stay in the trace:\n{words}"
    );
    tmux.assert_terminal_usable();
    let progress = std::fs::read_to_string(tmux.state_dir().join("progress")).unwrap_or_default();
    assert!(progress.lines().any(|l| l == "server"), "{progress}");
}

/// A slow facilitator: with `--read-timeout-ms 1` every pause at a prompt outlasts the read
/// timeout, as a minute of talk outlasts the tour's 1500 ms. The tour still finishes (exit
/// status 0, all 20 messages echoed): a client whose bytes wait in its socket spoke, and the
/// paused server only did not listen, which a note says; the idle client is closed at the next
/// pass after its deadline, which a note also says.
#[test]
fn step_survives_pauses_longer_than_the_read_timeout() {
    let tmux = Tmux::start("server", 80, 24, &["NO_COLOR=1"]);
    tmux.run_lab("", "server --port 0 --step --read-timeout-ms 1");
    step_to_the_end(&tmux, 1);
    tmux.wait_for_exit_status(0);
    let words = tmux
        .screen()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    for sight in [
        "read deadline passed while the server waited for Space, but bytes wait in its socket",
        "read deadline passed while the server waited for Space: the read timeout is real time",
        "client conn3 closed (timeout)",
        "20 messages echoed",
    ] {
        assert!(words.contains(sight), "{sight:?}:\n{words}");
    }
}

/// `q` at a `lab server --step` prompt ends the run at once: the quit action, the summary, exit
/// status 0, no further kevent call, a usable terminal, and lesson 5 is not done (the tour did
/// not reach its end).
#[test]
fn q_at_a_step_prompt_ends_the_server_run_and_restores_the_terminal() {
    let tmux = Tmux::start("server", 80, 24, &["NO_COLOR=1"]);
    tmux.run_lab("", "server --port 0 --step");
    tmux.wait_for_visible("the first prompt", |s| s.contains("▶ kevent call 1 ·"));
    tmux.press("Space");
    tmux.wait_for_visible("the second prompt", |s| s.contains("▶ kevent call 2 ·"));
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    let screen = tmux.screen();
    assert!(
        screen.contains("» quit") && screen.contains("summary:"),
        "{screen}"
    );
    assert!(!screen.contains("#2 +"), "no call after q:\n{screen}");
    tmux.assert_terminal_usable();
    let progress = std::fs::read_to_string(tmux.state_dir().join("progress")).unwrap_or_default();
    assert!(
        !progress.lines().any(|l| l == "server"),
        "a run stopped by q is not a finished lesson: {progress}"
    );
}

/// `lab server --step` with stdin not a terminal (piped, in a script) would wait for a key that
/// cannot come: one line and exit status 2, before anything runs; so does `--step` with
/// `--json` or `--script`.
#[test]
fn step_without_a_terminal_is_refused_in_one_line() {
    let cases: [(&[&str], &str); 3] = [
        (
            &["server", "--port", "0", "--step"],
            "lab: --step waits for Space",
        ),
        (
            &["server", "--port", "0", "--step", "--json"],
            "lab: --step shows its prompt under the text trace",
        ),
        (
            &["server", "--port", "0", "--step", "--script", "send a"],
            "lab: --step plays the default tour",
        ),
    ];
    for (args, start) in cases {
        let out = crate::support::lab(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run lab");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with(start), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing runs: {args:?}");
    }
}

/// Ctrl-C at the first `lab server --step` prompt (in raw mode it is a key, not a signal) ends
/// the run as `q` does: the summary, exit status 0, no kevent call made, a usable terminal.
#[test]
fn ctrl_c_at_a_step_prompt_ends_the_server_run() {
    let tmux = Tmux::start("server", 80, 24, &["NO_COLOR=1"]);
    tmux.run_lab("", "server --port 0 --step");
    tmux.wait_for_visible("the first prompt", |s| s.contains("▶ kevent call 1 ·"));
    tmux.press("C-c");
    tmux.wait_for_exit_status(0);
    let screen = tmux.screen();
    assert!(
        screen.contains("» quit") && screen.contains("summary:"),
        "{screen}"
    );
    assert!(!screen.contains("#1 +"), "no call after Ctrl-C:\n{screen}");
    tmux.assert_terminal_usable();
}

/// A facilitator closes the terminal window of an interactive `lab server` (here: the tmux
/// server is killed). The server ends by itself, as for SIGHUP: no process is left behind
/// reading a terminal that is gone, nor holding its port.
#[test]
fn closing_the_terminal_ends_the_interactive_server() {
    let tmux = terminal();
    let lab = tmux.run_lab_with_pid("server --port 0");
    tmux.wait_for("the key footer", |s| {
        s.contains("── lab server") && s.contains("q quit")
    });
    tmux.press("c");
    tmux.wait_for("conn1 accepted", |s| s.contains("client conn1 accepted"));
    tmux.kill_server();
    assert!(
        lab.wait_gone(std::time::Duration::from_secs(30)),
        "lab server (pid {}) still runs after its terminal went away",
        lab.pid
    );
}

/// The server's footer offers `? keys`, as the stages' does, even when every key fits. `?`
/// lists what each key does and the footer offers `? hide keys`; `?` again hides them, and `q`
/// still quits.
#[test]
fn question_mark_shows_the_servers_keys() {
    let tmux = terminal();
    tmux.start_server("");
    let footer = tmux.wait_for_visible("`? keys` in the footer", |s| s.contains("? keys"));
    assert!(
        footer.contains("t tour") && footer.contains("q quit"),
        "{footer}"
    );
    tmux.press("?");
    tmux.wait_for("the keys help", |s| {
        s.contains("keys: c connect") && s.contains("t play the tour")
    });
    tmux.wait_for_visible("`? hide keys` in the footer", |s| s.contains("? hide keys"));
    tmux.press("?");
    tmux.wait_for_visible("`? keys` again", |s| {
        s.contains("? keys") && !s.contains("? hide keys")
    });
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}
