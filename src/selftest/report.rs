//! What `lab selftest` prints: one line per scenario, the summary naming the machine, and the
//! same as one JSON object for a bug report (`--json`).
//!
//! Pure functions from outcomes to text, so the tests can read them without running a kernel.

use std::fmt::Write as _;
use std::io;
use std::time::Duration;

use serde::Serialize;

use super::{Failure, Scenario, Verdict};
use crate::kq;
use crate::trace::json::Num;
use crate::trace::words::wrap_hanging;

/// The machine a self-test ran on, as a bug report needs it.
#[derive(Clone, Debug, Default)]
pub struct Machine {
    /// `uname -s`, `-r`, `-v`, `-m` (empty if uname failed).
    pub uname: crate::sys::unix::Uname,
    /// The OS release in words (`macOS 14.5 (23F79)`, `Ubuntu 24.04.1 LTS`, `14.1-RELEASE-p3`),
    /// when the lab could find it.
    pub os_version: Option<String>,
    /// The kqueue under test: native, or the emulation over epoll.
    pub backend: String,
}

impl Machine {
    /// Looks at the machine this process runs on.
    pub fn this_one() -> Machine {
        Machine {
            uname: crate::sys::unix::uname().unwrap_or_default(),
            os_version: os_version(),
            backend: kq::Backend::CURRENT.describe(),
        }
    }
}

/// The OS release as its own tools say it: `sw_vers` on macOS, `freebsd-version` on FreeBSD,
/// `/etc/os-release` on Linux. None when the tool is missing.
fn os_version() -> Option<String> {
    match std::env::consts::OS {
        "macos" => {
            let product = command_output("sw_vers", &["-productVersion"])?;
            let build = command_output("sw_vers", &["-buildVersion"]);
            Some(match build {
                Some(build) => format!("macOS {product} ({build})"),
                None => format!("macOS {product}"),
            })
        }
        "freebsd" => command_output("freebsd-version", &["-u"]).map(|v| format!("FreeBSD {v}")),
        _ => {
            let release = std::fs::read_to_string("/etc/os-release").ok()?;
            release.lines().find_map(|line| {
                let value = line.strip_prefix("PRETTY_NAME=")?;
                Some(value.trim_matches('"').to_string())
            })
        }
    }
}

/// The first line a command prints, when it runs and succeeds.
fn command_output(program: &str, args: &[&str]) -> Option<String> {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_string())
}

/// One scenario's run.
pub struct Outcome {
    pub scenario: &'static Scenario,
    pub verdict: Verdict,
    pub took: Duration,
}

/// The OS name as an attendee would say it, for "differs on macOS".
fn os_display_name() -> &'static str {
    kq::os_name()
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// The header line: what is about to be checked (wrapped to a terminal, continued under
/// itself past `lab selftest:`).
pub fn header(machine: &Machine, count: usize) -> String {
    let line = format!(
        "lab selftest: {} of docs/kqueue-semantics.md, against the {}",
        scenarios(count),
        machine.backend
    );
    fit(&line, "lab selftest: ".len()).join("\n")
}

/// `line` as it fits the terminal stdout is: wrapped at spaces with `indent` columns before
/// each continuation; one line when stdout is not a terminal (a pipe, a bug report's file).
fn fit(line: &str, indent: usize) -> Vec<String> {
    match crate::term::screen::prose_width(None) {
        Some(width) => wrap_hanging(line, width, indent),
        None => vec![line.to_string()],
    }
}

/// `1 scenario`, `33 scenarios`.
pub fn scenarios(count: usize) -> String {
    match count {
        1 => "1 scenario".to_string(),
        n => format!("{n} scenarios"),
    }
}

/// The lines for one outcome: `✓ B12  level read repeats…`, then for a documented difference
/// or a failure, indented lines saying what differed or what was expected and seen.
pub fn outcome_lines(outcome: &Outcome, color: bool) -> Vec<String> {
    let scenario = outcome.scenario;
    let title = format!("{:<4} {}", scenario.id, scenario.title());
    // A title continues under itself, past `  ✓ B12  `; the lines under it keep their indent.
    const UNDER: usize = 9;
    let mark = |ok: bool| {
        let (code, mark) = if ok { ("32", "✓") } else { ("31", "✗") };
        fit(&format!("  {} {title}", paint(color, code, mark)), UNDER)
    };
    let under = |code: &str, line: &str| -> Vec<String> {
        fit(&paint(color, code, &format!("         {line}")), UNDER)
    };
    match &outcome.verdict {
        Verdict::Passed => mark(true),
        Verdict::DiffersAsDocumented(what) => {
            let mut lines = mark(true);
            lines.extend(under(
                "33",
                &format!("differs on {}, as documented: {what}", os_display_name()),
            ));
            lines
        }
        Verdict::Failed(failure) => {
            let mut lines = mark(false);
            for line in failure_lines(failure) {
                lines.extend(under("31", &line));
            }
            lines
        }
    }
}

/// A failure in words: the assertion's sentence, expected vs seen, where.
fn failure_lines(failure: &Failure) -> Vec<String> {
    let mut lines: Vec<String> = failure.message.lines().map(str::to_string).collect();
    if let (Some(expected), Some(seen)) = (&failure.expected, &failure.seen) {
        // An assert_eq! without a sentence says only "assertion `left == right` failed":
        // expected and seen say it better.
        if failure.message.starts_with("assertion `") {
            lines.clear();
        }
        lines.push(format!("expected {expected}"));
        lines.push(format!("seen     {seen}"));
    }
    if let Some(location) = &failure.location {
        lines.push(format!("at {location}"));
    }
    lines
}

/// The counts of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub passed: usize,
    pub differs: usize,
    pub failed: usize,
}

impl Tally {
    pub fn of(outcomes: &[Outcome]) -> Tally {
        let mut tally = Tally::default();
        for outcome in outcomes {
            match outcome.verdict {
                Verdict::Passed => tally.passed += 1,
                Verdict::DiffersAsDocumented(_) => tally.differs += 1,
                Verdict::Failed(_) => tally.failed += 1,
            }
        }
        tally
    }
}

/// The summary after the lines: the counts, then the machine.
pub fn summary_lines(outcomes: &[Outcome], machine: &Machine, took: Duration) -> Vec<String> {
    let tally = Tally::of(outcomes);
    let mut counts = format!("{} passed", tally.passed + tally.differs);
    if tally.differs > 0 {
        let _ = write!(
            counts,
            " ({} of them as documented for {})",
            tally.differs,
            os_display_name()
        );
    }
    let _ = write!(counts, ", {} failed", tally.failed);
    let uname = &machine.uname;
    let mut lines = vec![
        String::new(),
        format!(
            "{} in {:.1} s: {counts}",
            scenarios(outcomes.len()),
            took.as_secs_f64()
        ),
        format!(
            "kernel:  {} {} ({})",
            uname.sysname, uname.release, uname.machine
        ),
        format!("build:   {}", uname.version),
    ];
    if let Some(os_version) = &machine.os_version {
        lines.push(format!("os:      {os_version}"));
    }
    lines.push(format!(
        "lab:     {} ({} build)",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    ));
    if tally.failed > 0 {
        lines.push(String::new());
        lines.push(
            "Please report this: run `lab selftest --json > selftest.json` and attach the file."
                .to_string(),
        );
    }
    // `kernel:  ` and the others continue under their values.
    lines.iter().flat_map(|line| fit(line, 9)).collect()
}

/// The whole run as one JSON object, a scenario a line, for pasting into a bug report.
pub fn json(outcomes: &[Outcome], machine: &Machine, took: Duration) -> String {
    let tally = Tally::of(outcomes);
    let uname = &machine.uname;
    let report = BugReport {
        lab: env!("CARGO_PKG_VERSION"),
        target: format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        backend: &machine.backend,
        uname: UnameJson {
            sysname: &uname.sysname,
            release: &uname.release,
            version: &uname.version,
            machine: &uname.machine,
        },
        os_version: machine.os_version.as_deref(),
        scenarios: outcomes.iter().map(ScenarioJson::of).collect(),
        summary: SummaryJson {
            scenarios: outcomes.len(),
            passed: tally.passed,
            differs_as_documented: tally.differs,
            failed: tally.failed,
            seconds: Num(took.as_secs_f64()),
        },
    };
    let mut out = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut out, ScenarioPerLine::default());
    report
        .serialize(&mut ser)
        .expect("a self-test report serializes");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The bug report's object, fields in the order it has always had.
#[derive(Serialize)]
struct BugReport<'a> {
    lab: &'static str,
    target: String,
    backend: &'a str,
    uname: UnameJson<'a>,
    os_version: Option<&'a str>,
    scenarios: Vec<ScenarioJson<'a>>,
    summary: SummaryJson,
}

#[derive(Serialize)]
struct UnameJson<'a> {
    sysname: &'a str,
    release: &'a str,
    version: &'a str,
    machine: &'a str,
}

/// One scenario: id, name, result, and what differed or failed (only the fields it has).
#[derive(Serialize)]
struct ScenarioJson<'a> {
    id: &'static str,
    name: &'static str,
    result: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    differs: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seen: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at: Option<&'a str>,
    ms: u64,
}

impl<'a> ScenarioJson<'a> {
    fn of(outcome: &'a Outcome) -> ScenarioJson<'a> {
        let mut entry = ScenarioJson {
            id: outcome.scenario.id,
            name: outcome.scenario.name,
            result: "passed",
            differs: None,
            message: None,
            expected: None,
            seen: None,
            at: None,
            ms: outcome.took.as_millis() as u64,
        };
        match &outcome.verdict {
            Verdict::Passed => {}
            Verdict::DiffersAsDocumented(what) => {
                entry.result = "differs_as_documented";
                entry.differs = Some(what);
            }
            Verdict::Failed(failure) => {
                entry.result = "failed";
                entry.message = Some(&failure.message);
                entry.expected = failure.expected.as_deref();
                entry.seen = failure.seen.as_deref();
                entry.at = failure.location.as_deref();
            }
        }
        entry
    }
}

#[derive(Serialize)]
struct SummaryJson {
    scenarios: usize,
    passed: usize,
    differs_as_documented: usize,
    failed: usize,
    seconds: Num,
}

/// The bug report's layout: the top-level fields one a line, each scenario on a line of its
/// own, everything deeper on that line (`{"id": "B2", "name": ..., "ms": 3}`), so a person
/// reads the report scenario by scenario and a JSON reader reads it as any JSON.
#[derive(Default)]
struct ScenarioPerLine {
    /// How many objects and arrays are open.
    depth: usize,
}

impl serde_json::ser::Formatter for ScenarioPerLine {
    fn begin_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        w.write_all(b"{")
    }

    fn end_object<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        w.write_all(if self.depth == 0 { b"\n}" } else { b"}" })
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match (self.depth, first) {
            (1, true) => w.write_all(b"\n  "),
            (1, false) => w.write_all(b",\n  "),
            (_, true) => Ok(()),
            (_, false) => w.write_all(b", "),
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn begin_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth += 1;
        w.write_all(b"[")
    }

    fn end_array<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.depth -= 1;
        w.write_all(if self.depth == 1 { b"\n  ]" } else { b"]" })
    }

    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        match (self.depth, first) {
            (2, true) => w.write_all(b"\n    "),
            (2, false) => w.write_all(b",\n    "),
            (_, true) => Ok(()),
            (_, false) => w.write_all(b", "),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::selftest::scenarios::SCENARIOS;

    /// A failed `assert_eq!` without a sentence reads as expected and seen, then where.
    #[test]
    fn a_failure_shows_expected_seen_and_where() {
        let failure = Failure {
            location: Some("src/selftest/scenarios/knotes.rs:66".to_string()),
            ..Failure::from_message("assertion `left == right` failed\n  left: 2\n right: 3")
        };
        let outcome = Outcome {
            scenario: SCENARIOS
                .iter()
                .find(|scenario| scenario.id == "B2")
                .expect("B2 is listed"),
            verdict: Verdict::Failed(failure),
            took: Duration::ZERO,
        };
        let lines = outcome_lines(&outcome, false);
        assert_eq!(
            lines,
            [
                "  ✗ B2   adding the same knote twice modifies it",
                "         expected 3",
                "         seen     2",
                "         at src/selftest/scenarios/knotes.rs:66",
            ]
        );
        let json = json(&[outcome], &Machine::default(), Duration::ZERO);
        assert!(json.contains(r#""result": "failed""#), "{json}");
        assert!(json.contains(r#""expected": "3", "seen": "2""#), "{json}");
        let parsed: serde_json::Value = serde_json::from_str(&json).expect("well-formed JSON");
        assert_eq!(
            parsed["scenarios"][0]["at"],
            "src/selftest/scenarios/knotes.rs:66"
        );
        assert_eq!(parsed["summary"]["failed"], 1);
    }
}
