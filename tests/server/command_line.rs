//! The `lab` binary: `lab server` tours summarised as JSON, `--no-batch`, `--as-published`,
//! `--quiet`, `lab client`, and the one-line errors.

use std::io::Write;
use std::process::{Output, Stdio};

use lab::server::{spawn, Config};

use super::json_stdout;
use crate::support::live::LiveRun;
use crate::support::trace::{self, Field};
use crate::support::{frame, PATIENCE};

/// Runs `lab` to its end, stdin closed. `support::lab` sets LAB_STATE_DIR, so the progress a
/// finished run records goes to a scratch directory, never to the tester's home.
pub(super) fn lab(args: &[&str]) -> Output {
    crate::support::lab(args)
        .stdin(Stdio::null())
        .output()
        .expect("run lab")
}

/// An attendee runs the default tour with `--json`. The summary shows batching at work: fewer
/// kevent calls than changes applied, more than one change per call on average; the tour's 20
/// messages are echoed, and each of its three clients is accepted and closed with its reason.
#[test]
fn the_default_tour_applies_more_changes_than_it_makes_kevent_calls() {
    let records = trace::parse_trace(&json_stdout(&[]));
    let summary = trace::summary(&records);
    let calls = summary["kevent_calls"].num();
    let changes = summary["changes"].num();
    assert!(calls < changes, "{calls} kevent calls, {changes} changes");
    assert!(summary["changes_per_call"].num() > 1.0, "{summary}");
    // The tour's scenario (README, "The tour"): 3 + 16 + 1 messages; the echo client and the
    // slow reader hang up when done (eof), the idle client is closed by its read timeout.
    assert_eq!(summary["messages"].num(), (3 + 16 + 1) as f64, "{summary}");
    let clients: Vec<(String, f64, Option<&str>)> = trace::of_type(&records, "client")
        .map(|r| {
            (
                r["event"].str().to_string(),
                r["conn"].num(),
                r["reason"].as_str(),
            )
        })
        .collect();
    for conn in [1.0, 2.0, 3.0] {
        assert!(
            clients.contains(&("accepted".to_string(), conn, None)),
            "conn{conn} accepted: {clients:?}"
        );
    }
    for (conn, reason) in [(1.0, "eof"), (2.0, "eof"), (3.0, "timeout")] {
        assert!(
            clients.contains(&("closed".to_string(), conn, Some(reason))),
            "conn{conn} closed ({reason}): {clients:?}"
        );
    }
    assert_eq!(clients.len(), 6, "{clients:?}");
}

/// The same tour with `--no-batch`: every change is applied by a kevent call of its own, so no
/// call carries more than one change and there are at least as many calls as changes.
#[test]
fn with_no_batch_every_change_has_its_own_kevent_call() {
    let records = trace::parse_trace(&json_stdout(&["--no-batch"]));
    let summary = trace::summary(&records);
    let calls = summary["kevent_calls"].num();
    let changes = summary["changes"].num();
    assert!(changes > 0.0);
    assert!(calls >= changes, "{calls} kevent calls, {changes} changes");
    let per_call: Vec<usize> = trace::of_type(&records, "kevent")
        .map(|call| call["changes"].arr().len())
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
    let first_wait = |extra: &[&str]| {
        let mut args = vec!["--external", "--script", "wait 100"];
        args.extend_from_slice(extra);
        let records = trace::parse_trace(&json_stdout(&args));
        let wait = trace::of_type(&records, "kevent")
            .find(|call| call["nevents"] == 128)
            .expect("a wait with the eventlist")
            .clone();
        wait
    };
    let fixed = first_wait(&[]);
    assert!(fixed["timeout_ms"].is_null(), "{fixed}");
    let published = first_wait(&["--as-published"]);
    assert_eq!(published["timeout_ms"], 999, "{published}");
}

/// `--quiet` prints no trace, only the summary.
#[test]
fn quiet_prints_only_the_summary() {
    let records = trace::parse_trace(&json_stdout(&["--quiet", "--clients", "1"]));
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["type"], "summary");
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
    // A port held bound but not listening for the whole test: refused, and nobody can take it.
    let (_held, port) = crate::support::refusing_port();
    let out = lab(&["client", "--port", &port.to_string(), "hello"]);
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
        (
            &["server", "--buffer-size", "3"][..],
            "--buffer-size must be at least 5 (a 4-byte length prefix and one byte)",
        ),
        (
            &["server", "--buffer-size", "4"][..],
            "--buffer-size must be at least 5 (a 4-byte length prefix and one byte)",
        ),
        (
            &["server", "--max-clients", "0"][..],
            "--max-clients must be at least 1",
        ),
        (
            &["server", "--changelist", "0"][..],
            "--changelist must be at least 1",
        ),
        (
            &["server", "--eventlist", "0"][..],
            "--eventlist must be at least 1",
        ),
        (
            &["server", "--sndbuf", "0"][..],
            "--sndbuf must be at least 1",
        ),
    ] {
        let out = lab(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with(&format!("lab: {says}")),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}: nothing ran");
    }
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = lab(&["server", "--port", &port]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--port 0"), "{stderr}");
}

/// The server's protocol, spoken by hand: send one framed message on `stream` and read back
/// exactly one frame (its 4-byte little-endian length, then the bytes).
fn echo_of(stream: &mut std::net::TcpStream, message: &[u8]) -> Vec<u8> {
    use std::io::Read;
    stream.write_all(&frame(message)).expect("send a message");
    let mut length = [0u8; 4];
    stream.read_exact(&mut length).expect("the echo's length");
    let mut echo = vec![0u8; u32::from_le_bytes(length) as usize];
    stream.read_exact(&mut echo).expect("the echo's bytes");
    echo
}

/// A client of the server under test, with a read timeout so a missing echo fails the test.
fn client_of(addr: &str) -> std::net::TcpStream {
    let stream = std::net::TcpStream::connect(addr).expect("connect to lab server");
    stream.set_read_timeout(Some(PATIENCE)).unwrap();
    stream
}

/// The `client` record that says `conn` was closed, and its reason.
fn closed(run: &mut LiveRun, conn: u64) -> String {
    let record = run.next(&format!("conn{conn} closed"), |r| {
        r["type"] == "client" && r["event"] == "closed" && r["conn"] == conn
    });
    record["reason"].str().to_string()
}

/// A facilitator serves real clients (`lab server --external --json --buffer-size 5
/// --read-timeout-ms 1000`), and four people misbehave in turn. The trace gives each `client
/// closed` record the contract's reason: the one who hangs up after an echo `eof`, the one who
/// announces a message larger than the buffer `too_large` (the smallest buffer, 5 bytes, holds
/// the 4-byte prefix and one byte: a 1-byte message is echoed, a 2-byte one is not), the one
/// who resets mid-message `reset`, the one who goes quiet `timeout`. Ctrl-C (SIGINT) then ends
/// the run with its summary (2 messages echoed) and exit status 0.
#[test]
fn close_reasons_in_the_trace_and_sigint_ends_an_external_run() {
    let mut run = LiveRun::start(&[
        "server",
        "--external",
        "--json",
        "--port",
        "0",
        "--buffer-size",
        "5",
        "--read-timeout-ms",
        // Long enough that no one but the quiet client is closed by it on a loaded machine.
        "1000",
    ]);
    let addr = run.addr();

    let mut polite = client_of(&addr);
    assert_eq!(echo_of(&mut polite, b"a"), b"a", "a 1-byte message fits");
    drop(polite);
    assert_eq!(closed(&mut run, 1), "eof");

    let mut greedy = client_of(&addr);
    assert_eq!(echo_of(&mut greedy, b"b"), b"b");
    greedy
        .write_all(&frame(b"two"))
        .expect("send a 3-byte message");
    assert_eq!(closed(&mut run, 2), "too_large");

    let mut rude = client_of(&addr);
    rude.write_all(&frame(b"x")[..3])
        .expect("half a length prefix");
    crate::support::set_linger_zero(&rude);
    drop(rude);
    assert_eq!(closed(&mut run, 3), "reset");

    let quiet = client_of(&addr);
    assert_eq!(closed(&mut run, 4), "timeout");
    drop(quiet);

    run.signal(libc::SIGINT);
    let (status, records) = run.finish();
    assert!(status.success(), "exit 0 after SIGINT: {status:?}");
    let summary = trace::summary(&records);
    assert_eq!(summary["messages"].num(), 2.0, "{summary}");
}

/// `--host` chooses the listen address: a server on 127.0.0.2 (another loopback address, which
/// Linux answers) reports that address in its start record and serves a client there.
#[cfg(target_os = "linux")]
#[test]
fn host_chooses_the_address_the_server_listens_on() {
    let mut run = LiveRun::start(&[
        "server",
        "--external",
        "--json",
        "--port",
        "0",
        "--host",
        "127.0.0.2",
    ]);
    let addr = run.addr();
    assert!(addr.starts_with("127.0.0.2:"), "{addr}");
    let mut client = client_of(&addr);
    assert_eq!(echo_of(&mut client, b"there"), b"there");
    drop(client);
    run.signal(libc::SIGTERM);
    let (status, _) = run.finish();
    assert!(status.success(), "{status:?}");
}

/// A host the machine does not have (192.0.2.1, an address reserved for documentation), for
/// the server and for a flag stage alike: exit status 1 and one line naming the address and
/// suggesting `--host 127.0.0.1`.
#[test]
fn a_host_that_cannot_be_bound_fails_with_a_hint() {
    for command in ["server", "flood"] {
        let out = lab(&[command, "--host", "192.0.2.1", "--port", "0"]);
        assert_eq!(out.status.code(), Some(1), "{command}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{command}: {stderr}");
        assert!(
            stderr.starts_with("lab: cannot listen on 192.0.2.1")
                && stderr.contains("try --host 127.0.0.1"),
            "{command}: {stderr}"
        );
    }
}

/// The WRITE events of conn2, the tour's slow reader: `data` is the free send space (B19).
fn slow_reader_write_space(sndbuf: &str) -> Vec<f64> {
    let records = trace::parse_trace(&json_stdout(&["--sndbuf", sndbuf]));
    trace::events(&records)
        .filter(|(e, _)| e["label"] == "conn2" && e["filter"] == "WRITE")
        .map(|(e, _)| e["data"].num())
        .collect()
}

/// `--sndbuf` sets SO_SNDBUF on accepted sockets. With 4096 bytes the tour's slow reader fills
/// the server's send buffer: conn2 goes to write mode, and its WRITE events never report more
/// free space than the buffer holds (Linux doubles SO_SNDBUF for its bookkeeping, hence
/// 2 × 4096). With 1 MiB, the tour's 16 echoes (64 KiB) always fit: no write ever blocks, so no
/// WRITE event at all.
#[test]
fn sndbuf_decides_whether_the_slow_reader_blocks_the_servers_writes() {
    let small = slow_reader_write_space("4096");
    assert!(!small.is_empty(), "with 4096 bytes the writes block");
    assert!(
        small.iter().all(|&free| free <= 8192.0),
        "free space within 2 × 4096: {small:?}"
    );
    let large = slow_reader_write_space("1048576");
    assert!(large.is_empty(), "with 1 MiB nothing blocks: {large:?}");
}
