//! `--external`: no built-in client; real clients connect, as with `nc 127.0.0.1 5882`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::mpsc;

use super::run::{wait_output, RUN_PATIENCE};
use crate::support::lab;
use crate::support::live::LiveRun;
use crate::support::trace::{self, Field, Value};

/// A facilitator runs `lab flood --external --json --port 0`, reads the port from the start
/// record, and connects with a plain TCP client that sends "hello". The trace shows conn1
/// accepted and its READ knote reporting 5 bytes. SIGTERM ends the run: the summary is
/// written and the exit status is 0.
#[test]
fn an_external_client_is_served_until_sigterm() {
    let mut child = lab(&["flood", "--external", "--json", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lab");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let record = trace::parse_record(&line);
            if tx.send(record).is_err() {
                break;
            }
        }
    });
    let next = |what: &str, want: &dyn Fn(&Value) -> bool| -> Value {
        loop {
            let record = rx
                .recv_timeout(RUN_PATIENCE)
                .unwrap_or_else(|_| panic!("no {what} record within {RUN_PATIENCE:?}"));
            if want(&record) {
                return record;
            }
        }
    };

    let start = next("start", &|r| r["type"].str() == "start");
    let addr = start["addr"].str().to_string();
    let mut client = TcpStream::connect(&addr).expect("connect to lab");
    client.write_all(b"hello").expect("send hello");
    let flood = next("conn1 READ", &|r| {
        r["type"].str() == "kevent"
            && r["events"]
                .arr()
                .iter()
                .any(|e| e["label"].str() == "conn1" && e["filter"].str() == "READ")
    });
    let event = flood["events"]
        .arr()
        .iter()
        .find(|e| e["label"].str() == "conn1")
        .cloned()
        .expect("conn1 event");
    assert_eq!(event["data"].num(), 5.0, "5 bytes waiting: {event:?}");

    // SAFETY: kill(2) on the child we started and have not yet reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0, "send SIGTERM");
    let summary = next("summary", &|r| r["type"].str() == "summary");
    assert!(summary["events"].num() >= 1.0);
    let output = wait_output(child);
    assert!(
        output.status.success(),
        "exit 0 after SIGTERM: {:?}",
        output.status
    );
    drop(client);
    reader.join().expect("reader thread");
}

/// With `--external`, actions of the built-in client make no sense: `--script 'send x'` is a
/// usage error naming the action.
#[test]
fn client_actions_are_refused_with_external() {
    let output = super::run::run_lab(&["flood", "--external", "--port", "0", "--script", "send x"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("send") && stderr.contains("--external"),
        "{stderr}"
    );
}

/// A facilitator runs `lab oneshot --external --json --port 0`, a real client connects and
/// sends "hey", and the facilitator presses Ctrl-C (SIGINT, the terminal's way to stop a
/// non-interactive run): the trace has the accepted connection's one ONESHOT event (data=3),
/// the summary is written last, and the exit status is 0.
#[test]
fn sigint_ends_an_external_run_with_its_summary() {
    let mut run = LiveRun::start(&["oneshot", "--external", "--json", "--port", "0"]);
    let addr = run.addr();
    let mut client = TcpStream::connect(&addr).expect("connect to lab");
    client.write_all(b"hey").expect("send hey");
    let event = run.next("conn1's READ event", |r| {
        r["type"] == "kevent"
            && r["events"]
                .arr()
                .iter()
                .any(|e| e["label"] == "conn1" && e["filter"] == "READ")
    });
    let conn1 = event["events"]
        .arr()
        .iter()
        .find(|e| e["label"] == "conn1")
        .expect("conn1's event");
    assert_eq!(conn1["data"].num(), 3.0, "{conn1}");
    run.signal(libc::SIGINT);
    let (status, records) = run.finish();
    assert!(status.success(), "exit 0 after SIGINT: {status:?}");
    let summary = trace::summary(&records);
    assert_eq!(summary["by_label"]["conn1 READ"].num(), 1.0, "{summary}");
    drop(client);
}
