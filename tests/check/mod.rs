//! `lab check`: an attendee points it at the server they wrote and reads the scorecard.
//!
//! The lab's own server passes every check on both backends; `--as-published` fails the check
//! its errata predict; and small servers written here, each with one flaw, fail the check that
//! is about that flaw and no other.

mod servers;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Output, Stdio};

use self::servers::{Broken, Flaw, IDLE_TIMEOUT_MS, MAX_MESSAGE};
use crate::support::lab;
use crate::support::trace::Value;

/// Every check, in the order the scorecard lists them.
const ALL: [&str; 12] = [
    "echo",
    "split",
    "coalesced",
    "pipelined",
    "largest",
    "concurrent",
    "half-close",
    "reset",
    "idle",
    "latency",
    "slow-reader",
    "churn",
];

/// A `lab server --external` child process, killed when dropped.
struct LabServer {
    child: Child,
    addr: SocketAddr,
}

impl LabServer {
    /// Start `lab server --external --port 0 --json` with `extra` options, read its address
    /// from the `start` record, and keep draining the trace so the server never blocks on it.
    fn start(extra: &[&str]) -> LabServer {
        let mut args = vec!["server", "--external", "--port", "0", "--json"];
        args.extend_from_slice(extra);
        let mut child = lab(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start lab server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let start = lines
            .next()
            .expect("a start record")
            .expect("read the start record");
        let addr = string_field(&start, "addr")
            .parse()
            .unwrap_or_else(|_| panic!("no address in {start}"));
        std::thread::spawn(move || for _ in lines.by_ref() {});
        LabServer { child, addr }
    }
}

impl Drop for LabServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A string field of a one-line JSON record, read with serde_json.
fn string_field(line: &str, key: &str) -> String {
    let record: Value =
        serde_json::from_str(line).unwrap_or_else(|err| panic!("bad JSON line {line:?}: {err}"));
    record[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key} in {line}"))
        .to_string()
}

/// The records of type `kind` in a `lab check --json` scorecard, in order, as raw lines.
fn records<'a>(stdout: &'a str, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    stdout
        .lines()
        .filter(move |line| string_field(line, "type") == kind)
}

/// `lab check --addr ADDR --json --idle-timeout-ms 6000 …` ([`IDLE_TIMEOUT_MS`]).
fn check(addr: SocketAddr, extra: &[&str]) -> Output {
    let addr = addr.to_string();
    let idle = IDLE_TIMEOUT_MS.to_string();
    let mut args = vec![
        "check",
        "--addr",
        &addr,
        "--json",
        "--idle-timeout-ms",
        &idle,
    ];
    args.extend_from_slice(extra);
    lab(&args)
        .stdin(Stdio::null())
        .output()
        .expect("run lab check")
}

/// The scorecard: (check name, status) of every `check` record, in order.
///
/// A check that could not tell on this machine, because the machine was too slow for its time
/// bound ("too slow to tell", a warning that churn gives when 5,000 connections take longer
/// than its bound on a loaded test machine), counts as passed: it found nothing wrong, and a
/// failure is still a failure.
fn scorecard(output: &Output) -> Vec<(String, String)> {
    records(&String::from_utf8_lossy(&output.stdout), "check")
        .map(|line| {
            let mut status = string_field(line, "status");
            if status == "warn" && string_field(line, "evidence").contains("too slow to tell") {
                status = "pass".to_string();
            }
            (string_field(line, "name"), status)
        })
        .collect()
}

/// The names of the checks that ended with `status`.
fn with_status(card: &[(String, String)], status: &str) -> Vec<String> {
    card.iter()
        .filter(|(_, s)| s == status)
        .map(|(name, _)| name.clone())
        .collect()
}

fn explain(output: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Assert that exactly `failing` failed (exit 1, or 0 when none), every other check passed.
fn assert_fails_exactly(output: &Output, expected: &[&str], failing: &[&str]) {
    let card = scorecard(output);
    let names: Vec<&str> = card.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, expected, "{}", explain(output));
    assert_eq!(with_status(&card, "fail"), failing, "{}", explain(output));
    assert_eq!(
        with_status(&card, "pass").len(),
        expected.len() - failing.len(),
        "{}",
        explain(output)
    );
    let code = if failing.is_empty() { 0 } else { 1 };
    assert_eq!(output.status.code(), Some(code), "{}", explain(output));
}

// ----- the lab's own server ---------------------------------------------------------------------

/// Run the whole battery against `lab server` with these options and expect `failing` to fail.
fn lab_server_scorecard(server_options: &[&str], failing: &[&str]) -> Output {
    let idle = IDLE_TIMEOUT_MS.to_string();
    let mut options = vec!["--read-timeout-ms", &idle];
    options.extend_from_slice(server_options);
    let server = LabServer::start(&options);
    let pid = server.child.id().to_string();
    let mut extra = vec!["--quick"];
    if cfg!(target_os = "linux") {
        extra.extend(["--pid", &pid]);
    }
    let output = check(server.addr, &extra);
    assert_fails_exactly(&output, &ALL, failing);
    if cfg!(target_os = "linux") && failing.is_empty() {
        let text = String::from_utf8_lossy(&output.stdout);
        let descriptors = records(&text, "descriptors")
            .next()
            .unwrap_or_else(|| panic!("no descriptors record\n{}", explain(&output)));
        assert_eq!(
            string_field(descriptors, "status"),
            "pass",
            "the server closed every connection: {descriptors}"
        );
    }
    output
}

/// An attendee runs the lab's own server (`lab server --external --read-timeout-ms 6000`) and
/// points `lab check --quick --idle-timeout-ms 6000` at it (with `--pid` on Linux): all twelve
/// checks pass, exit status 0, and the server has as many descriptors open after the run as
/// before it.
#[test]
fn the_lab_server_passes_every_check() {
    lab_server_scorecard(&[], &[]);
}

/// The same with the raw epoll twin (`--backend epoll`, Linux only): all twelve pass.
#[cfg(target_os = "linux")]
#[test]
fn the_epoll_twin_passes_every_check() {
    lab_server_scorecard(&["--backend", "epoll"], &[]);
}

/// `lab server --as-published` keeps errata 4, 5 and 8 (and shows 9 without following it).
/// Errata 4 and 5 predict one failure: `connected` is never decremented and the listener never
/// re-enabled, so after `--max-clients` connections in all the server stops accepting, and churn
/// (5,000 connections) fails. The limit is 200 here rather than the default 4,096: the checks
/// before churn make about 125 connections, so churn reaches the limit after some 75 more. On
/// a loaded test machine churn managed as few as 348 connections in its 30 s bound, so with a
/// limit of 1,000 the failure became a "too slow to tell" warning (issue 15). Errata 8 (a
/// 999 ms wake-up) and 9 (stale receipts, shown, never
/// followed) are invisible from outside, and the lab keeps errata 11 and 12 fixed even as
/// published: every other check passes. Churn runs last, so no other check pays for it.
#[test]
fn the_published_server_fails_only_churn() {
    let output = lab_server_scorecard(&["--as-published", "--max-clients", "200"], &["churn"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("the server stopped after 200 connections in all"),
        "churn names the limit of errata 4: {}",
        explain(&output)
    );
}

// ----- servers with one flaw each ----------------------------------------------------------------

/// Run `checks` against a server with `flaw`; expect exactly `failing` to fail.
fn broken_scorecard(flaw: Flaw, checks: &[&str], failing: &[&str]) {
    let server = Broken::start(flaw);
    let mut extra = vec!["--quick"];
    let only = checks.join(",");
    if checks != ALL {
        extra.extend(["--only", &only]);
    }
    let output = check(server.addr, &extra);
    assert_fails_exactly(&output, checks, failing);
}

/// A correct server written in Rust, one thread per client: the whole battery passes.
#[test]
fn a_correct_threaded_server_passes_every_check() {
    broken_scorecard(Flaw::None, &ALL, &[]);
}

/// A server that never sets TCP_NODELAY and writes each echo on its own (errata 12): a batch
/// of 16 waits for the delayed ACK, and only the latency check fails, with the whole battery
/// run.
#[test]
fn without_tcp_nodelay_only_latency_fails() {
    broken_scorecard(Flaw::NoNodelay, &ALL, &["latency"]);
    let server = Broken::start(Flaw::NoNodelay);
    let output = check(server.addr, &["--quick", "--only", "latency"]);
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("TCP_NODELAY") && text.contains("errata 12"),
        "the scorecard names the fix and the erratum\n{}",
        explain(&output)
    );
}

/// A server that closes a client whose echo would block while more messages are buffered
/// (errata 11, with small send buffers): only the pipelined check fails, with the whole
/// battery run (the slow reader it drops is not the point of the slow-reader check).
#[test]
fn dropping_pipelined_clients_fails_only_pipelined() {
    broken_scorecard(Flaw::DropsPipelined, &ALL, &["pipelined"]);
}

/// A server with no read timeout keeps idle clients: with `--idle-timeout-ms`, idle fails.
#[test]
fn never_closing_idle_clients_fails_idle() {
    broken_scorecard(
        Flaw::NeverClosesIdle,
        &["echo", "split", "half-close", "idle"],
        &["idle"],
    );
}

/// Without `--idle-timeout-ms`, the same server is a warning (`!`), not a failure: exit 0.
#[test]
fn never_closing_idle_clients_is_a_warning_without_a_timeout() {
    let server = Broken::start(Flaw::NeverClosesIdle);
    let output = lab(&[
        "check",
        "--addr",
        &server.addr.to_string(),
        "--only",
        "idle",
        "--quick",
    ])
    .stdin(Stdio::null())
    .output()
    .expect("run lab check");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", explain(&output));
    assert!(text.contains("  ! idle"), "{}", explain(&output));
    assert!(text.contains("--idle-timeout-ms"), "{}", explain(&output));
}

/// A server that leaks a descriptor per client stops accepting at its limit: churn fails (and
/// says how many connections the server took in all); the checks before it pass.
#[test]
fn leaking_descriptors_fails_churn() {
    broken_scorecard(
        Flaw::LeaksDescriptors,
        &["echo", "coalesced", "reset", "churn"],
        &["churn"],
    );
}

/// A server that crashes on an oversize length: the largest check fails (another client is
/// no longer served). Run alone, since nothing is served after the crash.
#[test]
fn crashing_on_an_oversize_prefix_fails_largest() {
    broken_scorecard(Flaw::CrashesOnOversize, &["largest"], &["largest"]);
}

/// A server that keeps its side open after the client's EOF: half-close fails.
#[test]
fn keeping_half_closed_connections_fails_half_close() {
    broken_scorecard(
        Flaw::KeepsHalfClosedOpen,
        &["echo", "coalesced", "half-close"],
        &["half-close"],
    );
}

/// A server that dies when a client resets: the reset check fails (the next client is not
/// served).
#[test]
fn dying_on_a_reset_fails_reset() {
    broken_scorecard(Flaw::DiesOnReset, &["echo", "split", "reset"], &["reset"]);
}

/// A server that takes one message per read and drops the rest: coalesced fails, while the
/// checks that send one message per write pass. (Half-close, pipelined and latency, which
/// also send several messages in one write, would fail too: left out.)
#[test]
fn one_message_per_read_fails_coalesced() {
    broken_scorecard(
        Flaw::OneMessagePerRead,
        &["echo", "split", "coalesced", "largest"],
        &["coalesced"],
    );
}

/// A server that throws away a partial frame at the end of a read: split fails, while the
/// checks whose frames arrive in one piece pass.
#[test]
fn dropping_partial_frames_fails_split() {
    broken_scorecard(
        Flaw::DropsPartialFrames,
        &["echo", "split", "coalesced"],
        &["split"],
    );
}

/// A server that serves one client at a time: concurrent fails, one client alone is fine.
#[test]
fn one_client_at_a_time_fails_concurrent() {
    broken_scorecard(
        Flaw::OneClientAtATime,
        &["echo", "split", "concurrent"],
        &["concurrent"],
    );
}

/// A server that holds one lock around blocking writes: a client that never reads stalls
/// everyone, and slow-reader fails.
#[test]
fn a_lock_around_blocking_writes_fails_slow_reader() {
    broken_scorecard(
        Flaw::GlobalLockAroundWrites,
        &["echo", "pipelined", "slow-reader"],
        &["slow-reader"],
    );
}

// ----- the command line --------------------------------------------------------------------------

/// Nothing listens at the address: one line on stderr, exit status 2, no scorecard.
#[test]
fn nothing_at_the_address_is_exit_2_in_one_line() {
    // A port that was free a moment ago: bound, then closed.
    let addr = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let output = lab(&["check", "--addr", &addr.to_string()])
        .stdin(Stdio::null())
        .output()
        .expect("run lab check");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{}", explain(&output));
    assert_eq!(stderr.trim().lines().count(), 1, "{}", explain(&output));
    assert!(stderr.contains("nothing accepts connections"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Mistyped options are usage errors: exit status 2 and one line naming the option.
#[test]
fn bad_check_options_are_one_line_usage_errors() {
    let server = Broken::start(Flaw::None);
    let addr = server.addr.to_string();
    let max = (MAX_MESSAGE as u64 * 100_000).to_string();
    for (args, names) in [
        (vec!["check", "--addr", "nowhere"], "--addr"),
        (vec!["check", "--addr", &addr, "--only", "nope"], "nope"),
        (
            vec!["check", "--addr", &addr, "--max-message", "0"],
            "--max-message",
        ),
        (
            vec!["check", "--addr", &addr, "--max-message", &max],
            "--max-message",
        ),
        (
            vec!["check", "--addr", &addr, "--idle-timeout-ms", "0"],
            "--idle-timeout-ms",
        ),
        (
            vec!["check", "--addr", &addr, "--idle-timeout-ms", "60000"],
            "--idle-timeout-ms",
        ),
    ] {
        let output = lab(&args).stdin(Stdio::null()).output().expect("run lab");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            explain(&output)
        );
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: nothing ran");
    }
}

/// The text scorecard: a header, one line per check with its mark, and the summary line;
/// a failed check says what to read.
#[test]
fn the_text_scorecard_has_one_line_per_check() {
    let server = Broken::start(Flaw::OneMessagePerRead);
    let output = lab(&[
        "check",
        "--addr",
        &server.addr.to_string(),
        "--only",
        "echo,coalesced",
    ])
    .stdin(Stdio::null())
    .output()
    .expect("run lab check");
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{}", explain(&output));
    assert!(text.starts_with("lab check 127.0.0.1:"), "{text}");
    assert!(text.contains("  ✓ echo "), "{text}");
    assert!(text.contains("  ✗ coalesced "), "{text}");
    assert!(text.contains("read: lesson 5"), "{text}");
    assert!(
        text.contains("━━ 1 passed, 1 failed, 0 warning(s)"),
        "{text}"
    );
}
