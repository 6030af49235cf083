//! A `lab ... --json` run watched while it runs: its JSON records arrive on a channel as lab
//! writes them, so a test can wait for the `start` record's address, act (connect, send,
//! close), wait for the records that follow, and end the run with a signal.

use std::io::{BufRead, BufReader};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread::JoinHandle;

use super::trace::{self, Field, Value};
use super::{lab, wait_until, PATIENCE};

/// A running `lab` whose stdout is JSON lines.
pub struct LiveRun {
    child: Child,
    records: Receiver<Value>,
    reader: Option<JoinHandle<()>>,
    /// Every record received so far, in order.
    pub seen: Vec<Value>,
}

impl LiveRun {
    /// Starts `lab ARGS` (which should include `--json`), stdin empty, progress in a state
    /// directory of its own.
    pub fn start(args: &[&str]) -> LiveRun {
        let mut child = lab(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lab");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, records) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(trace::parse_record(&line)).is_err() {
                    break;
                }
            }
        });
        LiveRun {
            child,
            records,
            reader: Some(reader),
            seen: Vec::new(),
        }
    }

    /// Waits (up to PATIENCE for each record) for the next record that satisfies `wanted`; every
    /// record on the way is kept in `seen`.
    pub fn next(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        loop {
            let record = self.records.recv_timeout(PATIENCE).unwrap_or_else(|_| {
                panic!(
                    "no {what} record within {PATIENCE:?}; so far: {:#?}",
                    self.seen
                )
            });
            self.seen.push(record.clone());
            if wanted(&record) {
                return record;
            }
        }
    }

    /// The address from the `start` record (`host:port` actually bound).
    pub fn addr(&mut self) -> String {
        let start = self.next("start", |r| r["type"] == "start");
        start["addr"].str().to_string()
    }

    /// Sends `signal` (libc::SIGINT, libc::SIGTERM) to lab.
    pub fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on the child we started and have not yet reaped.
        let rc = unsafe { libc::kill(self.child.id() as libc::pid_t, signal) };
        assert_eq!(rc, 0, "kill lab with signal {signal}");
    }

    /// Waits for lab to exit (killing it after PATIENCE × 3) and collects every record it wrote.
    pub fn finish(mut self) -> (ExitStatus, Vec<Value>) {
        let mut status = None;
        let patience = PATIENCE * 3;
        let exited = wait_until(patience, || {
            status = self.child.try_wait().expect("try_wait on lab");
            status.is_some()
        });
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!("lab did not exit within {patience:?}");
        }
        if let Some(reader) = self.reader.take() {
            reader.join().expect("the JSON reader thread");
        }
        self.seen.extend(self.records.try_iter());
        (status.expect("exited"), std::mem::take(&mut self.seen))
    }
}

impl Drop for LiveRun {
    fn drop(&mut self) {
        // A failing test must not leave lab running.
        if self.reader.is_some() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
