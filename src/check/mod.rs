//! `lab check`: grade a server an attendee wrote, in any language, over TCP.
//!
//! The server speaks the tutorial's protocol (Part 2: a 4-byte little-endian length, then the
//! message; the echo is the same frame). `lab check` connects to it, runs a battery of named
//! checks and prints a scorecard: one line per check, ✓ passed, ✗ failed, ! a warning, the
//! evidence in a few words, and what to read (a lesson, or an erratum of `docs/errata.md`).
//!
//! - this file: the options, the runner, the exit status;
//! - `checks`: the twelve checks, each bounded in time;
//! - `proc`: with `--pid` on Linux, what the server process did (`/proc/PID/io`, `fd`,
//!   `status`);
//! - `report`: the scorecard as text, or as JSON records.
//!
//! The checks use the lab's own client code: the framing helpers of `client::framing` for the
//! step-by-step checks and the load client `lab bench` also drives a server with
//! (`client::load`'s kqueue-driven `Driver`) for the pipelined, concurrent and slow-reader
//! checks, so `lab check` drives a server exactly as fast as `lab bench` does.
//!
//! Every check is deterministic: it waits for a condition (an echo, an end of file) up to a
//! bound, never for a lucky moment, and the checks that measure time classify with wide
//! margins and print the numbers.

mod checks;
mod proc;
mod report;

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::{Error, Result};

pub use self::checks::CHECKS;

/// The longest `--idle-timeout-ms`: the idle check waits up to one and a half times as long.
pub const MAX_IDLE_TIMEOUT_MS: u64 = 20_000;

/// The options of `lab check`, as plain values (the clap types stay in `cli.rs`).
#[derive(Clone, Debug)]
pub struct Options {
    pub addr: String,
    pub max_message: usize,
    pub idle_timeout_ms: Option<u64>,
    pub only: Vec<String>,
    pub quick: bool,
    pub json: bool,
    pub pid: Option<u32>,
}

/// The validated settings every check reads.
#[derive(Clone, Debug)]
pub struct Settings {
    pub addr: SocketAddr,
    /// The largest message the server must echo; one byte more must close the connection.
    pub max_message: usize,
    /// The server's read timeout, when the attendee gave it: the idle check then requires it.
    pub idle_timeout: Option<Duration>,
    /// Smaller counts, the same logic.
    pub quick: bool,
}

/// How a check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Pass,
    Fail,
    /// Not wrong by the protocol, but worth a look (e.g. idle clients never closed).
    Warn,
}

impl Status {
    pub fn mark(self) -> &'static str {
        match self {
            Status::Pass => "✓",
            Status::Fail => "✗",
            Status::Warn => "!",
        }
    }

    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Warn => "warn",
        }
    }
}

/// What one check found.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub status: Status,
    /// What was sent, what came back, how long it took: a few words.
    pub evidence: String,
    /// Messages the server echoed during the check (for the per-message counts of `--pid`).
    pub echoed: u64,
    /// Numbers worth keeping in the JSON record (latencies, rates).
    pub numbers: Vec<(&'static str, f64)>,
}

impl Verdict {
    pub fn pass(evidence: impl Into<String>) -> Verdict {
        Verdict::new(Status::Pass, evidence)
    }

    pub fn fail(evidence: impl Into<String>) -> Verdict {
        Verdict::new(Status::Fail, evidence)
    }

    pub fn warn(evidence: impl Into<String>) -> Verdict {
        Verdict::new(Status::Warn, evidence)
    }

    fn new(status: Status, evidence: impl Into<String>) -> Verdict {
        Verdict {
            status,
            evidence: evidence.into(),
            echoed: 0,
            numbers: Vec::new(),
        }
    }

    pub fn echoed(mut self, echoed: u64) -> Verdict {
        self.echoed = echoed;
        self
    }

    pub fn number(mut self, name: &'static str, value: f64) -> Verdict {
        self.numbers.push((name, value));
        self
    }
}

/// One named check of the battery.
pub struct Check {
    pub name: &'static str,
    /// What to read when it fails: a lesson or an erratum.
    pub read: &'static str,
    /// Whether `--pid` measures the server's memory around it (the checks that make a server
    /// hold data: pipelined and slow reader).
    pub watch_memory: bool,
    pub run: fn(&Settings) -> Verdict,
}

/// One check's result, as the scorecard shows it.
pub struct Outcome {
    pub name: &'static str,
    pub read: &'static str,
    pub verdict: Verdict,
    pub elapsed: Duration,
    /// With `--pid`: what the server process did during the check.
    pub process: Option<proc::CheckUsage>,
}

/// `lab check`.
pub fn run(options: &Options) -> Result<()> {
    let settings = settings(options)?;
    let selected = select(&options.only)?;
    let pid = match options.pid {
        Some(pid) => Some(proc::Process::open(pid)?),
        None => None,
    };

    // Nothing accepting at the address is a usage problem (exit 2), said in one line.
    if let Err(err) = checks::probe(settings.addr) {
        return Err(Error::usage(format!(
            "nothing accepts connections at {} ({err}): start your server first, or give its \
             address with --addr",
            settings.addr
        )));
    }

    let out = report::Report::new(options.json);
    out.start(&settings, selected.len(), pid.as_ref());
    let descriptors_before = pid.as_ref().and_then(|p| p.descriptors());
    let started = Instant::now();
    let mut outcomes = Vec::new();
    for check in selected {
        let before = pid.as_ref().map(|p| p.snapshot());
        let t0 = Instant::now();
        let (verdict, peak) = match &pid {
            Some(p) if check.watch_memory => p.peak_rss_during(|| (check.run)(&settings)),
            _ => ((check.run)(&settings), None),
        };
        let elapsed = t0.elapsed();
        let process = match (&pid, before) {
            (Some(p), Some(before)) => {
                Some(p.usage_since(&before, &verdict, check.watch_memory, peak))
            }
            _ => None,
        };
        let outcome = Outcome {
            name: check.name,
            read: check.read,
            verdict,
            elapsed,
            process,
        };
        out.check(&outcome);
        outcomes.push(outcome);
    }
    if let (Some(p), Some(before)) = (&pid, descriptors_before) {
        out.descriptors(&p.descriptors_settled(before));
    }
    let failed = outcomes
        .iter()
        .filter(|o| o.verdict.status == Status::Fail)
        .count();
    out.summary(&outcomes, started.elapsed());
    if failed == 0 && outcomes.len() == CHECKS.len() {
        // The whole battery passed: lesson 9 ("bring your own server") is done.
        crate::lessons::stage_finished("check");
    }
    if failed > 0 {
        return Err(Error::runtime(format!(
            "{failed} of {} check(s) failed at {}",
            outcomes.len(),
            settings.addr
        )));
    }
    Ok(())
}

/// Validate the options (exit status 2 for a bad one).
fn settings(options: &Options) -> Result<Settings> {
    let addr = options
        .addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .ok_or_else(|| {
            Error::usage(format!(
                "--addr {}: expected host:port, e.g. 127.0.0.1:5882",
                options.addr
            ))
        })?;
    // The oversize check sends max + 1 bytes, and the tutorial's buffers are a few KiB.
    if options.max_message == 0 || options.max_message > checks::MAX_MESSAGE_LIMIT {
        return Err(Error::usage(format!(
            "--max-message must be between 1 and {} bytes",
            checks::MAX_MESSAGE_LIMIT
        )));
    }
    // The idle check waits that long and a half: a long timeout would stretch the run past a
    // minute. The tutorial's 60 s is meant to be shortened while checking.
    if let Some(ms) = options.idle_timeout_ms {
        if ms == 0 || ms > MAX_IDLE_TIMEOUT_MS {
            return Err(Error::usage(format!(
                "--idle-timeout-ms must be between 1 and {MAX_IDLE_TIMEOUT_MS}: shorten your \
                 server's read timeout while you check it (e.g. 2000 ms)"
            )));
        }
    }
    if options.pid.is_some() && !proc::SUPPORTED {
        return Err(Error::usage(
            "--pid reads /proc/PID, which only Linux has: leave it out on this system",
        ));
    }
    Ok(Settings {
        addr,
        max_message: options.max_message,
        idle_timeout: options.idle_timeout_ms.map(Duration::from_millis),
        quick: options.quick,
    })
}

/// The checks `--only` names, in the battery's order; all of them without `--only`.
fn select(only: &[String]) -> Result<Vec<&'static Check>> {
    let wanted: Vec<String> = only
        .iter()
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    let names = || {
        CHECKS
            .iter()
            .map(|check| check.name)
            .collect::<Vec<_>>()
            .join(", ")
    };
    for name in &wanted {
        if !CHECKS.iter().any(|check| check.name == name) {
            return Err(Error::usage(format!(
                "--only {name}: no such check; the checks are {}",
                names()
            )));
        }
    }
    if !only.is_empty() && wanted.is_empty() {
        return Err(Error::usage(format!(
            "--only needs check names, e.g. --only echo,idle; the checks are {}",
            names()
        )));
    }
    Ok(CHECKS
        .iter()
        .filter(|check| wanted.is_empty() || wanted.iter().any(|name| name == check.name))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(only: &[&str]) -> Vec<&'static str> {
        let only: Vec<String> = only.iter().map(|s| s.to_string()).collect();
        select(&only).unwrap().iter().map(|c| c.name).collect()
    }

    #[test]
    fn only_keeps_the_battery_order_whatever_the_order_given() {
        assert_eq!(names(&["churn", "echo"]), ["echo", "churn"]);
        assert_eq!(names(&[]).len(), CHECKS.len());
        assert_eq!(names(&[" Echo "]), ["echo"]);
        assert!(select(&["nope".to_string()]).is_err());
        assert!(select(&["".to_string()]).is_err());
    }
}
