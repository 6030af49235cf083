//! A trace whose reader stops reading (`lab server --external | less`, and the pager waits for
//! a key): the run goes on, drops what it cannot queue, and says how much it dropped.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;

use super::run::RUN_PATIENCE;
use crate::support::lab;
use crate::support::trace::{self, Field};

/// A facilitator pipes `lab server --external --json` into a pager and stops scrolling after
/// the first line. A client then exchanges 3,000 messages of varying length (so no two calls
/// look alike and nothing collapses): far more trace than the pipe and the lab's queue hold.
/// Every message is still echoed. When the server is stopped and the reader reads on, the
/// trace holds only whole JSON records, and a note says how many records were dropped while
/// the output was blocked.
#[test]
fn a_trace_nobody_reads_never_stalls_the_server() {
    let mut child = lab(&["server", "--external", "--port", "0", "--json"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lab server");
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    stdout.read_line(&mut first).expect("the start record");
    let start = trace::parse_record(&first);
    let addr = start["addr"].str().to_string();

    let mut client = TcpStream::connect(&addr).expect("connect");
    // A deadline, not a pace: a stalled server fails the test instead of hanging it.
    client.set_read_timeout(Some(RUN_PATIENCE)).unwrap();
    for i in 0..3000usize {
        let message = vec![b'x'; 1 + i % 2000];
        client
            .write_all(&crate::support::frame(&message))
            .expect("send");
        let mut echo = vec![0u8; 4 + message.len()];
        client
            .read_exact(&mut echo)
            .unwrap_or_else(|e| panic!("message {i} not echoed while nobody reads the trace: {e}"));
        assert_eq!(&echo[4..], &message[..]);
    }

    // SAFETY: kill(2) on the child we started and have not yet reaped.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    let mut rest = String::new();
    stdout
        .read_to_string(&mut rest)
        .expect("the rest of the trace");
    let status = child.wait().expect("lab exits");
    assert!(status.success(), "{status:?}");
    let records = trace::parse_trace(&rest);
    let dropped = records
        .iter()
        .find(|r| {
            r["type"] == "note"
                && r["text"]
                    .str()
                    .ends_with("trace records dropped while the output was blocked")
        })
        .unwrap_or_else(|| panic!("no note about dropped records in {} records", records.len()));
    let n: u64 = dropped["text"]
        .str()
        .split(' ')
        .next()
        .unwrap()
        .replace(',', "")
        .parse()
        .expect("a count");
    assert!(n > 0, "{dropped}");
    assert_eq!(records.last().unwrap()["type"], "summary");
}
