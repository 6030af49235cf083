//! Nothing lost: the read timeout measures the client's silence, never the server's backlog; a
//! stopped server reads what arrived meanwhile before it enforces a deadline; a close the server
//! chooses ends with FIN, never with an RST that destroys echoes already written.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use lab::client::framing;
use lab::server::{spawn, Config};

use super::{connect, DEADLINE};
use crate::support::live::LiveRun;
use crate::support::trace::Field;
use crate::support::wait_until;

/// Waits until `span` of wall time has passed. Never synchronisation: only the stimulus "the
/// client stays silent (or the server stays stopped) this long".
fn let_time_pass(span: Duration) {
    let until = Instant::now() + span;
    while Instant::now() < until {
        thread::sleep(until.saturating_duration_since(Instant::now()));
    }
}

/// A connection whose receive buffer is small (set before connect, so the window is small from
/// the start): echoes pile up in the server soon after the client stops reading.
fn connect_small_window(addr: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).expect("connect to the server");
    let stream: TcpStream = socket.into();
    stream.set_read_timeout(Some(DEADLINE)).unwrap();
    stream.set_write_timeout(Some(DEADLINE)).unwrap();
    stream
}

/// Reads frames until `count` echoes came back or the connection ends; the echoes, and how it
/// ended (`None`: every echo arrived).
fn read_echoes(stream: &mut TcpStream, count: usize) -> (Vec<Vec<u8>>, Option<String>) {
    let mut echoes = Vec::new();
    while echoes.len() < count {
        match framing::read_message(stream) {
            Ok(Some(echo)) => echoes.push(echo),
            Ok(None) => return (echoes, Some("end of file".into())),
            Err(err) => return (echoes, Some(format!("{err} ({:?})", err.kind()))),
        }
    }
    (echoes, None)
}

/// Someone pipelines 250 messages of 4,000 bytes to a server with `--read-timeout-ms 1000` and
/// `--sndbuf 8192`, then does not read for over three seconds (three read timeouts) while the
/// server still holds echoes it could not write. (The timeout is a second, not less, so that a
/// client thread the loaded machine leaves unscheduled for a few hundred ms while it is still
/// sending is not, rightly, closed as silent.) That person was not silent: the server was behind.
/// When they read, all 1,001,000 bytes of echo arrive, in order, and no client was closed for a
/// timeout.
#[test]
fn a_client_owed_echoes_is_not_closed_by_the_read_timeout() {
    const MESSAGES: usize = 250;
    let timeout = Duration::from_millis(1000);
    let server = spawn(Config {
        read_timeout: timeout,
        send_buffer: Some(8192),
        ..Config::default()
    })
    .unwrap();
    let mut stream = connect_small_window(server.addr());
    let messages: Vec<Vec<u8>> = (0..MESSAGES).map(|i| vec![(i % 251) as u8; 4000]).collect();
    let mut writer = stream.try_clone().unwrap();
    let to_send = messages.clone();
    let sender = thread::spawn(move || -> io::Result<()> {
        for message in &to_send {
            framing::write_message(&mut writer, message)?;
        }
        Ok(())
    });
    // The stimulus: the client does not read for over three read timeouts.
    let_time_pass(timeout * 3 + Duration::from_millis(100));
    let (echoes, ended) = read_echoes(&mut stream, MESSAGES);
    let sent = sender.join().expect("the sender thread");
    let stats = server.stop().unwrap();
    assert_eq!(
        ended,
        None,
        "after {} of {MESSAGES} echoes; server: {stats:?}",
        echoes.len()
    );
    assert!(echoes == messages, "the echoes come back intact, in order");
    assert!(sent.is_ok(), "every message was sent: {sent:?}");
    assert_eq!(stats.closed_timeout, 0, "{stats:?}");
}

/// Someone sends three messages of 4,000 bytes and then a header announcing a message far
/// larger than the server's buffer, followed by more bytes, and does not read yet. The server
/// writes the three echoes, then closes the connection (too large) with bytes still unread.
/// When the person reads, the three echoes arrive, then end of file: the close the server chose
/// was a FIN, not an RST that would have destroyed echoes still on their way.
#[test]
fn a_close_the_server_chooses_never_destroys_echoes_already_written() {
    let server = spawn(Config {
        send_buffer: Some(8192),
        ..Config::default()
    })
    .unwrap();
    let mut stream = connect_small_window(server.addr());
    let messages: Vec<Vec<u8>> = (0..3).map(|i| vec![i as u8 + 1; 4000]).collect();
    let mut bytes = Vec::new();
    for message in &messages {
        bytes.extend_from_slice(&(message.len() as u32).to_le_bytes());
        bytes.extend_from_slice(message);
    }
    bytes.extend_from_slice(&(1_000_000u32).to_le_bytes());
    bytes.extend_from_slice(&[0xAB; 60_000]);
    let mut writer = stream.try_clone().unwrap();
    // The writer may block once the server stops reading; it ends with an error then, which
    // is fine: what matters is what the reader gets.
    let sender = thread::spawn(move || writer.write_all(&bytes));
    assert!(
        wait_until(DEADLINE, || server.stats().closed_too_large == 1),
        "the server closes the client (too large): {:?}",
        server.stats()
    );
    let (echoes, ended) = read_echoes(&mut stream, 3);
    assert_eq!(ended, None, "after {} of 3 echoes", echoes.len());
    assert!(echoes == messages, "the three echoes, intact");
    let mut rest = Vec::new();
    let end = stream.read_to_end(&mut rest);
    assert!(
        matches!(end, Ok(0)),
        "then end of file, not a reset: {end:?}"
    );
    let _ = sender.join();
    server.stop().unwrap();
}

/// A facilitator runs `lab server --external --read-timeout-ms 300 --json` and presses Ctrl-Z
/// (SIGSTOP) while a client is connected. The client sends a message, the server stays stopped
/// for over three read timeouts, then `fg` (SIGCONT). The client gets its echo: the server read
/// what had arrived before enforcing the deadline, and its trace says the loop had stalled.
#[test]
fn a_message_that_arrives_while_the_server_is_stopped_is_echoed_after_it_continues() {
    stopped_server_echoes_on("kqueue");
    if cfg!(target_os = "linux") {
        stopped_server_echoes_on("epoll");
    }
}

fn stopped_server_echoes_on(backend: &str) {
    let timeout = Duration::from_millis(300);
    let mut run = LiveRun::start(&[
        "server",
        "--external",
        "--json",
        "--port",
        "0",
        "--read-timeout-ms",
        "300",
        "--backend",
        backend,
    ]);
    let addr = run.addr();
    let mut client = connect(addr.parse().unwrap());
    framing::write_message(&mut client, b"before").unwrap();
    assert_eq!(
        framing::read_message(&mut client).unwrap().unwrap(),
        b"before"
    );

    run.signal(libc::SIGSTOP);
    framing::write_message(&mut client, b"while stopped").unwrap();
    // The stimulus: the server stays stopped for over three read timeouts.
    let_time_pass(timeout * 3 + Duration::from_millis(100));
    run.signal(libc::SIGCONT);
    let echo = framing::read_message(&mut client);
    assert!(
        matches!(&echo, Ok(Some(e)) if e == b"while stopped"),
        "{backend}: the echo of the message sent while stopped: {echo:?}"
    );
    drop(client);
    run.signal(libc::SIGTERM);
    let (status, records) = run.finish();
    assert!(status.success(), "{backend}: {status:?}");
    let said_stalled = records.iter().any(|r| {
        let texts: Vec<&str> = match r["type"].str() {
            "note" => vec![r["text"].str()],
            "kevent" => r["notes"]
                .as_array()
                .map(|notes| notes.iter().map(|n| n.str()).collect())
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        texts.iter().any(|t| {
            t.contains("far longer than its") || t.contains("while the loop was not running")
        })
    });
    assert!(
        said_stalled,
        "{backend}: the trace says the loop had stalled"
    );
}
