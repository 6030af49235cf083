//! The scorecard of `lab check`: one line per check as text, or one JSON object per line
//! (`start`, one `check` record per check, `descriptors` with `--pid`, then `summary`).

use std::cell::Cell;
use std::io::Write;
use std::time::Duration;

use super::proc::{CheckUsage, Descriptors, Process};
use super::{Outcome, Settings, Status};
use crate::trace::json::push_str_literal;

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

    pub fn start(&self, s: &Settings, checks: usize, pid: Option<&Process>) {
        if self.json {
            let mut out = String::from("{\"type\":\"start\",\"addr\":");
            push_str_literal(&mut out, &s.addr.to_string());
            out.push_str(&format!(
                ",\"max_message\":{},\"idle_timeout_ms\":{},\"quick\":{},\"checks\":{},\"pid\":{}}}",
                s.max_message,
                opt(s.idle_timeout.map(|t| t.as_millis() as u64)),
                s.quick,
                checks,
                opt(pid.map(|p| p.pid as u64)),
            ));
            self.line(&out);
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
            let mut out = String::from("{\"type\":\"check\",\"name\":");
            push_str_literal(&mut out, o.name);
            out.push_str(&format!(
                ",\"status\":\"{}\",\"evidence\":",
                v.status.word()
            ));
            push_str_literal(&mut out, &v.evidence);
            out.push_str(",\"read\":");
            push_str_literal(&mut out, o.read);
            out.push_str(&format!(
                ",\"elapsed_s\":{},\"echoed\":{}",
                num(o.elapsed.as_secs_f64()),
                v.echoed
            ));
            for (name, value) in &v.numbers {
                out.push_str(&format!(",\"{name}\":{}", num(*value)));
            }
            if let Some(u) = &o.process {
                out.push_str(&format!(
                    ",\"server\":{{\"reads_per_echo\":{},\"writes_per_echo\":{},\
                     \"rss_before_kib\":{},\"rss_peak_kib\":{},\"rss_after_kib\":{}}}",
                    opt_num(u.reads_per_echo),
                    opt_num(u.writes_per_echo),
                    opt(u.rss_before_kib),
                    opt(u.rss_peak_kib),
                    opt(u.rss_after_kib)
                ));
            }
            out.push('}');
            self.line(&out);
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
            self.line(&format!(
                "{{\"type\":\"descriptors\",\"before\":{},\"after\":{},\"status\":\"{}\"}}",
                d.before,
                d.after,
                if leaked { "warn" } else { "pass" }
            ));
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
            self.line(&format!(
                "{{\"type\":\"summary\",\"checks\":{},\"passed\":{passed},\"failed\":{failed},\
                 \"warnings\":{warned},\"elapsed_s\":{}}}",
                outcomes.len(),
                num(elapsed.as_secs_f64())
            ));
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

fn num(value: f64) -> String {
    if value.is_finite() {
        format!("{}", (value * 1000.0).round() / 1000.0)
    } else {
        "null".into()
    }
}

fn opt(value: Option<u64>) -> String {
    value.map_or_else(|| "null".into(), |v| v.to_string())
}

fn opt_num(value: Option<f64>) -> String {
    value.map_or_else(|| "null".into(), num)
}
