//! `lab selftest`: the kqueue conformance scenarios, run in the binary against the kqueue of the
//! machine it is on (the native kqueue on macOS and FreeBSD, the emulation on Linux).
//!
//! The same scenario code serves `cargo test` (tests/conformance: one test per scenario) and
//! `lab selftest` (this runner): no second copy. A scenario is a plain function that panics on
//! failure, with `assert!`/`assert_eq!(seen, expected)`, exactly as a test would. The runner
//! calls each one under [`std::panic::catch_unwind`] with a quiet panic hook, and turns the
//! panic message into "expected … seen …" (an `assert_eq!` puts what was seen on the left).
//!
//! - [`scenarios`]: the scenarios, grouped by topic, and [`scenarios::SCENARIOS`], the list;
//! - [`support`]: loopback sockets and waiting with deadlines, which the scenarios (and the
//!   integration tests) share.
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
//! 3. Add the function's name under its module in `tests/conformance/mod.rs`, so `cargo test`
//!    reports it by name (a test there fails if a scenario of the list is missing).

use std::panic;
use std::sync::Mutex;

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

pub mod scenarios;
pub mod support;

impl Scenario {
    /// The function's name in words, without its B-number prefix:
    /// `b12_level_read_repeats…` → `level read repeats…`.
    pub fn title(&self) -> String {
        let words = match self.name.split_once('_') {
            Some((prefix, rest)) if is_b_number(prefix) => rest,
            _ => self.name,
        };
        words.replace('_', " ")
    }

    /// The documented difference this scenario expects on the OS it runs on, if any.
    pub fn difference_here(&self) -> Option<&'static Difference> {
        self.differs
            .iter()
            .find(|difference| difference.os == std::env::consts::OS)
    }
}

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

/// Runs one scenario, quietly: its panic becomes a [`Failure`] instead of a message on stderr.
///
/// The panic hook is process-wide, so run scenarios one at a time (as `lab selftest` does).
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
    let outcome = panic::catch_unwind(scenario.run);
    panic::set_hook(previous_hook);

    match outcome {
        Ok(()) => match scenario.difference_here() {
            Some(difference) => Verdict::DiffersAsDocumented(difference.what),
            None => Verdict::Passed,
        },
        Err(payload) => Verdict::Failed(
            lock_first_panic()
                .take()
                .unwrap_or_else(|| Failure::from_message(&payload_text(&*payload))),
        ),
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

    /// Every scenario has a unique name and a title without its B-number prefix.
    #[test]
    fn titles_drop_the_b_number() {
        let b12 = scenarios::SCENARIOS
            .iter()
            .find(|scenario| scenario.id == "B12")
            .expect("B12 is listed");
        assert_eq!(b12.title(), "level read repeats until the bytes are read");
        let mut names: Vec<&str> = scenarios::SCENARIOS.iter().map(|s| s.name).collect();
        names.sort_unstable();
        let count = names.len();
        names.dedup();
        assert_eq!(names.len(), count, "scenario names are unique");
    }
}
