//! `lab selftest`: the scenarios of this suite, run by the binary itself on the machine it is
//! on, with one line per behaviour and a summary naming the kernel.

use crate::support::trace::Value as Json;
use lab::selftest::scenarios::SCENARIOS;

use crate::support::lab;

/// A facilitator runs `lab selftest` on this machine: every scenario passes (one ✓ line each,
/// as many as `cargo test` runs), the summary says none failed and names the kernel, and the
/// exit status is 0.
#[test]
fn lab_selftest_passes_here_with_one_line_per_scenario_and_names_the_kernel() {
    let output = lab(&["selftest"]).output().expect("run lab selftest");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "lab selftest failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let passed = stdout
        .lines()
        .filter(|line| line.starts_with("  ✓ "))
        .count();
    assert_eq!(passed, SCENARIOS.len(), "{stdout}");
    assert!(!stdout.contains('✗'), "{stdout}");
    let summary = format!("{n} scenarios in ", n = SCENARIOS.len());
    assert!(stdout.contains(&summary), "{stdout}");
    assert!(stdout.contains(", 0 failed"), "{stdout}");
    let uname = lab::sys::unix::uname().expect("uname");
    let kernel = format!("kernel:  {} {}", uname.sysname, uname.release);
    assert!(stdout.contains(&kernel), "{stdout}");
    // Colours only on a terminal: no escape codes into a pipe.
    assert!(!stdout.contains('\x1b'), "{stdout}");
}

/// An attendee pastes `lab selftest --json` into a bug report: one well-formed JSON object with
/// the machine (uname, OS version, backend), one entry per scenario with its result, and the
/// counts.
#[test]
fn lab_selftest_json_is_one_well_formed_object_for_a_bug_report() {
    let output = lab(&["selftest", "--json"])
        .output()
        .expect("run lab selftest --json");
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    let report = serde_json::from_str::<Json>(text.trim_end())
        .unwrap_or_else(|err| panic!("{err}:\n{text}"));

    assert_eq!(field(&report, "lab"), Some(env!("CARGO_PKG_VERSION")));
    let uname = report.get("uname").expect("uname");
    let here = lab::sys::unix::uname().expect("uname");
    assert_eq!(field(uname, "sysname"), Some(here.sysname.as_str()));
    assert_eq!(field(uname, "release"), Some(here.release.as_str()));
    assert!(field(&report, "backend").is_some_and(|b| b.contains("kqueue")));

    let scenarios = report
        .get("scenarios")
        .and_then(Json::as_array)
        .expect("a scenarios array");
    assert_eq!(scenarios.len(), SCENARIOS.len());
    for (entry, scenario) in scenarios.iter().zip(SCENARIOS) {
        assert_eq!(field(entry, "id"), Some(scenario.id));
        assert_eq!(field(entry, "name"), Some(scenario.name));
        let result = field(entry, "result");
        match scenario.difference_here() {
            Some(difference) => {
                assert_eq!(result, Some("differs_as_documented"));
                assert_eq!(field(entry, "differs"), Some(difference.what));
            }
            None => assert_eq!(result, Some("passed"), "{entry:?}"),
        }
    }
    let summary = report.get("summary").expect("summary");
    assert_eq!(
        summary.get("failed").and_then(Json::as_u64),
        Some(0),
        "{text}"
    );
    assert_eq!(
        summary.get("scenarios").and_then(Json::as_u64),
        Some(SCENARIOS.len() as u64)
    );
}

/// `lab selftest --only B15,b16` runs those two behaviours only; a name that matches nothing is
/// a usage error: one line on stderr, exit status 2, nothing run.
#[test]
fn only_runs_the_named_behaviours_and_an_unknown_one_is_a_usage_error() {
    let output = lab(&["selftest", "--only", "B15,b16"])
        .output()
        .expect("run lab selftest --only");
    assert!(output.status.success());
    let stdout = String::from_utf8_lossy(&output.stdout);
    let mut ran: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("  ✓ "))
        .map(|rest| rest.split_whitespace().next().unwrap_or(""))
        .collect();
    // A behaviour may have several scenarios (B15: deleted after firing, delivered as
    // activated): each prints its own line.
    ran.dedup();
    assert_eq!(ran, ["B15", "B16"], "{stdout}");

    let output = lab(&["selftest", "--only", "B99"])
        .output()
        .expect("run lab selftest --only B99");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("B99"), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// A string field of a JSON object.
fn field<'a>(json: &'a Json, key: &str) -> Option<&'a str> {
    json.get(key).and_then(Json::as_str)
}
