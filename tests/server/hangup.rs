//! SIGHUP, what closing the terminal sends, ends a run like SIGTERM: the summary is written.

use std::io::Write;
use std::net::TcpStream;

use crate::support::live::LiveRun;
use crate::support::trace::{self, Field};

/// A facilitator runs `lab server --external --json --port 0` (and then the flood stage the
/// same way) in a terminal window and closes the window. The run ends as after Ctrl-C: the
/// summary record is written and the exit status is 0, instead of a silent death by SIGHUP.
#[test]
fn closing_the_terminal_ends_the_run_with_its_summary() {
    for command in ["server", "flood"] {
        let mut run = LiveRun::start(&[command, "--external", "--json", "--port", "0"]);
        let addr = run.addr();
        // A client's first event shows the loop running, so the signal handler is installed.
        let mut client = TcpStream::connect(&addr).expect("connect to lab");
        client.write_all(b"hi").expect("send");
        run.next("a kevent reporting conn1", |r| {
            r["type"] == "kevent" && r["events"].arr().iter().any(|e| e["label"] == "conn1")
        });
        run.signal(libc::SIGHUP);
        let (status, records) = run.finish();
        drop(client);
        assert!(status.success(), "{command}: exit after SIGHUP: {status:?}");
        let summary = trace::summary(&records);
        assert!(
            summary["kevent_calls"].num() >= 1.0,
            "{command}: {summary:?}"
        );
    }
}
