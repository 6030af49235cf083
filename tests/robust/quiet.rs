//! `lab server --external --quiet --port 0`: the trace is only the summary, but the port it
//! chose must reach the person who wants to connect.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::thread;

use lab::client::framing;

use super::{lab_in, TempDir, RUN_LIMIT};

/// A person starts a quiet server for real clients on any free port. One line on stderr names
/// the address it listens on; a client connected there gets its echo. Stdout stays free of
/// anything but the summary.
#[test]
fn a_quiet_external_server_on_port_zero_names_its_address() {
    let state = TempDir::new("quiet");
    let mut child = lab_in(&state, &["server", "--external", "--quiet", "--port", "0"])
        .spawn()
        .expect("start lab server");
    let stderr = child.stderr.take().expect("stderr is piped");
    let (line_tx, line_rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = line_tx.send(line);
        }
    });
    let line = line_rx.recv_timeout(RUN_LIMIT);
    let addr = line.as_deref().ok().and_then(|line| {
        let after = line.split("listening on ").nth(1)?;
        after.split_whitespace().next()?.parse::<SocketAddr>().ok()
    });
    let echo = addr.map(|addr| {
        let mut stream = super::super::server::connect(addr);
        framing::write_message(&mut stream, b"where are you").expect("send");
        framing::read_message(&mut stream)
    });
    let _ = child.kill();
    let _ = child.wait();
    let addr = addr.unwrap_or_else(|| panic!("no address on stderr: {line:?}"));
    assert_ne!(addr.port(), 0, "the port chosen, not the one asked for");
    let echo = echo.expect("connected").expect("an echo");
    assert_eq!(echo.as_deref(), Some(&b"where are you"[..]));
}
