//! The `lab` binary: `lab server` tours summarised as JSON, `--no-batch`, `--as-published`,
//! `--quiet`, `lab client`, and the one-line errors.

use std::io::Write;
use std::process::{Output, Stdio};

use lab::server::{spawn, Config};

use super::json_stdout;
use crate::support::json_number;

/// Runs `lab` to its end, stdin closed. `support::lab` sets LAB_STATE_DIR, so the progress a
/// finished run records goes to a scratch directory, never to the tester's home.
fn lab(args: &[&str]) -> Output {
    crate::support::lab(args)
        .stdin(Stdio::null())
        .output()
        .expect("run lab")
}

fn summary_line(stdout: &str) -> &str {
    stdout
        .lines()
        .find(|l| l.contains("\"type\":\"summary\""))
        .expect("a summary record")
}

/// How many changes one JSON kevent record carries.
fn changes_in(line: &str) -> usize {
    let start = line.find("\"changes\":[").expect("a changes list") + "\"changes\":[".len();
    let end = line[start..]
        .find("],\"nevents\"")
        .expect("end of the changes list")
        + start;
    line[start..end].matches("\"ident\"").count()
}

/// An attendee runs the default tour with `--json`. The summary shows batching at work: fewer
/// kevent calls than changes applied, more than one change per call on average, and every
/// client record has a reason when it closes.
#[test]
fn the_default_tour_applies_more_changes_than_it_makes_kevent_calls() {
    let stdout = json_stdout(&[]);
    let summary = summary_line(&stdout);
    let calls = json_number(summary, "kevent_calls");
    let changes = json_number(summary, "changes");
    assert!(calls < changes, "{calls} kevent calls, {changes} changes");
    assert!(json_number(summary, "changes_per_call") > 1.0);
    assert!(json_number(summary, "messages") >= 3.0);
    assert!(
        stdout.contains("\"reason\":\"timeout\""),
        "the idle client timed out"
    );
    assert!(stdout.contains("\"event\":\"accepted\""));
}

/// The same tour with `--no-batch`: every change is applied by a kevent call of its own, so no
/// call carries more than one change and there are at least as many calls as changes.
#[test]
fn with_no_batch_every_change_has_its_own_kevent_call() {
    let stdout = json_stdout(&["--no-batch"]);
    let summary = summary_line(&stdout);
    let calls = json_number(summary, "kevent_calls");
    let changes = json_number(summary, "changes");
    assert!(changes > 0.0);
    assert!(calls >= changes, "{calls} kevent calls, {changes} changes");
    let per_call: Vec<usize> = stdout
        .lines()
        .filter(|l| l.contains("\"type\":\"kevent\""))
        .map(changes_in)
        .collect();
    assert!(
        per_call.iter().all(|&n| n <= 1),
        "at most one change per call"
    );
    assert_eq!(per_call.iter().sum::<usize>() as f64, changes);
}

/// With no client connected, the fixed server blocks with a NULL timeout; as published, the
/// idle wait is a 999 ms timeout (errata 8).
#[test]
fn as_published_an_idle_server_waits_999_ms_and_fixed_it_blocks() {
    let fixed = json_stdout(&["--external", "--script", "wait 100"]);
    let first_wait = fixed
        .lines()
        .find(|l| l.contains("\"type\":\"kevent\"") && l.contains("\"nevents\":128"))
        .expect("a wait");
    assert!(first_wait.contains("\"timeout_ms\":null"), "{first_wait}");

    let published = json_stdout(&["--external", "--script", "wait 100", "--as-published"]);
    assert!(published.contains("\"timeout_ms\":999"));
}

/// `--quiet` prints no trace, only the summary.
#[test]
fn quiet_prints_only_the_summary() {
    let stdout = json_stdout(&["--quiet", "--clients", "1"]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(lines[0].contains("\"type\":\"summary\""));
}

/// `lab client hello world` against a running server prints each echo on its own line; with no
/// arguments it sends each line of stdin.
#[test]
fn lab_client_prints_each_echo() {
    let server = spawn(Config::default()).unwrap();
    let port = server.addr().port().to_string();
    let out = lab(&["client", "--port", &port, "hello", "kqueue world"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "hello\nkqueue world\n"
    );

    let mut child = crate::support::lab(&["client", "--port", &port])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "line one\nline two\n"
    );
    assert_eq!(server.stop().unwrap().messages, 4);
}

/// `lab client` with no server listening: exit status 1 and one line that says what to do.
#[test]
fn lab_client_without_a_server_says_so_in_one_line() {
    // A port that was free a moment ago: bind, read it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let out = lab(&["client", "--port", &port, "hello"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("connection refused"), "{stderr}");
}

/// Mistakes on the server's command line: one line on stderr, exit status 2 for bad usage
/// (a bad script, impossible sizes) and 1 for a port in use. A bad script is worded as in the
/// flag stages (`bad script: …`, one action language): an unknown action, `read` (the server
/// reads by itself), a client action with `--external`.
#[test]
fn server_mistakes_give_one_line_and_the_right_exit_status() {
    for (args, says) in [
        (
            &["server", "--script", "dance"][..],
            "bad script: unknown action `dance`",
        ),
        (
            &["server", "--script", "send hi; read"][..],
            "bad script: `read` is for the flag stages",
        ),
        (
            &["server", "--external", "--script", "connect; send hi"][..],
            "bad script: `connect` is done by the built-in client",
        ),
        (&["server", "--buffer-size", "3"][..], ""),
        (&["server", "--max-clients", "0"][..], ""),
    ] {
        let out = lab(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = lab(&["server", "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--port 0"), "{stderr}");
}
