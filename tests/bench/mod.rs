//! `lab bench` and `lab server --backend epoll`: correctness, never speed.
//!
//! The bench is run with small numbers, against the in-process server and against a separate
//! `lab server` process; its report must account for every message. The raw epoll backend is
//! driven with the same patterns as the kqueue server's echo tests (`tests/server/`): several
//! pipelining clients, a message split byte by byte, a message too large for the buffer.
//! No test asserts a time or a rate.

use std::process::{Output, Stdio};

use crate::support::trace::Value;
use crate::support::{json_number, lab};

/// Run `lab` to completion, reading its output while it runs.
fn run(args: &[&str]) -> Output {
    lab(args).stdin(Stdio::null()).output().expect("run lab")
}

/// Run `lab` to completion and insist that it succeeded; its standard output.
fn run_ok(args: &[&str]) -> String {
    let output = run(args);
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    text
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A workshop attendee runs `lab bench` with small numbers: 5 connections, 20 messages each,
/// 4 in flight. The report says all 100 messages came back, and gives a rate, round-trip
/// percentiles and the server's system calls per message.
#[test]
fn bench_in_process_reports_every_message_echoed() {
    let text = run_ok(&[
        "bench",
        "--connections",
        "5",
        "--messages",
        "20",
        "--pipeline",
        "4",
    ]);
    assert!(text.contains("echoed 100 of 100 messages"), "{text}");
    assert!(text.contains("round trip: p50"), "{text}");
    assert!(text.contains("system calls per echoed message"), "{text}");
    assert!(
        text.contains("(100 messages echoed)"),
        "server side counted them: {text}"
    );
}

/// The same run with `--json` writes one object: 100 expected, 100 echoed, and the server's
/// own count over the measured phase is 100 too.
#[test]
fn bench_json_counts_match_the_plan() {
    let text = run_ok(&[
        "bench",
        "--connections",
        "5",
        "--messages",
        "20",
        "--pipeline",
        "4",
        "--json",
    ]);
    assert_eq!(text.lines().count(), 1, "one JSON object: {text}");
    assert_eq!(json_number(&text, "expected"), 100.0);
    assert_eq!(json_number(&text, "echoed"), 100.0);
    let report: Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(report["complete"], true, "{text}");
    assert_eq!(json_number(&text, "messages"), 100.0, "server side: {text}");
    assert!(json_number(&text, "syscalls_per_message") > 0.0, "{text}");
}

/// The port a child process listens on, found by its socket's inode in /proc (the child was
/// started with `--port 0 --quiet`, so it prints no address).
#[cfg(target_os = "linux")]
fn listening_port(pid: u32) -> Option<u16> {
    let mut inodes = Vec::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        let link = std::fs::read_link(fd.path()).ok()?;
        let link = link.to_string_lossy();
        if let Some(inode) = link
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'))
        {
            inodes.push(inode.to_string());
        }
    }
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    for line in table.lines().skip(1) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // local_address is HEXIP:HEXPORT, st 0A is LISTEN, the inode is field 9.
        if fields.len() > 9 && fields[3] == "0A" && inodes.iter().any(|i| i == fields[9]) {
            let port = fields[1].rsplit(':').next()?;
            return u16::from_str_radix(port, 16).ok();
        }
    }
    None
}

/// A facilitator starts `lab server --port 0 --quiet --external --json` in one terminal and
/// points `lab bench --addr` at it from another. Every message comes back; the bench cannot
/// read a separate server's counters, so it says so; and the server's own summary, written
/// when it is stopped with SIGTERM, counts the same messages (warm-up included).
#[cfg(target_os = "linux")]
#[test]
fn bench_against_a_separate_server_process() {
    let server = lab(&["server", "--port", "0", "--quiet", "--external", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lab server");
    let mut port = None;
    let found = crate::support::wait_until(crate::support::PATIENCE, || {
        port = listening_port(server.id());
        port.is_some()
    });
    assert!(found, "the server child listens within the deadline");
    let addr = format!("127.0.0.1:{}", port.unwrap());

    let output = run(&[
        "bench",
        "--addr",
        &addr,
        "--connections",
        "4",
        "--messages",
        "25",
        "--pipeline",
        "2",
        "--warmup",
        "5",
    ]);
    let text = stdout(&output);
    // SAFETY: kill(2) on the child we started and have not yet reaped.
    unsafe { libc::kill(server.id() as libc::pid_t, libc::SIGTERM) };
    let server_out = server.wait_with_output().expect("server exits");
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(text.contains("echoed 100 of 100 messages"), "{text}");
    assert!(text.contains("not started by the bench"), "{text}");
    let summary = stdout(&server_out);
    assert!(server_out.status.success(), "server exit: {summary}");
    // 4 connections × (5 warm-up + 25 measured).
    assert_eq!(json_number(&summary, "messages"), 120.0, "{summary}");
}

/// Someone runs the bench in a shell whose open-file limit is low (soft 64). Forty connections
/// need about 150 descriptors in one process (client and server side): the bench raises its own
/// soft limit, says so, and every message is echoed.
#[test]
fn bench_raises_its_own_open_file_limit_and_says_so() {
    use std::os::unix::process::CommandExt;
    let mut command = lab(&["bench", "--connections", "40", "--messages", "5"]);
    command.stdin(Stdio::null());
    // SAFETY: setrlimit(2) is async-signal-safe and touches only the child about to exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 64,
                rlim_max: 1024,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let output = command.output().expect("run lab bench");
    let text = stdout(&output);
    assert!(output.status.success(), "{text}{}", stderr(&output));
    assert!(
        text.contains("raised this process's open-file limit (RLIMIT_NOFILE soft) from 64 to"),
        "{text}"
    );
    assert!(text.contains("echoed 200 of 200 messages"), "{text}");
}

/// Mistyped options are refused before anything runs: exit status 2 and one line that names
/// the option.
#[test]
fn bad_bench_options_are_one_line_usage_errors() {
    for (args, names) in [
        (vec!["bench", "--connections", "0"], "--connections"),
        (vec!["bench", "--size", "5000"], "--size"),
        (vec!["bench", "--pipeline", "0"], "--pipeline"),
        (vec!["bench", "--messages", "0"], "--messages"),
        (vec!["bench", "--connections", "5000"], "--connections"),
        (vec!["bench", "--sndbuf", "0"], "--sndbuf"),
        (vec!["bench", "--addr", "nowhere"], "--addr"),
        (
            vec!["bench", "--compare", "--addr", "127.0.0.1:1"],
            "--compare",
        ),
    ] {
        let output = run(&args);
        let err = stderr(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(names), "{args:?}: {err}");
    }
}

/// Someone asks the bench for a huge or a zero number: each option has a documented range, and
/// a value outside it is one line naming the option and the bound, exit status 2, before any
/// connection is made. `--duration 18446744073709551615` used to panic adding it to the clock.
#[test]
fn every_numeric_bench_option_has_a_range() {
    const HUGE: &str = "18446744073709551615";
    for (flag, too_small, too_large, says_max) in [
        ("--connections", Some("0"), "65537", "must be at most 65536"),
        (
            "--messages",
            Some("0"),
            "1000000001",
            "must be at most 1000000000",
        ),
        ("--size", None, "67108861", "must be at most 67108860"),
        ("--pipeline", Some("0"), "1025", "must be at most 1024"),
        ("--threads", Some("0"), "257", "must be at most 256"),
        (
            "--sndbuf",
            Some("0"),
            "268435457",
            "must be at most 268435456",
        ),
        ("--rounds", Some("0"), "101", "must be at most 100"),
        ("--warmup", None, "1000001", "must be at most 1000000"),
        ("--duration", Some("0"), "86401", "must be at most 86400"),
    ] {
        let mut cases = vec![
            (too_large, says_max.to_string()),
            (HUGE, says_max.to_string()),
        ];
        if let Some(small) = too_small {
            cases.push((small, "must be at least".to_string()));
        }
        for (value, says) in cases {
            let output = run(&["bench", flag, value]);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{flag} {value}: {err}");
            assert_eq!(err.lines().count(), 1, "{flag} {value}: {err}");
            assert!(
                err.starts_with(&format!("lab: {flag} {says}")),
                "{flag} {value}: {err}"
            );
        }
    }
}

/// The bench and the tour on the raw epoll twin of the server (Linux only). Its echo
/// correctness is tested with the kqueue server's, backend by backend, in `server::echo`.
#[cfg(target_os = "linux")]
mod epoll {
    use super::{json_number, run_ok};

    /// `lab bench --backend epoll` with small numbers: every message is echoed, and in the
    /// steady state the epoll server makes no epoll_ctl at all (no mode switch that changes
    /// nothing) and one read and at most one write per echoed batch.
    #[test]
    fn bench_on_the_epoll_backend_makes_no_epoll_ctl_in_the_steady_state() {
        let text = run_ok(&[
            "bench",
            "--backend",
            "epoll",
            "--connections",
            "5",
            "--messages",
            "30",
            "--json",
        ]);
        assert_eq!(json_number(&text, "echoed"), 150.0, "{text}");
        assert_eq!(json_number(&text, "epoll_ctl"), 0.0, "{text}");
        assert!(
            json_number(&text, "reads") <= 150.0,
            "one read per message: {text}"
        );
        assert!(
            json_number(&text, "writes") <= 150.0,
            "one write per message: {text}"
        );
    }

    /// `lab server --backend epoll` runs the default tour on raw epoll: the trace shows the
    /// epoll_ctl and epoll_wait calls where the kqueue server shows kevent calls, including the
    /// EPOLL_CTL_MOD that puts the slow reader into write mode, and the summary counts echoes.
    #[test]
    fn the_tour_on_the_epoll_backend_shows_its_epoll_calls() {
        let text = run_ok(&["server", "--port", "0", "--backend", "epoll", "--json"]);
        assert!(text.contains("epoll_ctl(ADD"), "{text}");
        assert!(
            text.contains("epoll_ctl(MOD") && text.contains("OUT"),
            "{text}"
        );
        assert!(text.contains("epoll_wait("), "{text}");
        let summary = crate::support::trace::parse_trace(&text)
            .into_iter()
            .find(|record| record["type"] == "summary")
            .expect("a summary")
            .to_string();
        let summary = summary.as_str();
        assert!(json_number(summary, "messages") >= 1.0, "{summary}");
    }
}

/// On macOS and the BSDs there is no epoll: `--backend epoll` is a one-line usage error.
#[cfg(not(target_os = "linux"))]
#[test]
fn the_epoll_backend_needs_linux() {
    let output = run(&["server", "--port", "0", "--backend", "epoll"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("needs Linux"));
}
