//! Someone talks to `lab server` with `nc 127.0.0.1 PORT` and types a line: the server speaks
//! length-prefixed frames, so the line's first 4 bytes are read as an impossible length. The
//! trace must say what happened and what to use instead, not only "a 1819043180-byte frame".

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::mpsc;

use crate::support::lab;
use crate::support::live::LiveRun;
use crate::support::trace::Field;
use crate::support::PATIENCE;

/// What the note must say about `hello\n` sent as it is.
fn says_a_line_of_text(note: &str) -> bool {
    note.contains("\"hell…\" looks like a line of text")
        && note.contains("length-prefixed frames (a 4-byte little-endian length, then the message")
        && note.contains("`lab client --port ")
}

/// A person runs `lab server --external --json --port 0`, connects as `nc` would (a plain
/// TcpStream) and types `hello` and Enter. The JSON trace's note for conn1 says the bytes look
/// like a line of text ("hell…"), that the server speaks length-prefixed frames, and to use
/// `lab client` with the server's port; conn1 is closed as before, reason `too_large`.
#[test]
fn a_line_of_text_gets_a_hint_in_the_json_trace() {
    let mut run = LiveRun::start(&["server", "--external", "--json", "--port", "0"]);
    let addr = run.addr();
    let port = addr.rsplit(':').next().expect("host:port").to_string();
    let mut nc = TcpStream::connect(&addr).expect("connect as nc would");
    nc.write_all(b"hello\n").expect("type hello");
    let note = run.next("the note about a line of text", |r| {
        r["type"] == "note" && r["text"].str().contains("line of text")
    });
    let text = note["text"].str();
    assert!(says_a_line_of_text(text), "{text}");
    assert!(text.contains(&format!("--port {port} ")), "{text}");
    let closed = run.next("conn1 closed", |r| {
        r["type"] == "client" && r["event"] == "closed" && r["conn"] == 1u64
    });
    assert_eq!(closed["reason"].str(), "too_large", "{closed}");
    drop(nc);
    run.signal(libc::SIGTERM);
    let (status, _) = run.finish();
    assert!(status.success(), "{status:?}");
}

/// The same in the text trace (`lab server --external --port 0`, piped): the note names the
/// line of text and `lab client`, and a well-formed client connecting afterwards is served
/// as usual.
#[test]
fn a_line_of_text_gets_a_hint_in_the_text_trace() {
    let mut child = lab(&["server", "--external", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lab");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, lines) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str, want: &dyn Fn(&str) -> bool| -> String {
        loop {
            let line = lines
                .recv_timeout(PATIENCE)
                .unwrap_or_else(|_| panic!("no line with {what} within {PATIENCE:?}"));
            if want(&line) {
                return line;
            }
        }
    };
    let listening = next("the address", &|l| l.contains("listening on "));
    let addr = listening
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .expect("the address in the header")
        .to_string();
    let mut nc = TcpStream::connect(&addr).expect("connect as nc would");
    nc.write_all(b"hello\n").expect("type hello");
    let note = next("the hint", &|l| l.contains("line of text"));
    assert!(says_a_line_of_text(&note), "{note}");
    assert!(!note.contains("\u{1b}["), "no colour in a pipe: {note}");
    // SAFETY: kill(2) on the child this test started and has not reaped.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child.wait().expect("wait for lab");
    drop(lines);
    let _ = reader.join();
    assert!(status.success(), "{status:?}");
}
