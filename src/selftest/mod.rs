//! `lab selftest`: the kqueue conformance scenarios, run in the binary against the kqueue of the
//! machine it is on (the native kqueue on macOS and FreeBSD, the emulation on Linux).
//!
//! The same scenario code serves `cargo test` (tests/conformance: one test per scenario) and
//! `lab selftest` (this runner): no second copy. A scenario is a plain function that panics on
//! failure, with `assert!`/`assert_eq!(seen, expected)`, exactly as a test would. The runner
//! calls each one on a thread of its own under [`std::panic::catch_unwind`] with a quiet panic
//! hook, and turns the panic message into "expected … seen …" (an `assert_eq!` puts what was
//! seen on the left).
//!
//! - [`scenarios`]: the scenarios, grouped by topic, and [`scenarios::SCENARIOS`], the list;
//! - [`support`]: loopback sockets and waiting with deadlines, which the scenarios (and the
//!   integration tests) share;
//! - [`report`]: the lines, the summary naming the kernel, and the JSON for a bug report.
//!
//! # Adding a scenario
//!
//! 1. Write a `pub fn` in the topic's file under `src/selftest/scenarios/` (or a new file, with
//!    a `pub mod` line in `scenarios/mod.rs`). Its doc comment is the narrative: what a person
//!    does and what they should see, citing the B-number. It panics on failure (`assert!`,
//!    `assert_eq!(seen, expected)`), waits only with deadlines ([`support::wait_until`],
//!    `wait_for`), and uses only the portable API ([`crate::kq`]). Where macOS or FreeBSD is
//!    documented to differ (spec §2), key the expectation with `#[cfg(target_os = "macos")]`.
//! 2. Add `scenario!("B12", topic::function_name)` to [`scenarios::SCENARIOS`], in B order;
//!    add `macos = "what differs"` if it expects a documented difference on that OS.
//! 3. Add the function's name under its module in `tests/conformance/mod.rs` (a new file gets
//!    a new `mod topic { … }` block there), so `cargo test` reports it by name; a test there
//!    fails if a scenario of the list is missing. A scenario for one backend only (like `E5`,
//!    which counts the emulation's epoll calls) carries the same `#[cfg(…)]` on its module,
//!    its entries and its block.
//!
//! A scenario runs inside `lab` on an attendee's machine, so it behaves like a guest: loopback
//! sockets on port 0 only, no files, no process-wide settings beyond a signal handler of its
//! own (B11 uses SIGUSR2), every thread it starts joined or bounded by a deadline.

use std::io::Write;
use std::panic;
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use report::{Machine, Outcome, Tally};

/// One behaviour to check: what `lab selftest` prints and `cargo test` runs.
pub struct Scenario {
    /// The spec's number, `B1`…`B26` (`E5` for the emulation's own contract). Several
    /// scenarios may share one.
    pub id: &'static str,
    /// The file under `scenarios/` it lives in.
    pub module: &'static str,
    /// The function's name, which is also the test's name.
    pub name: &'static str,
    /// The scenario: returns when the kernel behaved as expected, panics otherwise.
    pub run: fn(),
    /// The operating systems this scenario expects to behave differently (spec §2).
    pub differs: &'static [Difference],
}

/// A documented difference: on `os` (as in `std::env::consts::OS`), `what` is expected instead.
pub struct Difference {
    pub os: &'static str,
    pub what: &'static str,
}

/// Names a scenario in [`scenarios::SCENARIOS`]: `scenario!("B5", knotes::b05_…)`, then
/// optionally `macos = "what differs there"` for each OS with a documented difference.
macro_rules! scenario {
    ($id:literal, $module:ident :: $function:ident $(, $os:ident = $what:literal)* $(,)?) => {
        $crate::selftest::Scenario {
            id: $id,
            module: stringify!($module),
            name: stringify!($function),
            run: $module::$function,
            differs: &[$($crate::selftest::Difference { os: stringify!($os), what: $what }),*],
        }
    };
}

pub mod report;
pub mod scenarios;
pub mod support;

/// What `lab selftest` was asked for (from `cli::SelftestArgs`).
#[derive(Clone, Debug, Default)]
pub struct Settings {
    /// One JSON object instead of the lines.
    pub json: bool,
    /// Run only these: B-numbers (`B15`), scenario names or file names (`sockets`); empty: all.
    pub only: Vec<String>,
    /// Colour the marks.
    pub color: bool,
}

/// `lab selftest`: runs the chosen scenarios one after the other in this process, prints a line
/// as each one ends, then the summary. Fails (exit status 1) when a scenario failed.
pub fn run(settings: &Settings) -> Result<()> {
    let chosen = choose(&settings.only)?;
    let machine = Machine::this_one();
    let mut out = std::io::stdout().lock();
    // A closed stdout (`lab selftest | head -1`) must not stop the run: write errors are ignored,
    // and the exit status still says whether everything passed.
    if !settings.json {
        let _ = writeln!(out, "{}", report::header(&machine, chosen.len()));
    }
    let started = Instant::now();
    let mut outcomes = Vec::with_capacity(chosen.len());
    for scenario in chosen {
        let began = Instant::now();
        let verdict = run_scenario(scenario);
        let outcome = Outcome {
            scenario,
            verdict,
            took: began.elapsed(),
        };
        if !settings.json {
            for line in report::outcome_lines(&outcome, settings.color) {
                let _ = writeln!(out, "{line}");
            }
            let _ = out.flush();
        }
        outcomes.push(outcome);
    }
    let took = started.elapsed();
    if settings.json {
        let _ = writeln!(out, "{}", report::json(&outcomes, &machine, took));
    } else {
        for line in report::summary_lines(&outcomes, &machine, took) {
            let _ = writeln!(out, "{line}");
        }
    }
    let _ = out.flush();

    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|outcome| matches!(outcome.verdict, Verdict::Failed(_)))
        .map(|outcome| outcome.scenario.id)
        .collect();
    match Tally::of(&outcomes).failed {
        0 => Ok(()),
        n => Err(Error::runtime(format!(
            "{n} of {} failed ({}): the kqueue here does not behave as \
             docs/kqueue-semantics.md says",
            report::scenarios(outcomes.len()),
            failed.join(", ")
        ))),
    }
}

/// The scenarios `--only` names (all when empty), in list order. A word that names none is a
/// usage error.
pub fn choose(only: &[String]) -> Result<Vec<&'static Scenario>> {
    let all = scenarios::SCENARIOS;
    if only.is_empty() {
        return Ok(all.iter().collect());
    }
    for word in only {
        if !all.iter().any(|scenario| scenario.matches(word)) {
            return Err(Error::usage(format!(
                "--only {word}: no such scenario; try a B-number such as B15, a file such as \
                 sockets, or a scenario name"
            )));
        }
    }
    Ok(all
        .iter()
        .filter(|scenario| only.iter().any(|word| scenario.matches(word)))
        .collect())
}

impl Scenario {
    /// The function's name in words, without its B-number prefix, with kqueue's and the
    /// kernel's names spelled as in the spec: `b12_level_read_repeats…` → `level read repeats…`,
    /// `…_is_enoent` → `… is ENOENT`.
    pub fn title(&self) -> String {
        let words = match self.name.split_once('_') {
            Some((prefix, rest)) if is_b_number(prefix) => rest,
            _ => self.name,
        };
        let mut title = format!(" {} ", words.replace('_', " "));
        for (plain, spelled) in TITLE_SPELLINGS {
            title = title.replace(&format!(" {plain} "), &format!(" {spelled} "));
        }
        title.trim().to_string()
    }

    /// Whether `--only word` names it: its B-number (any case), its file, or its name.
    pub fn matches(&self, word: &str) -> bool {
        self.id.eq_ignore_ascii_case(word) || self.module == word || self.name == word
    }

    /// The documented difference this scenario expects on the OS it runs on, if any.
    pub fn difference_here(&self) -> Option<&'static Difference> {
        self.differs
            .iter()
            .find(|difference| difference.os == std::env::consts::OS)
    }
}

/// Words of scenario names and how a title spells them (names are snake_case).
const TITLE_SPELLINGS: &[(&str, &str)] = &[
    ("enoent", "ENOENT"),
    ("einval", "EINVAL"),
    ("eintr", "EINTR"),
    ("econnreset", "ECONNRESET"),
    ("eof", "EOF"),
    ("fionread", "FIONREAD"),
    ("note lowat", "NOTE_LOWAT"),
    ("epoll ctl", "epoll_ctl"),
    ("epoll wait", "epoll_wait"),
    ("re add", "re-add"),
    ("re arm", "re-arm"),
    ("re enable", "re-enable"),
];

/// `b07`, `b12`: a B-number as written in a function name.
fn is_b_number(word: &str) -> bool {
    word.len() > 1 && word.starts_with('b') && word[1..].bytes().all(|b| b.is_ascii_digit())
}

/// How one scenario went.
#[derive(Debug)]
pub enum Verdict {
    /// The kernel behaved as the spec says.
    Passed,
    /// It behaved as documented for this OS, which differs from FreeBSD (the `what`).
    DiffersAsDocumented(&'static str),
    /// It did not.
    Failed(Failure),
}

/// What a failing scenario saw, from its panic.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The assertion's sentence (or the whole panic message).
    pub message: String,
    /// For an `assert_eq!(seen, expected)`: the right-hand side.
    pub expected: Option<String>,
    /// For an `assert_eq!(seen, expected)`: the left-hand side.
    pub seen: Option<String>,
    /// `file:line` of the panic.
    pub location: Option<String>,
}

/// The first panic seen while a scenario runs (a scenario may panic in a thread it started
/// and then again when it joins that thread: the first one says what went wrong).
static FIRST_PANIC: Mutex<Option<Failure>> = Mutex::new(None);

/// How long one scenario may take before the runner gives up on it. Every wait inside a scenario
/// has a deadline of its own (`support::PATIENCE`, 10 s), but a kernel that blocks where the
/// spec says a call returns at once (B7, B9) would block a scenario's `kevent` forever.
pub const SCENARIO_PATIENCE: Duration = Duration::from_secs(60);

/// Runs one scenario, quietly: its panic becomes a [`Failure`] instead of a message on stderr.
///
/// The scenario runs on a thread of its own, so that one stuck in a kevent call is reported as
/// a failure after [`SCENARIO_PATIENCE`] and the run goes on (the stuck thread is left behind;
/// the process ends soon after). The panic hook is process-wide, so run scenarios one at a
/// time (as `lab selftest` does).
pub fn run_scenario(scenario: &Scenario) -> Verdict {
    *lock_first_panic() = None;
    let previous_hook = panic::take_hook();
    panic::set_hook(Box::new(|info| {
        let mut first = lock_first_panic();
        if first.is_none() {
            let mut failure = Failure::from_message(&payload_text(info.payload()));
            failure.location = info
                .location()
                .map(|location| format!("{}:{}", location.file(), location.line()));
            *first = Some(failure);
        }
    }));
    let (done, outcome) = mpsc::channel();
    let run = scenario.run;
    let spawned = thread::Builder::new()
        .name(scenario.name.to_string())
        .spawn(move || {
            let result = panic::catch_unwind(run).map_err(|payload| payload_text(&*payload));
            let _ = done.send(result);
        });
    let outcome = match spawned {
        Ok(_) => outcome.recv_timeout(SCENARIO_PATIENCE),
        Err(err) => Ok(Err(format!("could not start the scenario's thread: {err}"))),
    };
    panic::set_hook(previous_hook);

    match outcome {
        Ok(Ok(())) => match scenario.difference_here() {
            Some(difference) => Verdict::DiffersAsDocumented(difference.what),
            None => Verdict::Passed,
        },
        Ok(Err(message)) => Verdict::Failed(
            lock_first_panic()
                .take()
                .unwrap_or_else(|| Failure::from_message(&message)),
        ),
        Err(_) => Verdict::Failed(Failure::from_message(&format!(
            "did not finish within {} s: a kevent call blocked where the spec says it returns",
            SCENARIO_PATIENCE.as_secs()
        ))),
    }
}

/// The lock on [`FIRST_PANIC`], even if a panic poisoned it.
fn lock_first_panic() -> std::sync::MutexGuard<'static, Option<Failure>> {
    FIRST_PANIC
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A panic's message (`panic!` and the assert macros give a `&str` or a `String`).
fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        text.to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "panicked (no message)".to_string()
    }
}

impl Failure {
    /// Reads an assertion's panic message. `assert_eq!(seen, expected, "why")` panics with
    /// "assertion `left == right` failed: why\n  left: …\n right: …"; any other panic is
    /// kept whole as the message.
    pub fn from_message(text: &str) -> Failure {
        let sides = text
            .split_once("\n  left: ")
            .and_then(|(head, sides)| Some((head, sides.split_once("\n right: ")?)));
        let Some((head, (left, right))) = sides else {
            return Failure {
                message: text.to_string(),
                ..Failure::default()
            };
        };
        let message = match head.split_once(" failed: ") {
            Some((_, why)) => why.to_string(),
            None => head.to_string(),
        };
        Failure {
            message,
            expected: Some(right.to_string()),
            seen: Some(left.to_string()),
            location: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `assert_eq!(seen, expected, "why")` failure reads as expected vs seen.
    #[test]
    fn an_assert_eq_message_splits_into_expected_and_seen() {
        let text =
            "assertion `left == right` failed: B26: FreeBSD strips EV_ADD\n  left: 1\n right: 0";
        let failure = Failure::from_message(text);
        assert_eq!(failure.message, "B26: FreeBSD strips EV_ADD");
        assert_eq!(failure.seen.as_deref(), Some("1"));
        assert_eq!(failure.expected.as_deref(), Some("0"));
    }

    /// A plain `assert!` or `panic!` message is kept whole.
    #[test]
    fn a_plain_message_is_kept_whole() {
        let failure = Failure::from_message("a disabled knote reports nothing");
        assert_eq!(failure.message, "a disabled knote reports nothing");
        assert_eq!(failure.expected, None);
    }

    fn a_passing_scenario() {}

    fn a_failing_scenario() {
        assert_eq!(1 + 1, 3, "arithmetic");
    }

    /// The runner turns a scenario's return into ✓ and its panic into ✗ with expected, seen and
    /// where. (This swaps the process-wide panic hook for a moment: a test failing elsewhere in
    /// that moment still fails, its message only goes unprinted.)
    #[test]
    fn the_runner_reports_a_pass_and_a_panic() {
        let scenario = |run: fn()| Scenario {
            id: "B0",
            module: "tests",
            name: "b00_example",
            run,
            differs: &[],
        };
        assert!(matches!(
            run_scenario(&scenario(a_passing_scenario)),
            Verdict::Passed
        ));
        let Verdict::Failed(failure) = run_scenario(&scenario(a_failing_scenario)) else {
            panic!("a failing scenario must be reported as failed");
        };
        assert_eq!(failure.message, "arithmetic");
        assert_eq!(
            (failure.expected.as_deref(), failure.seen.as_deref()),
            (Some("3"), Some("2"))
        );
        assert!(failure
            .location
            .is_some_and(|at| at.starts_with("src/selftest/mod.rs:")));
    }

    /// Every scenario has a unique name and a title without its B-number prefix.
    #[test]
    fn titles_drop_the_b_number() {
        let b12 = scenarios::SCENARIOS
            .iter()
            .find(|scenario| scenario.id == "B12")
            .expect("B12 is listed");
        assert_eq!(b12.title(), "level read repeats until the bytes are read");
        let b06 = scenarios::SCENARIOS.iter().find(|s| s.id == "B6").unwrap();
        assert_eq!(
            b06.title(),
            "deleting removes the knote and a missing knote is ENOENT"
        );
        let mut names: Vec<&str> = scenarios::SCENARIOS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "scenario names are unique");
    }
}
