//! The twelve checks of `lab check`, in the order they run. Each one is bounded in time: it waits
//! for a condition (an echo, an end of file) up to a limit, never for a lucky moment.
//!
//! The small checks drive one blocking connection with the framing helpers
//! ([`framing`]); the ones that need many messages in flight use the load client that
//! `lab bench` uses too ([`Driver`]), one kqueue driving every connection, so `lab check` is never the
//! slower side of the measurement.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::{Check, Settings, Verdict};
use crate::client::framing::{self, read_message, write_message, PREFIX_LEN};
use crate::client::histogram::Histogram;
use crate::client::load::Driver;
use crate::client::tour::connect_with_rcvbuf;

/// How long any single step (a connect, an echo) may take before the check fails. Loopback
/// answers in microseconds; this is for a loaded machine and a debug build.
pub const IO_TIMEOUT: Duration = Duration::from_secs(3);

/// The largest `--max-message` accepted.
pub const MAX_MESSAGE_LIMIT: usize = 64 << 20;

/// The battery, in the order it runs.
pub static CHECKS: [Check; 12] = [
    Check {
        name: "echo",
        read: "lesson 5",
        watch_memory: false,
        run: echo,
    },
    Check {
        name: "split",
        read: "lesson 5 (the Reader keeps partial frames)",
        watch_memory: false,
        run: split,
    },
    Check {
        name: "coalesced",
        read: "lesson 5 (one read, many messages)",
        watch_memory: false,
        run: coalesced,
    },
    Check {
        name: "pipelined",
        read: "errata 11",
        watch_memory: true,
        run: pipelined,
    },
    Check {
        name: "largest",
        read: "lesson 5 (--buffer-size), errata 7",
        watch_memory: false,
        run: largest,
    },
    Check {
        name: "concurrent",
        read: "lesson 5",
        watch_memory: false,
        run: concurrent,
    },
    Check {
        name: "half-close",
        read: "lesson 5 (EV_EOF with data, B12)",
        watch_memory: false,
        run: half_close,
    },
    Check {
        name: "reset",
        read: "lesson 5, errata 9",
        watch_memory: false,
        run: reset,
    },
    Check {
        name: "idle",
        read: "lesson 5 (read timeouts), errata 8",
        watch_memory: false,
        run: idle,
    },
    Check {
        name: "latency",
        read: "errata 12 (TCP_NODELAY)",
        watch_memory: false,
        run: latency,
    },
    Check {
        name: "slow-reader",
        read: "lesson 5 (write mode), errata 11",
        watch_memory: true,
        run: slow_reader,
    },
    // Last: a server that stops accepting after it would fail every check that came after.
    Check {
        name: "churn",
        read: "errata 4 and 5",
        watch_memory: false,
        run: churn,
    },
];

// ----- helpers ----------------------------------------------------------------------------------

/// Connections made to the server since the run started: a server whose connection count is
/// never decremented stops at a round number of them (errata 4: 4,096).
static CONNECTIONS: AtomicU64 = AtomicU64::new(0);

/// The first connection of a run: is anything accepting at the address?
pub fn probe(addr: SocketAddr) -> io::Result<()> {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    TcpStream::connect_timeout(&addr, IO_TIMEOUT).map(drop)
}

/// A blocking connection with Nagle off and every read and write bounded by [`IO_TIMEOUT`].
fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT)
        .map_err(|err| format!("cannot connect: {err}"))?;
    stream
        .set_nodelay(true)
        .and_then(|()| stream.set_read_timeout(Some(IO_TIMEOUT)))
        .and_then(|()| stream.set_write_timeout(Some(IO_TIMEOUT)))
        .map_err(|err| format!("setting up the socket: {err}"))?;
    Ok(stream)
}

/// Read one echo and compare it with `sent`; the error says what came back instead.
fn expect_echo(stream: &mut TcpStream, sent: &[u8]) -> Result<(), String> {
    match read_message(stream) {
        Ok(Some(echo)) if echo == sent => Ok(()),
        Ok(Some(echo)) => Err(format!(
            "sent {} bytes, got back {} bytes that differ",
            sent.len(),
            echo.len()
        )),
        Ok(None) => Err(format!(
            "the server closed the connection instead of echoing {} bytes",
            sent.len()
        )),
        Err(err) => Err(io_words(&err, "no echo")),
    }
}

/// Send one message and check its echo.
fn echo_once(stream: &mut TcpStream, message: &[u8]) -> Result<(), String> {
    write_message(stream, message).map_err(|err| io_words(&err, "send failed"))?;
    expect_echo(stream, message)
}

/// An I/O error in a few words: a timeout says how long we waited.
fn io_words(err: &io::Error, what: &str) -> String {
    match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("{what} within {} s", IO_TIMEOUT.as_secs())
        }
        io::ErrorKind::UnexpectedEof => "the server closed the connection mid-frame".into(),
        _ => format!("{what}: {err}"),
    }
}

/// Wait up to `limit` for the server to close `stream` (end of file or reset), discarding
/// anything it sends first. `Some(elapsed)` when it closed.
fn wait_for_close(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.checked_sub(started.elapsed())?;
        let _ = stream.set_read_timeout(Some(left.max(Duration::from_millis(1))));
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Some(started.elapsed()), // reset: closed too
        }
    }
}

/// A message of `len` bytes whose bytes depend on their position (a shifted echo shows).
fn patterned(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed))
        .collect()
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

/// 12345 → "12,345".
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The Driver's error, without the hint about `lab bench`'s own options.
fn driver_words(err: &str) -> String {
    match err.find(" (is --size") {
        Some(i) => err[..i].to_string(),
        None => err.to_string(),
    }
}

/// A connection whose SO_RCVBUF is set before connecting (the tour's slow reader), so the
/// window it offers is small and the server's writes to it block.
fn connect_small_window(addr: SocketAddr) -> Result<TcpStream, String> {
    const RCVBUF: usize = 4096;
    CONNECTIONS.fetch_add(1, Ordering::Relaxed);
    let stream =
        connect_with_rcvbuf(addr, RCVBUF).map_err(|err| format!("cannot connect: {err}"))?;
    stream
        .set_nodelay(true)
        .map_err(|err| format!("TCP_NODELAY: {err}"))?;
    Ok(stream)
}

/// A Driver over `streams` that gives up when no echo comes for [`IO_TIMEOUT`]: a server
/// that stopped answering fails in seconds, a slow one still finishes.
fn driver(streams: Vec<TcpStream>, size: usize, pipeline: usize) -> Result<Driver, String> {
    let mut driver = Driver::new(streams, 0, size, pipeline)
        .map_err(|err| format!("setting up the client's kqueue: {err}"))?;
    driver.set_stall_timeout(IO_TIMEOUT);
    Ok(driver)
}

/// How long churn waits for an echo that did not come within [`IO_TIMEOUT`] before it calls the
/// server stopped: a starved server answers within it, one that stopped accepting never does.
const SLOW_ECHO: Duration = Duration::from_secs(15);

/// How long the load checks may send before they stop and call the server too slow to tell
/// (a warning): far beyond what a working server needs, even a debug build on a busy machine.
const LOAD_BOUND: Duration = Duration::from_secs(20);

// ----- 1. echo ----------------------------------------------------------------------------------

/// One message, the exact bytes back.
fn echo(s: &Settings) -> Verdict {
    let message = b"hello, kqueue";
    let run = || -> Result<Duration, String> {
        let mut stream = connect(s.addr)?;
        let t0 = Instant::now();
        echo_once(&mut stream, message)?;
        Ok(t0.elapsed())
    };
    match run() {
        Ok(took) => Verdict::pass(format!(
            "sent {} bytes, the same {} back in {}",
            message.len(),
            message.len(),
            ms(took)
        ))
        .echoed(1),
        Err(err) => Verdict::fail(err),
    }
}

// ----- 2. split ---------------------------------------------------------------------------------

/// A frame written one byte at a time with pauses, then split at every offset of the prefix:
/// the server must keep a partial frame until the rest arrives (Part 2's Reader).
fn split(s: &Settings) -> Verdict {
    let message = b"a frame cut into pieces";
    let frame = framing::encode(message);
    // Long enough for the server to read each piece on its own even on a busy machine: a
    // server that drops partial frames is then caught at one split point or another.
    let pause = Duration::from_millis(if s.quick { 5 } else { 10 });
    let run = || -> Result<u64, String> {
        let mut stream = connect(s.addr)?;
        for byte in &frame {
            stream
                .write_all(std::slice::from_ref(byte))
                .map_err(|err| io_words(&err, "send failed"))?;
            // A pause between bytes makes each one its own segment and its own read.
            std::thread::sleep(pause);
        }
        expect_echo(&mut stream, message).map_err(|err| format!("byte by byte: {err}"))?;
        for cut in 1..=PREFIX_LEN {
            stream
                .write_all(&frame[..cut])
                .map_err(|err| io_words(&err, "send failed"))?;
            std::thread::sleep(pause * 5);
            stream
                .write_all(&frame[cut..])
                .map_err(|err| io_words(&err, "send failed"))?;
            expect_echo(&mut stream, message)
                .map_err(|err| format!("cut after byte {cut}: {err}"))?;
        }
        Ok(1 + PREFIX_LEN as u64)
    };
    match run() {
        Ok(echoed) => Verdict::pass(format!(
            "{} bytes one at a time, then cut after prefix byte 1, 2, 3, 4: {echoed} exact echoes",
            frame.len()
        ))
        .echoed(echoed),
        Err(err) => Verdict::fail(err),
    }
}

// ----- 3. coalesced -----------------------------------------------------------------------------

/// Ten messages in one write: all ten echoes, in order.
fn coalesced(s: &Settings) -> Verdict {
    let messages: Vec<Vec<u8>> = (0..10)
        .map(|i| format!("coalesced message {i}").into_bytes())
        .collect();
    let batch: Vec<u8> = messages.iter().flat_map(|m| framing::encode(m)).collect();
    let run = || -> Result<(), String> {
        let mut stream = connect(s.addr)?;
        stream
            .write_all(&batch)
            .map_err(|err| io_words(&err, "send failed"))?;
        for (i, message) in messages.iter().enumerate() {
            expect_echo(&mut stream, message)
                .map_err(|err| format!("echo {} of {}: {err}", i + 1, messages.len()))?;
        }
        Ok(())
    };
    match run() {
        Ok(()) => Verdict::pass(format!(
            "10 messages in one {}-byte write: 10 echoes, in order",
            batch.len()
        ))
        .echoed(10),
        Err(err) => Verdict::fail(err),
    }
}

// ----- 4. pipelined -----------------------------------------------------------------------------

/// 1,000 messages written before any echo is read, from a client whose receive buffer is small,
/// so the server's writes block while more messages wait in its buffer. As published, the next
/// echo then fails with `error.PendingMessage` and the client is closed (errata 11).
fn pipelined(s: &Settings) -> Verdict {
    let count: u64 = 1000;
    // Two frames fit in the server's buffer: a read can then hold a second message when the
    // first one's echo blocks.
    let size = ((s.max_message + PREFIX_LEN) / 2)
        .saturating_sub(PREFIX_LEN)
        .max(1);
    let run = || -> Result<Duration, String> {
        let stream = connect_small_window(s.addr)?;
        // Every frame is queued at once, so the bound only limits the wait for the echoes.
        let mut driver = driver(vec![stream], size, count as usize)?;
        let t0 = Instant::now();
        let result = driver
            .run_phase(count, t0 + LOAD_BOUND, &mut Histogram::default())
            .map_err(|err| driver_words(&err))?;
        if result.echoed < count {
            return Err(format!("{} of {count} echoes", result.echoed));
        }
        Ok(t0.elapsed())
    };
    match run() {
        Ok(took) => Verdict::pass(format!(
            "{count} × {size}-byte messages written before reading, 4 KiB receive buffer: all \
             {count} echoes in order in {}",
            ms(took)
        ))
        .echoed(count),
        Err(err) => Verdict::fail(format!(
            "{count} × {size}-byte messages written before reading: {err}"
        )),
    }
}

// ----- 5. largest / oversize --------------------------------------------------------------------

/// A message of `--max-message` bytes comes back; one byte more, and an absurd prefix (2^31),
/// close *that* connection while another client is still served.
fn largest(s: &Settings) -> Verdict {
    let max = s.max_message;
    let run = || -> Result<(), String> {
        let mut bystander = connect(s.addr)?;
        let largest = patterned(max, 1);
        echo_once(&mut bystander, &largest)
            .map_err(|err| format!("a {max}-byte message: {err}"))?;

        for (what, announced, body) in [
            ("one byte more", max + 1, max + 1),
            ("a 2^31 prefix", 1usize << 31, 16),
        ] {
            let mut stream = connect(s.addr)?;
            let mut frame = framing::prefix(announced).to_vec();
            frame.extend(patterned(body, 2));
            // The server may close before reading it all: a failed write is fine here.
            let _ = stream.write_all(&frame);
            match read_message(&mut stream) {
                Ok(None) => {}
                Err(err)
                    if !matches!(
                        err.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Ok(Some(echo)) => {
                    return Err(format!(
                        "{what} ({announced} bytes announced): echoed {} bytes instead of \
                         closing (is --max-message right?)",
                        echo.len()
                    ))
                }
                Err(_) => {
                    return Err(format!(
                        "{what} ({announced} bytes announced): the connection was still open \
                         {} s later",
                        IO_TIMEOUT.as_secs()
                    ))
                }
            }
        }
        echo_once(&mut bystander, b"still served?").map_err(|err| {
            format!("after the oversize frames, another client was no longer served: {err}")
        })?;
        Ok(())
    };
    match run() {
        Ok(()) => Verdict::pass(format!(
            "{max} bytes echoed; {} bytes and a 2^31 prefix closed their connections; another \
             client still served",
            max + 1
        ))
        .echoed(2),
        Err(err) => Verdict::fail(err),
    }
}

// ----- 6. concurrent ----------------------------------------------------------------------------

/// 100 clients × 50 messages, all connections interleaved on one kqueue, every byte checked.
fn concurrent(s: &Settings) -> Verdict {
    let (clients, per_client, size) = (100usize, 50u64, 64usize.min(s.max_message));
    let run = || -> Result<(u64, u64, Duration), String> {
        let mut streams = Vec::with_capacity(clients);
        for i in 0..clients {
            let stream = connect(s.addr).map_err(|err| format!("client {}: {err}", i + 1))?;
            streams.push(stream);
        }
        let mut driver = driver(streams, size, 1)?;
        let t0 = Instant::now();
        let result = driver
            .run_phase(per_client, t0 + LOAD_BOUND, &mut Histogram::default())
            .map_err(|err| driver_words(&err))?;
        Ok((result.echoed, result.expected, t0.elapsed()))
    };
    match run() {
        Ok((echoed, expected, took)) if echoed < expected => Verdict::warn(format!(
            "{clients} clients × {per_client} messages: only {} of {} echoes in {} s, all \
             correct: too slow to tell",
            thousands(echoed),
            thousands(expected),
            took.as_secs()
        ))
        .echoed(echoed),
        Ok((echoed, _, took)) => {
            let rate = echoed as f64 / took.as_secs_f64().max(1e-9);
            Verdict::pass(format!(
                "{clients} clients × {per_client} messages: {} echoes checked byte for byte, \
                 {} msg/s",
                thousands(echoed),
                thousands(rate as u64)
            ))
            .echoed(echoed)
            .number("messages_per_s", rate)
        }
        Err(err) => Verdict::fail(format!("{clients} clients × {per_client} messages: {err}")),
    }
}

// ----- 7. churn ---------------------------------------------------------------------------------

/// 5,000 connect / echo / close in sequence, then one more client must still be served. As
/// published, `connected` is never decremented (errata 4) and the listener is never re-enabled
/// (errata 5): after 4,096 connections in all, the server stops accepting. A descriptor leak
/// stops it at the open-file limit the same way.
fn churn(s: &Settings) -> Verdict {
    let count: u64 = 5000;
    // Generous: the count, not the speed, is what catches a counter that is never
    // decremented, and a debug build on a loaded machine manages a few hundred a second.
    let bound = Duration::from_secs(if s.quick { 30 } else { 40 });
    let t0 = Instant::now();
    for i in 1..=count {
        let message = format!("churn {i}");
        let mut late = None;
        let mut step = || -> Result<(), String> {
            let mut stream = connect(s.addr)?;
            let err = match echo_once(&mut stream, message.as_bytes()) {
                Ok(()) => return Ok(()),
                Err(err) => err,
            };
            // No echo within IO_TIMEOUT: a server that stopped accepting never answers, a
            // starved one answers late. Wait once more, longer, to tell them apart (issue 15).
            let _ = stream.set_read_timeout(Some(SLOW_ECHO));
            if expect_echo(&mut stream, message.as_bytes()).is_ok() {
                late = Some(err);
                return Ok(());
            }
            Err(err)
        };
        let stepped = step();
        if let Some(err) = late {
            return Verdict::warn(format!(
                "connection {i} of {count}: {err}, but its echo came later: too slow to tell"
            ))
            .echoed(i);
        }
        if let Err(err) = stepped {
            let total = CONNECTIONS.load(Ordering::Relaxed);
            return Verdict::fail(format!(
                "connection {i} of {count}: {err}; the server stopped after {} connections in \
                 all (a count never decremented, or descriptors never closed?)",
                thousands(total - 1)
            ))
            .echoed(i - 1);
        }
        if t0.elapsed() > bound {
            return Verdict::warn(format!(
                "only {i} of {count} connections in {} s: too slow to tell",
                bound.as_secs()
            ))
            .echoed(i);
        }
    }
    let rate = count as f64 / t0.elapsed().as_secs_f64().max(1e-9);
    Verdict::pass(format!(
        "{} connect/echo/close in {:.1} s ({} a second); still accepting at the end",
        thousands(count),
        t0.elapsed().as_secs_f64(),
        thousands(rate as u64)
    ))
    .echoed(count)
    .number("connections_per_s", rate)
}

// ----- 8. half-close ----------------------------------------------------------------------------

/// Three messages, then `shutdown(SHUT_WR)`: the echoes still arrive, then the server closes.
/// The server's READ event carries the data and EV_EOF together (B12): it must echo first.
fn half_close(s: &Settings) -> Verdict {
    let messages: Vec<Vec<u8>> = (0..3)
        .map(|i| format!("before EOF {i}").into_bytes())
        .collect();
    let run = || -> Result<Duration, String> {
        let mut stream = connect(s.addr)?;
        let batch: Vec<u8> = messages.iter().flat_map(|m| framing::encode(m)).collect();
        stream
            .write_all(&batch)
            .map_err(|err| io_words(&err, "send failed"))?;
        stream
            .shutdown(Shutdown::Write)
            .map_err(|err| format!("shutdown: {err}"))?;
        for (i, message) in messages.iter().enumerate() {
            expect_echo(&mut stream, message)
                .map_err(|err| format!("echo {} of 3 after our EOF: {err}", i + 1))?;
        }
        wait_for_close(&mut stream, IO_TIMEOUT).ok_or_else(|| {
            format!(
                "3 echoes came back, but the server kept the connection open {} s after our \
                 EOF",
                IO_TIMEOUT.as_secs()
            )
        })
    };
    match run() {
        Ok(took) => Verdict::pass(format!(
            "3 messages then SHUT_WR: 3 echoes, then the server closed ({} after the last echo)",
            ms(took)
        ))
        .echoed(3),
        Err(err) => Verdict::fail(err),
    }
}

// ----- 9. reset ---------------------------------------------------------------------------------

/// A client resets its connection in the middle of a message; the next client is served.
fn reset(s: &Settings) -> Verdict {
    let run = || -> Result<(), String> {
        let mut resetter = connect(s.addr)?;
        write_message(&mut resetter, b"about to reset")
            .map_err(|err| io_words(&err, "send failed"))?;
        // Half a frame: 100 bytes announced, 10 sent.
        let mut half = framing::prefix(100).to_vec();
        half.extend(patterned(10, 3));
        resetter
            .write_all(&half)
            .map_err(|err| io_words(&err, "send failed"))?;
        // Wait for the echo of the whole message and leave it unread: closing a socket with
        // unread data sends a reset (RST) instead of an orderly FIN.
        let mut byte = [0u8; 1];
        match resetter.peek(&mut byte) {
            Ok(n) if n > 0 => {}
            Ok(_) => return Err("the server closed the connection instead of echoing".into()),
            Err(err) => return Err(io_words(&err, "no echo")),
        }
        drop(resetter);
        let mut next = connect(s.addr).map_err(|err| format!("after the reset: {err}"))?;
        echo_once(&mut next, b"after a reset")
            .map_err(|err| format!("the next client after a reset: {err}"))
    };
    match run() {
        Ok(()) => Verdict::pass(
            "a client reset with half a frame sent; the next client was echoed".to_string(),
        )
        .echoed(2),
        Err(err) => Verdict::fail(err),
    }
}

// ----- 10. idle ---------------------------------------------------------------------------------

/// A client that sends nothing and one that sends half a frame must both be closed by the
/// server's read timeout. Without `--idle-timeout-ms`, a server that keeps them is a warning.
fn idle(s: &Settings) -> Verdict {
    let limit = match s.idle_timeout {
        // The timeout plus a wide margin: the server may check its deadlines late.
        Some(timeout) => timeout + (timeout / 2).max(Duration::from_secs(2)),
        None => Duration::from_secs(if s.quick { 3 } else { 10 }),
    };
    let run = || -> Result<[Option<Duration>; 2], String> {
        let silent = connect(s.addr)?;
        let mut half = connect(s.addr)?;
        let mut frame = framing::prefix(10).to_vec();
        frame.extend_from_slice(b"hal");
        half.write_all(&frame)
            .map_err(|err| io_words(&err, "send failed"))?;
        let closed = std::thread::scope(|scope| {
            let waits: Vec<_> = [silent, half]
                .into_iter()
                .map(|mut stream| scope.spawn(move || wait_for_close(&mut stream, limit)))
                .collect();
            let mut closed = [None, None];
            for (slot, wait) in closed.iter_mut().zip(waits) {
                *slot = wait.join().unwrap_or(None);
            }
            closed
        });
        Ok(closed)
    };
    let closed = match run() {
        Ok(closed) => closed,
        Err(err) => return Verdict::fail(err),
    };
    let say = |c: Option<Duration>| match c {
        Some(d) => format!("closed after {:.2} s", d.as_secs_f64()),
        None => format!("still open after {:.1} s", limit.as_secs_f64()),
    };
    let evidence = format!(
        "silent client {}; half-frame client {}",
        say(closed[0]),
        say(closed[1])
    );
    let mut verdict = match (closed, s.idle_timeout) {
        ([Some(_), Some(_)], _) => Verdict::pass(evidence),
        (_, Some(timeout)) => Verdict::fail(format!(
            "{evidence} (--idle-timeout-ms {})",
            timeout.as_millis()
        )),
        (_, None) => Verdict::warn(format!("{evidence}: give --idle-timeout-ms to require it")),
    };
    for (name, c) in ["silent_closed_s", "half_frame_closed_s"]
        .into_iter()
        .zip(closed)
    {
        if let Some(d) = c {
            verdict = verdict.number(name, d.as_secs_f64());
        }
    }
    verdict
}

// ----- 11. latency ------------------------------------------------------------------------------

/// A batch round trip that slow is Nagle's algorithm waiting for a delayed ACK (about 40 ms on
/// Linux, up to 200 ms elsewhere), not a busy machine.
const NAGLE_SUSPECT: Duration = Duration::from_millis(30);

/// The median round trip with 1 message in flight, and of a batch of 16 written at once. A
/// server that writes 16 small echoes one by one without TCP_NODELAY sends the first at once and
/// holds the rest until our delayed ACK: tens of milliseconds a batch (errata 12).
fn latency(s: &Settings) -> Verdict {
    const DEPTH: usize = 16;
    let size = 64.min(s.max_message);
    let (singles, batches) = if s.quick { (100, 30) } else { (400, 100) };
    let run = || -> Result<(Duration, Duration), String> {
        let mut stream = connect(s.addr)?;
        let message = patterned(size, 4);
        let mut one = Vec::with_capacity(singles);
        for _ in 0..singles {
            let t0 = Instant::now();
            echo_once(&mut stream, &message)?;
            one.push(t0.elapsed());
        }
        let batch: Vec<u8> = (0..DEPTH).flat_map(|_| framing::encode(&message)).collect();
        let mut deep = Vec::with_capacity(batches);
        for _ in 0..batches {
            let t0 = Instant::now();
            stream
                .write_all(&batch)
                .map_err(|err| io_words(&err, "send failed"))?;
            for _ in 0..DEPTH {
                expect_echo(&mut stream, &message)?;
            }
            deep.push(t0.elapsed());
        }
        Ok((median(&mut one), median(&mut deep)))
    };
    let (one, deep) = match run() {
        Ok(medians) => medians,
        Err(err) => return Verdict::fail(err),
    };
    let evidence = format!(
        "median round trip {} at 1 in flight, {} for a batch of {DEPTH}",
        ms(one),
        ms(deep)
    );
    let verdict = if deep >= NAGLE_SUSPECT && deep > one * 4 {
        Verdict::fail(format!(
            "{evidence}: Nagle's algorithm holds the echoes until our delayed ACK; set \
             TCP_NODELAY on accepted sockets"
        ))
    } else {
        Verdict::pass(evidence)
    };
    verdict
        .echoed((singles + batches * DEPTH) as u64)
        .number("median_1_ms", one.as_secs_f64() * 1000.0)
        .number("median_16_ms", deep.as_secs_f64() * 1000.0)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times.get(times.len() / 2).copied().unwrap_or_default()
}

// ----- 12. slow reader isolation ----------------------------------------------------------------

/// One client writes until the server stops taking its messages and never reads its echoes;
/// meanwhile ten others keep echoing, and their round trips stay short. A server that blocks on
/// the slow reader's write (or spins on it) makes everyone wait.
fn slow_reader(s: &Settings) -> Verdict {
    const MOST: usize = 32 << 20;
    let stalled = Duration::from_millis(if s.quick { 500 } else { 1000 });
    let (others, per_other) = (10usize, if s.quick { 50u64 } else { 200 });
    let size = s.max_message.min(4092);
    let run = || -> Result<(usize, Histogram, u64, u64, Option<Duration>), String> {
        let mut slow = connect_small_window(s.addr)?;
        // Write until the server has taken none of our bytes for a while (it stopped reading
        // us: its writes to us are blocked), it closed us, or MOST bytes went out. A blocking
        // write with a timeout returns what it wrote, or WouldBlock when it wrote nothing.
        slow.set_write_timeout(Some(stalled))
            .map_err(|err| format!("setting a write timeout: {err}"))?;
        let frames: Vec<u8> = (0..16)
            .flat_map(|_| framing::encode(&patterned(size, 5)))
            .collect();
        let mut written = 0;
        while written < MOST {
            match slow.write(&frames[written % frames.len()..]) {
                Ok(n) => written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                // Stalled (WouldBlock, TimedOut), or dropped by the server: isolation is
                // about the others either way.
                Err(_) => break,
            }
        }
        let mut streams = Vec::with_capacity(others);
        for i in 0..others {
            streams.push(connect(s.addr).map_err(|err| format!("client {}: {err}", i + 1))?);
        }
        let mut driver = driver(streams, 64.min(s.max_message), 1)?;
        let mut rtt = Histogram::default();
        let t0 = Instant::now();
        let result = driver
            .run_phase(per_other, t0 + LOAD_BOUND, &mut rtt)
            .map_err(|err| {
                format!(
                    "while a client that never reads had {} KiB in flight: {}",
                    written >> 10,
                    driver_words(&err)
                )
            })?;
        drop(slow);
        // The others were slow: was it the stuck client, or this machine? The same clients
        // again with nobody stuck tell: a busy machine is as slow then (issue 15).
        // A baseline that could not be measured (the server closed a client that sat idle
        // too long on this machine) leaves the verdict as it was: the others waited.
        let alone = if rtt.quantile(0.5) > OTHERS_WAITED {
            let mut alone = Histogram::default();
            let t1 = Instant::now();
            driver
                .run_phase(per_other, t1 + LOAD_BOUND, &mut alone)
                .ok()
                .filter(|phase| phase.echoed == phase.expected)
                .map(|_| alone.quantile(0.5))
        } else {
            None
        };
        Ok((written, rtt, result.echoed, result.expected, alone))
    };
    let (written, rtt, echoed, expected, alone) = match run() {
        Ok(found) => found,
        Err(err) => return Verdict::fail(err),
    };
    if echoed < expected {
        return Verdict::warn(format!(
            "{others} other clients got only {echoed} of {expected} echoes in {} s, all \
             correct: too slow to tell",
            LOAD_BOUND.as_secs()
        ))
        .echoed(echoed);
    }
    let (p50, p99) = (rtt.quantile(0.5), rtt.quantile(0.99));
    let evidence = format!(
        "a client that never reads sent {} KiB; {others} others: median {}, p99 {}",
        written >> 10,
        ms(p50),
        ms(p99)
    );
    // The median, with a wide margin: a busy machine stretches the tail (p99) of any server,
    // but only a server that waits on the stuck client slows the typical round trip. A median
    // over the margin counts against the server only when the same clients, alone, were
    // several times faster; otherwise this machine is what was slow.
    let verdict = match alone {
        None if p50 <= OTHERS_WAITED => Verdict::pass(evidence),
        None => Verdict::warn(format!("{evidence}: the others waited")),
        Some(alone) if !others_waited(p50, alone) => Verdict::warn(format!(
            "{evidence}; with nobody stuck, median {}: too slow to tell",
            ms(alone)
        )),
        Some(alone) => Verdict::warn(format!(
            "{evidence}: the others waited (median {} with nobody stuck)",
            ms(alone)
        )),
    };
    // Both phases' echoes, for the per-message counts of `--pid`.
    let phases = if alone.is_some() { 2 } else { 1 };
    verdict
        .echoed(phases * others as u64 * per_other)
        .number("p50_ms", p50.as_secs_f64() * 1000.0)
        .number("p99_ms", p99.as_secs_f64() * 1000.0)
}

/// The median round trip of the slow-reader check's other clients over which they "waited".
const OTHERS_WAITED: Duration = Duration::from_millis(100);

/// Did the stuck client slow the others down? Their median `stuck` is over [`OTHERS_WAITED`]
/// and more than four times their median `alone`, once nobody was stuck. When they were about
/// as slow alone, the machine was what was slow.
fn others_waited(stuck: Duration, alone: Duration) -> bool {
    stuck > OTHERS_WAITED && stuck > alone * 4
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_written_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(4096), "4,096");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn the_bench_hint_is_cut_from_driver_errors() {
        assert_eq!(
            driver_words("the server closed connection 1 after 3 echo(es) of this phase (is --size larger than its --buffer-size?)"),
            "the server closed connection 1 after 3 echo(es) of this phase"
        );
        assert_eq!(driver_words("kevent: boom"), "kevent: boom");
    }

    #[test]
    fn the_median_is_the_middle_sample() {
        let ms = Duration::from_millis;
        assert_eq!(median(&mut [ms(9), ms(1), ms(5)]), ms(5));
        assert_eq!(median(&mut []), Duration::ZERO);
    }

    /// A slow typical round trip is the stuck client's doing only when the same clients were
    /// much faster alone; as slow alone, it is a busy machine.
    #[test]
    fn the_others_waited_only_when_they_were_fast_alone() {
        let ms = Duration::from_millis;
        assert!(others_waited(ms(400), ms(2)));
        assert!(!others_waited(ms(168), ms(150)));
        assert!(!others_waited(ms(400), ms(120)));
        assert!(!others_waited(ms(50), ms(1)));
    }

    /// Churn runs last: a server it breaks would fail every check after it.
    #[test]
    fn churn_runs_last_and_names_are_unique() {
        assert_eq!(CHECKS.last().map(|c| c.name), Some("churn"));
        let mut names: Vec<_> = CHECKS.iter().map(|c| c.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), CHECKS.len());
    }
}
