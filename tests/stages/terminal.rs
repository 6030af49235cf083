//! Interactive mode in a real terminal. tmux plays the terminal: a detached session of fixed
//! size runs a shell, the test types keys into it and reads the screen (capture-pane), waiting
//! for each expected sight with a deadline.
//!
//! These tests need tmux (CI installs it); without it they fail and say so.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::support::{lab_path, wait_until};

/// How long to wait for something to appear on the screen.
const SCREEN_PATIENCE: Duration = Duration::from_secs(30);

/// A private tmux server (its own socket) with one session running `sh`.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn start() -> Tmux {
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
        let out = tmux.run(&[
            "new-session",
            "-d",
            "-s",
            "lab",
            "-x",
            "110",
            "-y",
            "32",
            "env",
            "PS1=$ ",
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

    /// Start `lab flood --port 0` in the shell and wait for its key footer.
    fn start_flood(&self) {
        self.type_text(&format!("{} flood --port 0", lab_path().display()));
        self.press("Enter");
        self.wait_for("the key footer", |s| {
            s.contains("c connect") && s.contains("q quit")
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
    tmux.start_flood();
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
    tmux.assert_terminal_usable();
}

/// A person presses Ctrl-C while the flood is running flat out: the stage ends with its
/// summary and the terminal is restored.
#[test]
fn ctrl_c_mid_flood_ends_the_stage_and_restores_the_terminal() {
    let tmux = Tmux::start();
    tmux.start_flood();
    tmux.press("s");
    tmux.wait_for("the live flood count", |s| {
        s.contains("↻ READ conn1 data=4 ×")
    });
    tmux.press("C-c");
    tmux.wait_for("the summary", |s| s.contains("summary:"));
    tmux.assert_terminal_usable();
}
