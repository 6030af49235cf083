//! `lab client` with input no server could take, bytes that are not text, a message too large
//! for the server, and an IPv6 address.

use std::ffi::OsStr;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::Stdio;
use std::thread;

use lab::client::echo::MAX_LINE;
use lab::server::{spawn, Config};

use super::{finish, lab_in, TempDir};

/// `lab client --port P` against `server`, with extra arguments.
fn client_args(port: u16, extra: &[&OsStr]) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> =
        vec!["client".into(), "--port".into(), port.to_string().into()];
    args.extend(extra.iter().map(|a| a.to_os_string()));
    args
}

/// A person pipes an endless stream into the client: `lab client < /dev/zero`. The first line
/// never ends, so the client stops after the longest line a lab server could take, with one
/// line that says so and exit status 2, instead of reading until memory runs out.
#[test]
fn an_endless_line_on_stdin_is_refused_after_the_longest_message() {
    let state = TempDir::new("dev-zero");
    let server = spawn(Config::default()).unwrap();
    let port = server.addr().port().to_string();
    let child = lab_in(&state, &["client", "--port", &port])
        .stdin(std::fs::File::open("/dev/zero").expect("/dev/zero"))
        .spawn()
        .expect("start lab client");
    let out = finish(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains("longer than"), "{stderr}");
    assert!(out.stdout.is_empty(), "nothing echoed");
}

/// One byte over the cap, then the end of input: refused before anything is sent (the server
/// has no message from this client), while a line of exactly the cap would have been sent.
#[test]
fn a_line_one_byte_over_the_cap_is_refused_before_it_is_sent() {
    let state = TempDir::new("over-cap");
    let server = spawn(Config::default()).unwrap();
    let port = server.addr().port().to_string();
    let mut child = lab_in(&state, &["client", "--port", &port])
        .stdin(Stdio::piped())
        .spawn()
        .expect("start lab client");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    let writer = thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        let mut left = MAX_LINE + 1;
        while left > 0 {
            let n = left.min(chunk.len());
            if stdin.write_all(&chunk[..n]).is_err() {
                return; // the client stopped reading: that is the point
            }
            left -= n;
        }
    });
    let out = finish(child);
    let _ = writer.join();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("stdin line 1 is longer than"), "{stderr}");
    let stats = server.stop().unwrap();
    assert_eq!(stats.messages, 0, "nothing was sent");
}

/// Bytes that are not UTF-8, as an argument and as a line of stdin, are sent as they are; with
/// stdout a pipe, the echo comes back byte for byte, and `--hex` spells it out.
#[test]
fn bytes_that_are_not_utf8_are_sent_and_echoed_as_they_are() {
    let state = TempDir::new("bytes");
    let server = spawn(Config::default()).unwrap();
    let port = server.addr().port();

    let raw = OsStr::from_bytes(b"caf\xe9 \xff");
    let child = lab_in(&state, &[])
        .args(client_args(port, &[raw]))
        .spawn()
        .expect("start lab client");
    let out = finish(child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"caf\xe9 \xff\n");

    let mut child = lab_in(&state, &[])
        .args(client_args(port, &[OsStr::new("--hex")]))
        .stdin(Stdio::piped())
        .spawn()
        .expect("start lab client");
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(b"\xfe\x00A\r\nok\n").unwrap();
    drop(stdin);
    let out = finish(child);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fe0041\n6f6b\n");
}

/// A person sends a message larger than the server's buffer. The server refuses it by closing
/// the connection (with the message unread, so the kernel sends a reset): the client says the
/// message was refused and why, not "Connection reset by peer".
#[test]
fn a_message_larger_than_the_buffer_is_explained_not_reset() {
    let state = TempDir::new("too-large");
    let server = spawn(Config {
        buffer_size: 64,
        ..Config::default()
    })
    .unwrap();
    let big = "y".repeat(100_000);
    let child = lab_in(&state, &[])
        .args(client_args(server.addr().port(), &[OsStr::new(&big)]))
        .spawn()
        .expect("start lab client");
    let out = finish(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("--buffer-size"), "{stderr}");
    assert!(!stderr.to_lowercase().contains("reset"), "{stderr}");
}

/// `lab client --host ::1 --port 1`: whatever the reason it cannot connect, the address in the
/// message is written the IPv6 way, `[::1]:1`.
#[test]
fn an_ipv6_address_is_written_in_brackets() {
    let state = TempDir::new("ipv6");
    let child = lab_in(&state, &["client", "--host", "::1", "--port", "1", "hi"])
        .spawn()
        .expect("start lab client");
    let out = finish(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert!(stderr.contains("[::1]:1"), "{stderr}");
}
