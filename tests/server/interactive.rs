//! Interactive `lab server` in a real terminal. tmux plays the terminal: a detached session of
//! fixed size runs a shell, the test types keys into it and reads the screen (capture-pane),
//! waiting for each expected sight with a deadline.
//!
//! These tests need tmux (CI installs it); without it they fail and say so.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{lab_path, wait_until};

/// How long to wait for something to appear on the screen.
const SCREEN_PATIENCE: Duration = Duration::from_secs(30);

/// A private tmux server (its own socket) with one session running `sh`, and a private
/// LAB_STATE_DIR for the `lab` it starts.
struct Tmux {
    socket: String,
    state: PathBuf,
}

impl Tmux {
    /// A terminal of 120 columns by 40 rows.
    fn start() -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let socket = format!("lab-server-{}-{n}", std::process::id());
        let ok = Command::new("tmux").arg("-V").output();
        assert!(
            ok.is_ok_and(|o| o.status.success()),
            "these terminal tests need tmux: install it (apt-get install tmux, brew install tmux)"
        );
        let state = std::env::temp_dir().join(format!(
            "kqueue-lab-server-interactive-{}-{n}",
            std::process::id()
        ));
        std::fs::create_dir_all(&state).expect("a scratch LAB_STATE_DIR");
        let tmux = Tmux { socket, state };
        let state_env = format!("LAB_STATE_DIR={}", tmux.state.display());
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "lab",
            "-x",
            "120",
            "-y",
            "40",
            "env",
            "PS1=$ ",
            &state_env,
            "NO_COLOR=1",
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

    /// Press one key by its tmux name: `Enter`, `C-c`, `s`.
    fn press(&self, key: &str) {
        self.run(&["send-keys", "-t", "lab", key]);
    }

    /// The screen and its scrollback, as text (long lines joined).
    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-t", "lab", "-S", "-3000"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Wait until the screen satisfies `sight`; fail with the screen if it never does.
    fn wait_for(&self, what: &str, mut sight: impl FnMut(&str) -> bool) -> String {
        let mut last = String::new();
        let seen = wait_until(SCREEN_PATIENCE, || {
            last = self.screen();
            sight(&last)
        });
        assert!(seen, "never saw {what} on the screen:\n{last}");
        last
    }

    /// Start `lab server --port 0 ARGS` in the shell and wait for its key footer. When lab
    /// ends, the shell prints `exit status N`.
    fn start_server(&self, args: &str) {
        self.type_text(&format!(
            "{} server --port 0 {args}; echo \"exit status $?\"",
            lab_path().display()
        ));
        self.press("Enter");
        self.wait_for("the key footer", |s| {
            s.contains("── lab server") && s.contains("c connect") && s.contains("q quit")
        });
    }

    /// Wait until lab has ended with `status` (as typed, the command shows `$?`, so only the
    /// shell's output matches the whole line).
    fn wait_for_exit_status(&self, status: i32) {
        let line = format!("exit status {status}");
        self.wait_for(&line, |s| s.lines().any(|l| l.trim_end() == line));
    }

    /// After lab has ended: the terminal is back in cooked mode with echo (`stty -a`), and text
    /// typed at the prompt is echoed and run.
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
        self.wait_for("the typed command echoed and run", |s| {
            s.matches("typed-ok").count() >= 2
        });
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // Never panic here (a failing test may be unwinding): ignore errors.
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}

/// A facilitator runs `lab server` in a terminal. The key footer is visible. `c` opens a
/// connection of the built-in client, which the server accepts as conn1; `s` sends "ping" and
/// the trace shows the key's `keys` wake-up and the echo coming back; `k` shows the knote table
/// with conn1's READ knote enabled and its WRITE knote disabled; `q` ends with the summary, exit
/// status 0, and the shell is usable again.
#[test]
fn keys_drive_the_server_and_q_restores_the_terminal() {
    let tmux = Tmux::start();
    tmux.start_server("--hide-os-calls");
    tmux.press("c");
    tmux.wait_for("conn1 accepted", |s| s.contains("client conn1 accepted"));
    // The key press itself is an event of the `keys` knote (`◂`), not only its registration.
    tmux.wait_for("the key wake-up", |s| s.contains("◂ USER  keys"));
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
    let tmux = Tmux::start();
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
/// reader's echoes push the server into write mode, and the echo clients are closed at end of
/// file; `q` then ends the run.
#[test]
fn t_plays_the_tour_from_interactive_mode() {
    let tmux = Tmux::start();
    tmux.start_server("--hide-os-calls --clients 2");
    tmux.press("t");
    tmux.wait_for("the tour's clients accepted", |s| {
        s.contains("client conn1 accepted") && s.contains("client conn2 accepted")
    });
    tmux.wait_for("conn1 closed at end of file", |s| {
        s.contains("client conn1 closed (eof)")
    });
    tmux.wait_for("the tour's end", |s| {
        s.contains("the tour's clients are done")
    });
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}
