//! Limits, and peers that misbehave.

use std::io::{self, Write};
use std::time::Duration;

use lab::client::framing;
use lab::server::{spawn, Config};

use super::{closed_by_server, connect, round_trip, DEADLINE};
use crate::support::trace::{self, Field};
use crate::support::{set_linger_zero, wait_until};

/// Whether `stream` has an echo waiting, without blocking.
fn has_echo(stream: &std::net::TcpStream) -> bool {
    let mut byte = [0u8; 1];
    stream.set_nonblocking(true).unwrap();
    let peeked = stream.peek(&mut byte);
    stream.set_nonblocking(false).unwrap();
    matches!(peeked, Ok(n) if n > 0)
}

/// With `--max-clients 2`, two people are served and the listener is disabled. A third
/// connects and sends a message: it waits in the accept queue, unanswered. When one of the
/// first two leaves, the listener is re-enabled and the third is served (errata 4 and 5 fixed).
#[test]
fn with_max_clients_two_a_third_client_waits_until_one_leaves() {
    let server = spawn(Config {
        max_clients: 2,
        ..Config::default()
    })
    .unwrap();
    let mut first = connect(server.addr());
    let mut second = connect(server.addr());
    assert_eq!(round_trip(&mut first, b"1"), b"1");
    assert_eq!(round_trip(&mut second, b"2"), b"2");
    assert!(wait_until(DEADLINE, || server.stats().listener_disabled == 1));

    let mut third = connect(server.addr());
    framing::write_message(&mut third, b"3").unwrap();
    assert_eq!(
        server.stats().accepted,
        2,
        "the third is not accepted while two are connected"
    );

    drop(first);
    let echo = framing::read_message(&mut third).unwrap();
    assert_eq!(
        echo.as_deref(),
        Some(&b"3"[..]),
        "served once the first one left"
    );
    let stats = server.stop().unwrap();
    assert_eq!(stats.accepted, 3);
    // Disabled at 2/2, re-enabled when the first left, disabled again once the third made 2/2.
    assert_eq!(stats.listener_disabled, 2);
}

/// The same with `--as-published`: `connected` is never decremented and the listener never
/// re-enabled, so after the first client leaves, a third is still never served.
#[test]
fn as_published_a_third_client_is_never_served_after_one_leaves() {
    let server = spawn(Config {
        max_clients: 2,
        as_published: true,
        ..Config::default()
    })
    .unwrap();
    let mut first = connect(server.addr());
    let mut second = connect(server.addr());
    assert_eq!(round_trip(&mut first, b"1"), b"1");
    assert_eq!(round_trip(&mut second, b"2"), b"2");
    drop(first);
    assert!(wait_until(DEADLINE, || server.stats().closed == 1));

    let mut third = connect(server.addr());
    framing::write_message(&mut third, b"3").unwrap();
    // A bounded wait: the echo must not arrive while it elapses (a slow machine can only make
    // this test pass more easily, never fail).
    let served = wait_until(Duration::from_millis(500), || has_echo(&third));
    assert!(!served, "as published, the third client is never served");
    assert_eq!(server.stats().accepted, 2);
    // The second client, already accepted, is still served.
    assert_eq!(round_trip(&mut second, b"still here"), b"still here");
    drop(third);
    server.stop().unwrap();
}

/// A client sends one message, gets its echo, and then goes quiet. With `--read-timeout-ms
/// 200` the server closes it (reason timeout): the client reads end of file.
#[test]
fn an_idle_client_is_closed_after_the_read_timeout() {
    let server = spawn(Config {
        read_timeout: Duration::from_millis(200),
        ..Config::default()
    })
    .unwrap();
    let mut idle = connect(server.addr());
    assert_eq!(round_trip(&mut idle, b"hello"), b"hello");
    assert!(closed_by_server(&mut idle), "closed, not left hanging");
    let stats = server.stop().unwrap();
    assert_eq!(stats.closed_timeout, 1);
}

/// A client writes and writes and never reads its echoes. The server's writes to it block, it
/// goes to write mode, and it stops reading from that client: the client's own writes end up
/// blocked, and the server never holds more than one buffer of input and one of output for it.
#[test]
fn a_client_that_never_reads_cannot_grow_the_servers_memory() {
    let config = Config::default();
    let buffer_size = config.buffer_size as u64;
    let server = spawn(config).unwrap();
    let stream = connect(server.addr());
    stream.set_nonblocking(true).unwrap();
    let frame = framing::encode(&vec![b'z'; 4000]);
    let mut sent = 0u64;
    let mut writer = &stream;
    // Write until the client's writes block and the server is in write mode for it.
    // A continuous stream of frames: a partial write resumes where it stopped.
    let mut offset = 0;
    let blocked = wait_until(DEADLINE, || loop {
        match writer.write(&frame[offset..]) {
            Ok(n) => {
                sent += n as u64;
                offset = (offset + n) % frame.len();
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                let stats = server.stats();
                break stats.write_mode_flips >= 1 && stats.held_bytes <= 2 * buffer_size;
            }
            Err(err) => panic!("write failed: {err}"),
        }
    });
    assert!(blocked, "the client's writes end up blocked");
    let stats = server.stats();
    assert!(sent > 0);
    assert_eq!(stats.closed, 0, "the client was not closed, only throttled");
    assert!(
        stats.messages > 0,
        "it was served until its echoes backed up"
    );
    eprintln!("sent {sent} bytes; {stats:?}");
    assert!(
        stats.max_held_bytes <= 2 * buffer_size,
        "the server held at most {} bytes for the client, never more than two buffers ({})",
        stats.max_held_bytes,
        2 * buffer_size
    );
    drop(stream);
    server.stop().unwrap();
}

/// A client resets its connection (SO_LINGER 0, then close) with a message half-sent. Only that
/// client goes; the server keeps serving others.
#[test]
fn a_reset_in_the_middle_of_a_message_closes_only_that_client() {
    let server = spawn(Config::default()).unwrap();
    let mut other = connect(server.addr());
    let rude = connect(server.addr());
    let mut writer = &rude;
    writer.write_all(&framing::prefix(100)).unwrap();
    writer.write_all(b"only part of it").unwrap();
    set_linger_zero(&rude);
    drop(rude);
    assert!(wait_until(DEADLINE, || server.stats().closed == 1));
    assert_eq!(round_trip(&mut other, b"fine"), b"fine");
    server.stop().unwrap();
}

/// The server runs out of file descriptors (RLIMIT_NOFILE 14) while twenty people connect.
/// accept() fails with EMFILE; instead of spinning on a listener that stays readable (P4), the
/// server disables it and retries a little later or as soon as a client leaves. Every person is
/// served in the end, and the number of kevent calls stays small.
#[test]
fn running_out_of_descriptors_at_accept_does_not_spin_and_everyone_is_served() {
    use std::io::{BufRead, BufReader, Read};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    let mut command = Command::new(env!("CARGO_BIN_EXE_lab"));
    command
        .args(["server", "--external", "--port", "0", "--json"])
        .env("LAB_STATE_DIR", crate::support::state_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    // SAFETY: setrlimit(2) is async-signal-safe and touches only the child about to exec.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 14,
                rlim_max: 14,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("run lab server");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut start = String::new();
    stdout.read_line(&mut start).unwrap();
    let start = trace::parse_record(&start);
    assert_eq!(start["type"], "start");
    let addr: std::net::SocketAddr = start["addr"].str().parse().expect("host:port");
    let rest = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).unwrap();
        text
    });

    let mut waiting: Vec<std::net::TcpStream> = (0..20)
        .map(|i| {
            let mut stream = connect(addr);
            framing::write_message(&mut stream, format!("person {i}").as_bytes()).unwrap();
            stream
        })
        .collect();
    // Whoever has an echo is served: read it and leave, which frees a descriptor.
    let everyone_served = wait_until(DEADLINE, || {
        waiting.retain(|stream| !has_echo(stream));
        waiting.is_empty()
    });
    assert!(everyone_served, "{} people never served", waiting.len());

    // SAFETY: kill(2) on the child we started.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    assert!(child.wait().unwrap().success());
    let records = trace::parse_trace(&rest.join().unwrap());
    assert!(
        trace::of_type(&records, "note").any(|n| n["text"].str().contains("Too many open files")),
        "accept hit EMFILE"
    );
    let calls = trace::summary(&records)["kevent_calls"].num();
    assert!(calls < 2000.0, "{calls} kevent calls: the accept loop spun");
}
