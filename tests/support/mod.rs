//! Shared test helpers. Loopback TCP sockets on port 0 and waiting for a condition with a
//! deadline (never a fixed sleep) come from the library (`lab::selftest::support`, the same
//! helpers `lab selftest` uses); here: running the `lab` binary (every run with a state
//! directory of its own), reading its JSON trace as the contract defines it (`trace`), watching
//! a run live (`live`), and (in `tmux`) a real terminal for the interactive tests.
//!
//! Not every test module uses every helper.
#![allow(dead_code)]

/// A real terminal (tmux) for the interactive tests: keys in, screen out, deadlines.
pub mod tmux;

/// The JSON trace read as the contract defines it (serde_json), never with the product's parser.
pub mod trace;

/// A `lab --json` run watched while it runs: records on a channel, ended by a signal.
pub mod live;
use std::path::PathBuf;
use std::process::Command;

pub use lab::selftest::support::*;

/// The `lab` binary built for these tests.
pub fn lab_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lab"))
}

/// A fresh LAB_STATE_DIR, never handed out before: every `lab` a test starts gets its own. A
/// stage or server run to its end marks its lesson done in the progress file: that progress
/// must go here, never into the tester's real home, and never into a directory another test
/// (or another `cargo test` on the same machine) reads or writes at the same time.
///
/// The directories live in cargo's scratch space for integration tests (`target/tmp`), under
/// one folder per test process; the folders of test processes that have ended are removed the
/// first time a later process asks for one.
pub fn state_dir() -> PathBuf {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("lab-state");
    CLEANED.call_once(|| remove_state_of_ended_processes(&root));
    let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = root
        .join(std::process::id().to_string())
        .join(n.to_string());
    std::fs::create_dir_all(&dir).expect("a scratch LAB_STATE_DIR");
    dir
}

/// Removes the state folders of test processes that are no longer running.
fn remove_state_of_ended_processes(root: &std::path::Path) {
    let Ok(entries) = std::fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: kill(2) with signal 0 sends nothing; it only asks whether `pid` exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
        if !alive {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// A `Command` running `lab` with the given arguments, colours off, progress in a [`state_dir`]
/// of its own.
pub fn lab(args: &[&str]) -> Command {
    let mut command = Command::new(lab_path());
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env("LAB_STATE_DIR", state_dir());
    command
}

/// The number under `key` in a one-line JSON object (the bench's report, a summary record),
/// read with serde_json: the top-level field, or else the first nested object's (the bench
/// report's `server.messages`).
pub fn json_number(json: &str, key: &str) -> f64 {
    fn find<'a>(value: &'a trace::Value, key: &str) -> Option<&'a trace::Value> {
        let object = value.as_object()?;
        object
            .get(key)
            .or_else(|| object.values().find_map(|nested| find(nested, key)))
    }
    let value: trace::Value =
        serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("bad JSON {json}: {e}"));
    find(&value, key)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        .as_f64()
        .unwrap_or_else(|| panic!("{key} is not a number in {json}"))
}

/// A TCP port on 127.0.0.1 that is bound but not listening, held for as long as the returned
/// descriptor lives: a connection to it is refused, and no other program can take the port
/// meanwhile (unlike a port that was free a moment ago).
pub fn refusing_port() -> (std::os::fd::OwnedFd, u16) {
    // The lab's own wrapper: close-on-exec, so a `lab` child started by another test thread
    // does not inherit the socket and keep the port bound after this test drops it.
    lab::sys::unix::tcp_socket_bound_to_loopback().expect("a TCP socket bound to 127.0.0.1:0")
}

/// One message of the server's protocol (docs/cli-contract.md, server stage): a 4-byte
/// little-endian length, then the bytes.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut framed = (message.len() as u32).to_le_bytes().to_vec();
    framed.extend_from_slice(message);
    framed
}

/// A directory under the system's temp dir, removed when dropped: the test's LAB_STATE_DIR and
/// working directory.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("lab-test-{}-{tag}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        TempDir(dir)
    }

    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lessons a progress file in `state_dir` marks done, one name per line (its `#` comment
/// lines left out); none when there is no file yet.
pub fn lessons_done(state_dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(state_dir.join("progress"))
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}
