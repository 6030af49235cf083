//! `lab check --pid PID` (Linux): what the server process did, read from `/proc/PID`.
//!
//! - `/proc/PID/io`: `syscr` and `syscw`, the read-like and write-like system calls. Divided by
//!   the messages a check echoed, they say how many reads and writes one echo cost: a read that
//!   only returns EAGAIN after each message shows up as about 2 reads per message (errata 12
//!   counted about 4 calls per echo where 2 is the floor). Only read(2)/write(2) and their
//!   family are counted there: a server that calls recv(2)/send(2) (Rust's `TcpStream` does)
//!   shows 0, and the scorecard says so.
//! - `/proc/PID/fd`: the open descriptors before and after the run (a leak stays behind).
//! - `/proc/PID/status`: `VmRSS`, the resident memory, around the checks that make a server
//!   hold data (pipelined and slow reader).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Verdict;
use crate::{Error, Result};

/// Whether this system has the `/proc` files `--pid` reads.
pub const SUPPORTED: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// A server process, by id.
pub struct Process {
    pub pid: u32,
    dir: PathBuf,
}

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default)]
pub struct Snapshot {
    reads: Option<u64>,
    writes: Option<u64>,
    rss_kib: Option<u64>,
}

/// What the server did during one check.
#[derive(Clone, Debug, Default)]
pub struct CheckUsage {
    /// Messages echoed during the check, and the read-like and write-like calls counted.
    pub echoed: u64,
    pub reads: Option<u64>,
    pub writes: Option<u64>,
    /// read-like and write-like system calls per echoed message.
    pub reads_per_echo: Option<f64>,
    pub writes_per_echo: Option<f64>,
    /// Resident memory before and after the check (KiB), for the checks that watch it.
    pub rss_before_kib: Option<u64>,
    /// The largest resident memory sampled while the check ran.
    pub rss_peak_kib: Option<u64>,
    pub rss_after_kib: Option<u64>,
}

/// The descriptors before the run and after it, once the server had time to close ours.
#[derive(Clone, Debug)]
pub struct Descriptors {
    pub before: usize,
    pub after: usize,
}

impl Process {
    /// The process must exist and its `/proc/PID/io` be readable (the same user).
    pub fn open(pid: u32) -> Result<Process> {
        let dir = PathBuf::from(format!("/proc/{pid}"));
        if !dir.exists() {
            return Err(Error::usage(format!("--pid {pid}: no such process")));
        }
        std::fs::read_to_string(dir.join("io")).map_err(|err| {
            Error::usage(format!(
                "--pid {pid}: cannot read /proc/{pid}/io ({err}): is it your own process?"
            ))
        })?;
        Ok(Process { pid, dir })
    }

    pub fn snapshot(&self) -> Snapshot {
        let io = std::fs::read_to_string(self.dir.join("io")).unwrap_or_default();
        Snapshot {
            reads: field(&io, "syscr:"),
            writes: field(&io, "syscw:"),
            rss_kib: self.rss_kib(),
        }
    }

    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(self.dir.join("status")).ok()?;
        field(&status, "VmRSS:")
    }

    /// Run `check`, sampling the server's resident memory every 10 ms meanwhile; the largest
    /// sample is the peak (the memory a stuck client makes the server hold is freed as soon as
    /// the client goes, so the value after the check would miss it).
    pub fn peak_rss_during<T>(&self, check: impl FnOnce() -> T) -> (T, Option<u64>) {
        let done = AtomicBool::new(false);
        let peak = AtomicU64::new(0);
        let result = std::thread::scope(|scope| {
            scope.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    if let Some(rss) = self.rss_kib() {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            });
            let result = check();
            done.store(true, Ordering::Relaxed);
            result
        });
        let peak = peak.load(Ordering::Relaxed);
        (result, (peak > 0).then_some(peak))
    }

    pub fn usage_since(
        &self,
        before: &Snapshot,
        verdict: &Verdict,
        memory: bool,
        peak: Option<u64>,
    ) -> CheckUsage {
        let after = self.snapshot();
        let per = |a: Option<u64>, b: Option<u64>| match (a, b) {
            (Some(a), Some(b)) if verdict.echoed > 0 => {
                Some(b.saturating_sub(a) as f64 / verdict.echoed as f64)
            }
            _ => None,
        };
        let delta = |a: Option<u64>, b: Option<u64>| Some(b?.saturating_sub(a?));
        CheckUsage {
            echoed: verdict.echoed,
            reads: delta(before.reads, after.reads),
            writes: delta(before.writes, after.writes),
            reads_per_echo: per(before.reads, after.reads),
            writes_per_echo: per(before.writes, after.writes),
            rss_before_kib: before.rss_kib.filter(|_| memory),
            rss_peak_kib: peak.filter(|_| memory),
            rss_after_kib: after.rss_kib.filter(|_| memory),
        }
    }

    /// The open descriptors now.
    pub fn descriptors(&self) -> Option<usize> {
        std::fs::read_dir(self.dir.join("fd"))
            .ok()
            .map(|dir| dir.count())
    }

    /// The descriptors after the run: our connections are closed, but the server sees the
    /// last closes a moment later, so wait (up to a bound) for the count to come back down.
    pub fn descriptors_settled(&self, before: usize) -> Descriptors {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let after = self.descriptors().unwrap_or(0);
            if after <= before || Instant::now() >= deadline {
                return Descriptors { before, after };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// The number after `name` in a `/proc` file of `name value` lines.
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .find_map(|line| line.strip_prefix(name))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|value| value.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_from_proc_text() {
        let io = "rchar: 10\nsyscr: 42\nsyscw: 7\n";
        assert_eq!(field(io, "syscr:"), Some(42));
        assert_eq!(field(io, "syscw:"), Some(7));
        assert_eq!(field("VmRSS:\t  1234 kB\n", "VmRSS:"), Some(1234));
        assert_eq!(field(io, "VmRSS:"), None);
    }
}
