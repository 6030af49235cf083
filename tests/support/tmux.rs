//! A real terminal for the interactive tests: tmux plays it. A detached session of fixed size
//! runs a shell; a test types keys into it and reads the screen (capture-pane), waiting for
//! each expected sight with a deadline (never a fixed sleep).
//!
//! These tests need tmux (CI installs it); without it they fail and say so.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use super::{lab_path, state_dir, wait_until};

/// How long to wait for something to appear on the screen.
pub const SCREEN_PATIENCE: Duration = Duration::from_secs(30);

/// A private tmux server (its own socket) with one session, `lab`, running `sh`. Dropping it
/// kills the server, so a failing test leaves no terminal behind.
pub struct Tmux {
    socket: String,
    /// The session's own LAB_STATE_DIR, removed when the session ends.
    state: PathBuf,
}

impl Tmux {
    /// A terminal of `width` columns by `height` rows. `label` names the tmux socket (which
    /// tests it belongs to). The shell passes on LAB_STATE_DIR, a [`state_dir`] of this
    /// session's own, so a run to its end records its progress in scratch space, never in the
    /// tester's home nor where another test looks;
    /// RUST_BACKTRACE=0, so a panic's message is the same short one for every tester; and
    /// `env`, further `NAME=value` settings.
    pub fn start(label: &str, width: u16, height: u16, env: &[&str]) -> Tmux {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::SeqCst);
        let socket = format!("lab-{label}-{}-{n}", std::process::id());
        let ok = Command::new("tmux").arg("-V").output();
        assert!(
            ok.is_ok_and(|o| o.status.success()),
            "these terminal tests need tmux: install it (apt-get install tmux, brew install tmux)"
        );
        let state = state_dir();
        let state_env = format!("LAB_STATE_DIR={}", state.display());
        let tmux = Tmux { socket, state };
        let (width, height) = (width.to_string(), height.to_string());
        let mut args = vec![
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
            &state_env,
            "RUST_BACKTRACE=0",
        ];
        args.extend_from_slice(env);
        args.push("sh");
        let out = tmux.run(&args);
        assert!(
            out.status.success(),
            "tmux new-session: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        tmux.wait_for("a shell prompt", |s| s.contains('$'));
        tmux
    }

    /// The LAB_STATE_DIR of the `lab` runs in this terminal (where progress is recorded).
    pub fn state_dir(&self) -> &std::path::Path {
        &self.state
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// Type text as it is (no key names).
    pub fn type_text(&self, text: &str) {
        self.run(&["send-keys", "-t", "lab", "-l", text]);
    }

    /// Press one key by its tmux name: `Enter`, `C-c`, `s`.
    pub fn press(&self, key: &str) {
        self.run(&["send-keys", "-t", "lab", key]);
    }

    /// The screen and its scrollback, as text (long lines joined).
    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-t", "lab", "-S", "-3000"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Resize the terminal, as a person dragging the window's corner (the program gets
    /// SIGWINCH).
    pub fn resize(&self, width: u16, height: u16) {
        let (w, h) = (width.to_string(), height.to_string());
        self.run(&["resize-window", "-t", "lab", "-x", &w, "-y", &h]);
    }

    /// Only the rows on screen now, one line per row, as the terminal shows them (a long line
    /// takes several rows).
    pub fn visible(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "lab"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// The rows on screen now with their colours, as escape sequences (`capture-pane -e`).
    pub fn visible_with_colours(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-e", "-t", "lab"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Wait until the screen satisfies `sight`; fail with the screen if it never does.
    pub fn wait_for(&self, what: &str, sight: impl FnMut(&str) -> bool) -> String {
        self.wait_for_in(Tmux::screen, what, sight)
    }

    /// Wait until the rows on screen satisfy `sight`; fail with them if they never do.
    pub fn wait_for_visible(&self, what: &str, sight: impl FnMut(&str) -> bool) -> String {
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

    /// Type `ENV lab ARGS` at the shell prompt and press Enter. `env` goes before the command
    /// (`LAB_TEST_FAULT=panic`, or nothing). When lab ends, the shell prints `exit status N`
    /// (see [`Tmux::wait_for_exit_status`]).
    pub fn run_lab(&self, env: &str, args: &str) {
        self.type_text(&format!(
            "{env} {} {args}; echo \"exit status $?\"",
            lab_path().display()
        ));
        self.press("Enter");
    }

    /// Wait until lab has ended with `status` (the line [`Tmux::run_lab`] asks the shell to
    /// print; as typed, the command shows `$?`, so only the shell's output matches the whole
    /// line).
    pub fn wait_for_exit_status(&self, status: i32) {
        let line = format!("exit status {status}");
        self.wait_for(&line, |s| s.lines().any(|l| l.trim_end() == line));
    }

    /// After lab has ended: the terminal is back in cooked mode with echo (what `stty -a`
    /// says), and text typed at the shell prompt is echoed and run.
    pub fn assert_terminal_usable(&self) {
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
}

/// Additions for the lesson walk-through (tests/lessons/in_terminal.rs): a blank screen before
/// each command, the whole scrollback, and a typed shell line whose exit status is printed.
impl Tmux {
    /// Reset the terminal and forget its scrollback, as `reset` and a cleared history would:
    /// what is captured from now on is only what the next command prints.
    pub fn fresh_screen(&self) {
        self.run(&["send-keys", "-R", "-t", "lab"]);
        self.run(&["clear-history", "-t", "lab"]);
    }

    /// Everything the terminal holds, from the oldest line of its scrollback to the last row
    /// (long lines joined, trailing spaces kept), as text.
    pub fn whole_screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-t", "lab", "-S", "-"]);
        String::from_utf8_lossy(&out.stdout).to_string()
    }

    /// Type a shell line as it is (`lab flood --port 0 | cat`), with `; echo "exit status $?"`
    /// after it, and press Enter: when the line ends, the shell prints its exit status (see
    /// [`Tmux::wait_for_exit_status`]).
    pub fn run_line(&self, line: &str) {
        self.type_text(&format!("{line}; echo \"exit status $?\""));
        self.press("Enter");
    }
}

/// A `lab` whose process id the test knows ([`Tmux::run_lab_with_pid`]). Dropping it kills
/// the process with SIGKILL if it is still running, so a failing test leaves nothing behind.
pub struct LabProcess {
    pub pid: i32,
}

impl LabProcess {
    /// Whether the process still runs (a zombie waiting for its parent does not).
    pub fn running(&self) -> bool {
        // SAFETY: kill(2) takes no pointers; signal 0 only checks that the process exists.
        if unsafe { libc::kill(self.pid, 0) } != 0 {
            return false;
        }
        #[cfg(target_os = "linux")]
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) {
            // `pid (comm) S ...`: the state follows the command's closing parenthesis.
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            return !state.starts_with('Z') && !state.starts_with('X');
        }
        true
    }

    /// Wait until the process has ended, up to `patience`; whether it did.
    pub fn wait_gone(&self, patience: Duration) -> bool {
        let deadline = std::time::Instant::now() + patience;
        while self.running() {
            if std::time::Instant::now() >= deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        true
    }

    /// Send `sig` (SIGTERM, SIGHUP) to the process.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) takes no pointers.
        unsafe { libc::kill(self.pid, sig) };
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        if self.running() {
            self.signal(libc::SIGKILL);
        }
    }
}

/// Additions for the hang-up tests: a `lab` whose pid is known, and the terminal taken away.
impl Tmux {
    /// Type `lab ARGS` so that its process id shows: `sh -c` prints its own pid, then `exec`
    /// becomes `lab` with that same pid, in the foreground of the terminal as usual. When lab
    /// ends, the shell prints `exit status N`.
    pub fn run_lab_with_pid(&self, args: &str) -> LabProcess {
        self.type_text(&format!(
            "sh -c 'echo PID=$$; exec {} {args}'; echo \"exit status $?\"",
            lab_path().display()
        ));
        self.press("Enter");
        let mut pid = None;
        self.wait_for("the lab's pid", |s| {
            // The typed line shows `PID=$$`; only the printed line has digits.
            pid = s
                .lines()
                .filter_map(|l| l.trim().strip_prefix("PID="))
                .find_map(|n| n.parse::<i32>().ok());
            pid.is_some()
        });
        LabProcess {
            pid: pid.expect("seen"),
        }
    }

    /// Take the terminal away, as closing its window does: kill the tmux server (every
    /// program in it loses its terminal).
    pub fn kill_server(&self) {
        // Never panic here (a failing test may be unwinding): ignore errors.
        // Ask for the socket's path first: kill-server leaves the socket file behind.
        let socket_path = Command::new("tmux")
            .args([
                "-L",
                &self.socket,
                "display-message",
                "-p",
                "#{socket_path}",
            ])
            .output()
            .ok()
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|path| !path.is_empty());
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
        if let Some(path) = socket_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.kill_server();
        let _ = std::fs::remove_dir_all(&self.state);
    }
}
