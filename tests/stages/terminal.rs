//! Interactive mode in a real terminal. tmux plays the terminal: a detached session of fixed
//! size runs a shell, the test types keys into it and reads the screen (capture-pane), waiting
//! for each expected sight with a deadline.
//!
//! These tests need tmux (CI installs it); without it they fail and say so.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{lab_path, state_dir, wait_until};

/// How long to wait for something to appear on the screen.
const SCREEN_PATIENCE: Duration = Duration::from_secs(30);

/// A private tmux server (its own socket) with one session running `sh`.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// A roomy terminal, 110 columns by 32 rows.
    fn start() -> Tmux {
        Tmux::start_sized(110, 32)
    }

    /// A terminal of `width` columns by `height` rows. The shell passes on LAB_STATE_DIR, so a
    /// stage run to its end records its progress in the tests' scratch directory, not in the
    /// tester's home, and RUST_BACKTRACE=0, so a panic's message is the same short one for
    /// every tester.
    fn start_sized(width: u16, height: u16) -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        let socket = format!(
            "lab-stages-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let ok = Command::new("tmux").arg("-V").output();
        assert!(
            ok.is_ok_and(|o| o.status.success()),
            "these terminal tests need tmux: install it (apt-get install tmux, brew install tmux)"
        );
        let tmux = Tmux { socket };
        let state = format!("LAB_STATE_DIR={}", state_dir().display());
        let (width, height) = (width.to_string(), height.to_string());
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "lab",
            "-x",
            &width,
            "-y",
            &height,
            "env",
            "PS1=$ ",
            &state,
            "RUST_BACKTRACE=0",
            "sh",
        ]);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux.wait_for("a shell prompt", |s| s.contains('$'));
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Type text as it is (no key names).
    fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "lab", "-l", text]);
    }

    /// Press a key by tmux's name: `Enter`, `C-c`, `s`.
    fn press(&self, key: &str) {
        self.run(&["send-keys", "-t", "lab", key]);
    }

    /// The screen and its scrollback, as text.
    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-t", "lab", "-S", "-2000"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Only the rows on screen now, one line per row, as the terminal shows them (a long line
    /// takes several rows).
    fn visible(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "lab"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Wait until the screen satisfies `sight`; fail with the screen if it never does.
    fn wait_for(&self, what: &str, sight: impl FnMut(&str) -> bool) -> String {
        self.wait_for_in(Tmux::screen, what, sight)
    }

    /// Wait until the rows on screen satisfy `sight`; fail with them if they never do.
    fn wait_for_visible(&self, what: &str, sight: impl FnMut(&str) -> bool) -> String {
        self.wait_for_in(Tmux::visible, what, sight)
    }

    fn wait_for_in(
        &self,
        capture: fn(&Tmux) -> String,
        what: &str,
        mut sight: impl FnMut(&str) -> bool,
    ) -> String {
        let mut last = String::new();
        let seen = wait_until(SCREEN_PATIENCE, || {
            last = capture(self);
            sight(&last)
        });
        assert!(seen, "never saw {what} on the screen:\n{last}");
        last
    }

    /// After lab has ended: the terminal is back in cooked mode with echo (what `stty -a`
    /// says), and text typed at the shell prompt is echoed and run.
    fn assert_terminal_usable(&self) {
        self.type_text("stty -a");
        self.press("Enter");
        let screen = self.wait_for("stty's settings", |s| s.contains("icanon"));
        let tokens: Vec<&str> = screen.split_whitespace().collect();
        assert!(
            tokens.contains(&"icanon") && !tokens.contains(&"-icanon"),
            "canonical mode restored:\n{screen}"
        );
        assert!(
            tokens.contains(&"echo") && !tokens.contains(&"-echo"),
            "echo restored:\n{screen}"
        );
        self.type_text("echo typed-ok");
        self.press("Enter");
        // Twice: once echoed as typed, once as the command's output.
        self.wait_for("the typed command echoed and run", |s| {
            s.matches("typed-ok").count() >= 2
        });
    }

    /// Start `lab flood --port 0` in the shell and wait for its key footer. `env` is put
    /// before the command (`LAB_TEST_FAULT=panic`, or nothing). When lab ends, the shell says
    /// `exit status N` (see [`Tmux::wait_for_exit_status`]).
    fn start_flood(&self, env: &str) {
        self.type_text(&format!(
            "{env} {} flood --port 0; echo \"exit status $?\"",
            lab_path().display()
        ));
        self.press("Enter");
        self.wait_for("the key footer", |s| {
            s.contains("c connect") && s.contains("q quit")
        });
    }

    /// Wait until lab has ended with `status` (the line `start_flood` asks the shell to print;
    /// as typed, the command shows `$?`, so only the shell's output matches).
    fn wait_for_exit_status(&self, status: i32) {
        let line = format!("exit status {status}");
        self.wait_for(&line, |s| s.lines().any(|l| l.trim_end() == line));
    }

    /// Press `s` and wait for the level-triggered flood's live count.
    fn send_and_flood(&self) {
        self.press("s");
        self.wait_for("the live flood count", |s| {
            s.contains("↻ READ conn1 data=4 ×")
        });
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Never panic here (a failing test is already unwinding): ignore errors.
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// A person runs `lab flood` in a terminal. The key footer is visible. `s` sends "ping": the
/// trace shows conn1 with 4 bytes waiting, the key's EVFILT_USER wake-up, and the flood
/// collapsed into a live count. `r` reads the bytes, `k` shows the knote table, `q` ends
/// the stage with a summary, and the shell is usable again.
#[test]
fn keys_drive_the_flood_and_q_restores_the_terminal() {
    let tmux = Tmux::start();
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
    let tmux = Tmux::start();
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
    let tmux = Tmux::start();
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
    let tmux = Tmux::start();
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
    let tmux = Tmux::start_sized(80, 20);
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
