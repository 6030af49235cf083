//! Nothing lost, nothing unbounded (the robustness issue): every input has a limit, an odd
//! progress file is a warning and not a hang, a quiet server still says where it listens, and a
//! large tour either finishes what it started or says it did not.
//!
//! Each test runs the `lab` binary as a person would, with its own LAB_STATE_DIR, and bounds
//! every wait with a deadline.

/// `lab client`: long lines, bytes that are not UTF-8, a message too large, IPv6 addresses.
mod client;

/// The progress file: a FIFO, a huge file, a directory, garbage: a warning, never a hang.
mod progress;

/// `lab server --external --quiet --port 0` names the port it chose.
mod quiet;

/// `lab server --clients N`: every client of the tour gets its echoes, or the exit says not.
mod tour;

use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::Duration;

/// How long one `lab` run may take before the test gives up on it.
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

pub use crate::support::TempDir;

/// `lab ARGS` with its progress in `state`, colours off, and stdin, stdout, stderr piped.
pub fn lab_in(state: &TempDir, args: &[&str]) -> Command {
    let mut command = crate::support::lab(args);
    command
        .env("LAB_STATE_DIR", state.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Wait for `child` to end within [`RUN_LIMIT`], reading its stdout and stderr meanwhile; a
/// child still running then is killed and fails the test (a hang is a bug).
pub fn finish(mut child: Child) -> Output {
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stdout.read_to_end(&mut bytes);
        bytes
    });
    let err = thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = stderr.read_to_end(&mut bytes);
        bytes
    });
    let mut status = None;
    let ended = crate::support::wait_until(RUN_LIMIT, || {
        status = child.try_wait().expect("poll lab");
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
        let _ = child.wait();
        panic!("lab did not end within {RUN_LIMIT:?}");
    }
    Output {
        status: status.expect("lab ended"),
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}
