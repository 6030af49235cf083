//! Shared test helpers: loopback TCP sockets on port 0 and waiting for a condition with a
//! deadline (never a fixed sleep) come from the library (`lab::selftest::support`, the same
//! helpers `lab selftest` uses); here: running the `lab` binary and reading numbers from its
//! JSON, and (in `tmux`) a real terminal for the interactive tests.
//!
//! Not every test module uses every helper.
#![allow(dead_code)]

/// A real terminal (tmux) for the interactive tests: keys in, screen out, deadlines.
pub mod tmux;

use std::path::PathBuf;
use std::process::Command;

pub use lab::selftest::support::*;

/// The `lab` binary built for these tests.
pub fn lab_path() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_lab"))
}

/// The LAB_STATE_DIR for every `lab` a test starts. A stage or server run to its end marks
/// its lesson done in the progress file: that progress must go here, never into the tester's
/// real home. (The lessons tests, which read progress back, use a private directory each.)
pub fn state_dir() -> PathBuf {
    std::env::temp_dir().join("kqueue-lab-tests-state")
}

/// A `Command` running `lab` with the given arguments, colours off, progress in [`state_dir`].
pub fn lab(args: &[&str]) -> Command {
    let mut command = Command::new(lab_path());
    command
        .args(args)
        .env("NO_COLOR", "1")
        .env("LAB_STATE_DIR", state_dir());
    command
}

/// The number after the first `"key":` in a one-line JSON object (the bench's report, a
/// summary record: flat enough that the number ends at the next `,` or `}`).
pub fn json_number(json: &str, key: &str) -> f64 {
    let needle = format!("\"{key}\":");
    let at = json
        .find(&needle)
        .unwrap_or_else(|| panic!("no {key} in {json}"))
        + needle.len();
    let end = json[at..]
        .find([',', '}'])
        .map_or(json.len(), |end| at + end);
    json[at..end]
        .parse()
        .unwrap_or_else(|_| panic!("{key} is not a number in {json}"))
}
