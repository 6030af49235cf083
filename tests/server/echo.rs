//! Echo correctness, on every event API the machine has: each test runs against the kqueue
//! server and, on Linux, against its raw epoll twin (`--backend epoll`), with the same
//! expectations. What differs between the two (which wait call they make) is checked here too.

use std::thread;

use lab::client::framing;
use lab::server::{check_backend, spawn, Config, EventApi};

use super::{closed_by_server, connect, round_trip, send_raw, Pipelining, Prng};

/// The event APIs this machine can run the server on: the kqueue always, epoll on Linux.
fn backends() -> Vec<EventApi> {
    [EventApi::Kqueue, EventApi::Epoll]
        .into_iter()
        .filter(|backend| check_backend(*backend).is_ok())
        .collect()
}

/// The contract's defaults on `backend`.
fn on(backend: EventApi) -> Config {
    Config {
        backend,
        ..Config::default()
    }
}

/// Two hundred people connect at once and each pipelines fifty messages of random sizes, up to
/// the largest a 4096-byte buffer allows, while reading the echoes as they come. Every echo comes
/// back intact and in order. Should a client fail, the test still stops the server and prints
/// each client's error next to the server's count of closes by reason.
#[test]
fn two_hundred_clients_each_get_fifty_random_messages_back_in_order() {
    for backend in backends() {
        two_hundred_clients_on(backend);
    }
}

fn two_hundred_clients_on(backend: EventApi) {
    let server = spawn(on(backend)).unwrap();
    let failures = Pipelining {
        clients: 200,
        messages: 50,
        largest: Config::default().buffer_size - framing::PREFIX_LEN,
        first_seed: 1000,
    }
    .run(server.addr());
    // Stopped even when a client failed: how the server closed its clients says why.
    let stats = server.stop().unwrap();
    assert!(
        failures.is_empty(),
        "{backend:?}: {} of 200 clients failed:\n  {}\nthe server closed {} clients: eof {}, \
         reset {}, error {}, too_large {}, timeout {}\n{stats:?}",
        failures.len(),
        failures.join("\n  "),
        stats.closed,
        stats.closed_eof,
        stats.closed_reset,
        stats.closed_error,
        stats.closed_too_large,
        stats.closed_timeout,
    );
    assert_eq!(stats.messages, 200 * 50, "{backend:?}");
    assert_eq!(stats.accepted, 200, "{backend:?}");
    assert_eq!(
        stats.held_bytes, 0,
        "{backend:?}: every client's buffers were released"
    );
    // Each backend waits with its own call: kevent, or epoll_wait and never a kevent.
    match backend {
        EventApi::Kqueue => assert!(stats.kevent_calls > 0, "{stats:?}"),
        EventApi::Epoll => {
            assert_eq!(stats.kevent_calls, 0, "no kevent on the epoll backend");
            assert!(stats.os_calls.epoll_wait > 0, "{stats:?}");
        }
    }
}

/// A client writes a thousand messages before reading a single echo (errata 11: the published
/// loop closed such a client with PendingMessage). It gets all thousand back, in order.
#[test]
fn a_client_that_pipelines_a_thousand_messages_gets_them_all_back() {
    for backend in backends() {
        a_thousand_pipelined_on(backend);
    }
}

fn a_thousand_pipelined_on(backend: EventApi) {
    let server = spawn(on(backend)).unwrap();
    let mut stream = connect(server.addr());
    let mut rng = Prng::new(7);
    let messages: Vec<Vec<u8>> = (0..1000)
        .map(|i| {
            let len = 1 + rng.up_to(63);
            let mut m = rng.bytes(len);
            m[0] = i as u8;
            m
        })
        .collect();
    for message in &messages {
        framing::write_message(&mut stream, message).unwrap();
    }
    for (i, expected) in messages.iter().enumerate() {
        let echo = framing::read_message(&mut stream).unwrap().unwrap();
        assert!(echo == *expected, "{backend:?}: echo {i} differs");
    }
    assert_eq!(server.stop().unwrap().messages, 1000, "{backend:?}");
}

/// A message arrives one byte at a time, each byte its own write (TCP_NODELAY on the client, so
/// each byte is its own segment): the length prefix itself is split. It is echoed once, whole.
#[test]
fn a_message_split_byte_by_byte_is_echoed() {
    for backend in backends() {
        split_byte_by_byte_on(backend);
    }
}

fn split_byte_by_byte_on(backend: EventApi) {
    let server = spawn(on(backend)).unwrap();
    let mut stream = connect(server.addr());
    stream.set_nodelay(true).unwrap();
    let frame = framing::encode(b"one byte at a time, the prefix too");
    for byte in &frame {
        send_raw(&mut stream, std::slice::from_ref(byte));
    }
    let echo = framing::read_message(&mut stream).unwrap().unwrap();
    assert_eq!(echo, b"one byte at a time, the prefix too", "{backend:?}");
    // And the connection still works normally afterwards.
    assert_eq!(round_trip(&mut stream, b"next"), b"next");
}

/// One client announces a message larger than the server's buffer. Only that client is closed
/// (reason too_large); a neighbour connected before and after keeps being served.
#[test]
fn a_message_larger_than_the_buffer_closes_only_that_client() {
    for backend in backends() {
        too_large_on(backend);
    }
}

fn too_large_on(backend: EventApi) {
    let config = Config {
        buffer_size: 64,
        ..on(backend)
    };
    let server = spawn(config).unwrap();
    let mut neighbour = connect(server.addr());
    assert_eq!(round_trip(&mut neighbour, b"before"), b"before");

    let mut offender = connect(server.addr());
    // 61 bytes + 4 of prefix = 65 > 64.
    send_raw(&mut offender, &framing::prefix(61));
    send_raw(&mut offender, &[b'x'; 20]);
    assert!(
        closed_by_server(&mut offender),
        "{backend:?}: the offender is closed"
    );

    // The largest message that fits still works, for the neighbour.
    let largest = vec![b'y'; 60];
    assert_eq!(round_trip(&mut neighbour, &largest), largest);
    let stats = server.stop().unwrap();
    assert_eq!(stats.closed_too_large, 1, "{backend:?}");
    assert_eq!(stats.closed, 1, "{backend:?}: nobody else was closed");
}

/// A peer sends a message and hangs up at once: it still gets its echo before the server closes
/// the socket (the read that returns 0 comes after the message's bytes), and the close is
/// counted as end of file.
#[test]
fn a_client_that_hangs_up_after_sending_gets_its_echo_then_eof() {
    for backend in backends() {
        let server = spawn(on(backend)).unwrap();
        let mut stream = connect(server.addr());
        framing::write_message(&mut stream, b"bye").unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let echo = framing::read_message(&mut stream).unwrap();
        assert_eq!(echo.as_deref(), Some(&b"bye"[..]), "{backend:?}");
        assert!(closed_by_server(&mut stream), "{backend:?}");
        let stats = server.stop().unwrap();
        assert_eq!(stats.closed_eof, 1, "{backend:?}");
        assert_eq!(stats.messages, 1, "{backend:?}");
    }
}

/// A hundred clients each send two hundred messages, one at a time (pipeline depth 1), the way
/// `lab bench` does. The server reads each message with one read (the READ event's `data` says
/// how much is there), echoes it with one write, and stages no change that changes nothing, so
/// the system calls per echoed message stay near the floor: read + write + the emulation's
/// FIONREAD, plus a share of the wait.
#[test]
fn at_pipeline_depth_one_each_echo_costs_few_system_calls() {
    for backend in backends() {
        few_system_calls_on(backend);
    }
}

fn few_system_calls_on(backend: EventApi) {
    let server = spawn(on(backend)).unwrap();
    let addr = server.addr();
    let clients: Vec<_> = (0..100)
        .map(|_| {
            thread::spawn(move || {
                let mut stream = connect(addr);
                stream.set_nodelay(true).unwrap();
                for i in 0..200u32 {
                    let message = i.to_le_bytes().repeat(16);
                    assert_eq!(round_trip(&mut stream, &message), message);
                }
            })
        })
        .collect();
    for client in clients {
        client.join().unwrap();
    }
    let stats = server.stop().unwrap();
    eprintln!(
        "{backend:?}: {stats:?} per message {}",
        stats.syscalls_per_message()
    );
    assert_eq!(stats.messages, 100 * 200, "{backend:?}");
    assert!(
        stats.reads <= stats.messages + stats.accepted * 2,
        "{backend:?}: one read per message"
    );
    assert!(
        stats.writes <= stats.messages,
        "{backend:?}: one write per message"
    );
}
