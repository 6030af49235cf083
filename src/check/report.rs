//! The scorecard of `lab check`: one line per check as text, or one JSON object per line
//! (`start`, one `check` record per check, `descriptors` with `--pid`, then `summary`).

use std::cell::Cell;
use std::io::Write;
use std::time::Duration;

use serde::Serialize;

use super::proc::{CheckUsage, Descriptors, Process};
use super::{Outcome, Settings, Status};
use crate::trace::json::{Num, Numbers};

/// One JSON line of the scorecard; the fields are declared in the contract's order
/// (docs/cli-contract.md, `lab check`), so serde writes them in that order.
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Record<'a> {
    Start {
        addr: String,
        max_message: usize,
        idle_timeout_ms: Option<u64>,
        quick: bool,
        checks: usize,
        pid: Option<u32>,
    },
    Check {
        name: &'a str,
        status: &'a str,
        evidence: &'a str,
        read: &'a str,
        elapsed_s: Num,
        echoed: u64,
        /// The check's own numbers (`messages_per_s`, `p99_ms`...), as fields of the record.
        #[serde(flatten)]
        numbers: Numbers,
        /// With `--pid`: what the server process did during the check.
        #[serde(skip_serializing_if = "Option::is_none")]
        server: Option<ServerUsage>,
    },
    Descriptors {
        before: usize,
        after: usize,
        status: &'a str,
    },
    Summary {
        checks: usize,
        passed: usize,
        failed: usize,
        warnings: usize,
        elapsed_s: Num,
    },
}

/// The `server` object of a `check` record: `null` where /proc could not say.
#[derive(Serialize)]
struct ServerUsage {
    reads_per_echo: Option<Num>,
    writes_per_echo: Option<Num>,
    rss_before_kib: Option<u64>,
    rss_peak_kib: Option<u64>,
    rss_after_kib: Option<u64>,
}

/// Where the scorecard goes: stdout, as text or JSON lines.
pub struct Report {
    json: bool,
    /// Whether the scorecard already said that /proc/PID/io counted no read(2)/write(2):
    /// said once, not on every line.
    said_uncounted: Cell<bool>,
}

impl Report {
    pub fn new(json: bool) -> Report {
        Report {
            json,
            said_uncounted: Cell::new(false),
        }
    }

    /// A closed stdout (`lab check | head -3`) must not end the checks with a panic.
    fn line(&self, text: &str) {
        let _ = writeln!(std::io::stdout(), "{text}");
    }

    /// One JSON line.
    fn record(&self, record: &Record) {
        self.line(&serde_json::to_string(record).expect("a scorecard record serializes"));
    }

    pub fn start(&self, s: &Settings, checks: usize, pid: Option<&Process>) {
        if self.json {
            self.record(&Record::Start {
                addr: s.addr.to_string(),
                max_message: s.max_message,
                idle_timeout_ms: s.idle_timeout.map(|t| t.as_millis() as u64),
                quick: s.quick,
                checks,
                pid: pid.map(|p| p.pid),
            });
            return;
        }
        let mut header = format!(
            "lab check {}: {checks} check(s), largest message {} bytes",
            s.addr, s.max_message
        );
        if let Some(t) = s.idle_timeout {
            header.push_str(&format!(", idle timeout {} ms", t.as_millis()));
        }
        if s.quick {
            header.push_str(", --quick");
        }
        if let Some(p) = pid {
            header.push_str(&format!(", server pid {}", p.pid));
        }
        self.line(&header);
    }

    pub fn check(&self, o: &Outcome) {
        let v = &o.verdict;
        if self.json {
            self.record(&Record::Check {
                name: o.name,
                status: v.status.word(),
                evidence: &v.evidence,
                read: o.read,
                elapsed_s: Num(o.elapsed.as_secs_f64()),
                echoed: v.echoed,
                numbers: Numbers(v.numbers.clone()),
                server: o.process.as_ref().map(|u| ServerUsage {
                    reads_per_echo: u.reads_per_echo.map(Num),
                    writes_per_echo: u.writes_per_echo.map(Num),
                    rss_before_kib: u.rss_before_kib,
                    rss_peak_kib: u.rss_peak_kib,
                    rss_after_kib: u.rss_after_kib,
                }),
            });
            return;
        }
        let mut text = format!("  {} {:<12} {}", v.status.mark(), o.name, v.evidence);
        if v.status != Status::Pass {
            text.push_str(&format!("\n      read: {}", o.read));
        }
        if let Some(u) = &o.process {
            let uncounted = u.reads == Some(0) && u.writes == Some(0) && u.echoed > 0;
            if uncounted && !self.said_uncounted.replace(true) {
                text.push_str(
                    "\n      server: no read(2)/write(2) counted in /proc/PID/io: it uses \
                     recv/send, which are not counted there",
                );
            }
            if let Some(server) = server_words(u) {
                text.push_str(&format!("\n      server: {server}"));
            }
        }
        self.line(&text);
    }

    pub fn descriptors(&self, d: &Descriptors) {
        let leaked = d.after > d.before;
        if self.json {
            self.record(&Record::Descriptors {
                before: d.before,
                after: d.after,
                status: if leaked { "warn" } else { "pass" },
            });
            return;
        }
        let mark = if leaked { Status::Warn } else { Status::Pass }.mark();
        let mut text = format!(
            "  {mark} {:<12} server descriptors: {} before the checks, {} after",
            "descriptors", d.before, d.after
        );
        if leaked {
            text.push_str(&format!(": {} not closed (a leak?)", d.after - d.before));
        }
        self.line(&text);
    }

    pub fn summary(&self, outcomes: &[Outcome], elapsed: Duration) {
        let count = |status| {
            outcomes
                .iter()
                .filter(|o| o.verdict.status == status)
                .count()
        };
        let (passed, failed, warned) = (
            count(Status::Pass),
            count(Status::Fail),
            count(Status::Warn),
        );
        if self.json {
            self.record(&Record::Summary {
                checks: outcomes.len(),
                passed,
                failed,
                warnings: warned,
                elapsed_s: Num(elapsed.as_secs_f64()),
            });
            return;
        }
        self.line(&format!(
            "━━ {passed} passed, {failed} failed, {warned} warning(s) in {:.1} s",
            elapsed.as_secs_f64()
        ));
    }
}

/// "2.0 reads, 1.0 writes per echo; memory 2,100 → 2,300 KiB".
fn server_words(u: &CheckUsage) -> Option<String> {
    let mut parts = Vec::new();
    match (u.reads, u.writes, u.reads_per_echo, u.writes_per_echo) {
        (Some(0), Some(0), _, _) => {} // said once, by the caller
        (_, _, Some(r), Some(w)) => parts.push(format!("{r:.1} reads, {w:.1} writes per echo")),
        _ => {}
    }
    if let (Some(before), Some(after)) = (u.rss_before_kib, u.rss_after_kib) {
        let peak = u.rss_peak_kib.unwrap_or(after).max(after);
        parts.push(format!(
            "resident memory {before} KiB before, peak {peak} KiB ({:+} KiB), {after} KiB after",
            peak as i64 - before as i64
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
