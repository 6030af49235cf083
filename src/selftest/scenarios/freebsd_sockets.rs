//! Where the emulation once differed from FreeBSD's socket filters and scan, read against
//! FreeBSD's kernel (`sys/kern/uipc_socket.c` `filt_soread`/`filt_sowrite`,
//! `sys/kern/kern_event.c` `kqueue_scan`): WRITE thresholds (B19), NOTE_LOWAT kept in the knote
//! (B20), EOF and errors (B21), ONESHOT delivered as activated (B15), round-robin across calls
//! with a small eventlist (B17).

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use crate::kq::*;

use super::super::support::{
    listener, read_available, read_exactly, send_all, set_linger_zero, tcp_pair, wait_for_bytes,
    wait_until, PATIENCE,
};
use super::{apply, errno_of, ident, kevent, new_kq, poll, read_change, wait_for};

/// FreeBSD's default send low-water mark (`sb_lowat` = MCLBYTES, set by `soreserve`).
const SEND_LOWAT: i64 = 2048;

/// B19, "WRITE means connected" (FreeBSD `filt_sowrite`: a PR_CONNREQUIRED socket that is not
/// connected never fires). A person creates a TCP socket, watches it for READ and WRITE before
/// connecting it: nothing is reported, neither writable nor EOF. Once connect() completes,
/// WRITE fires with at least the send low-water mark of free space, and READ stays quiet.
pub fn b19_write_waits_for_the_connection() {
    let kq = new_kq();
    let socket = unconnected_tcp_socket();
    let fd = socket.as_raw_fd() as usize;
    apply(
        &kq,
        &[
            Kevent::new(fd, EVFILT_READ, EV_ADD),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD),
        ],
    );
    let before = kevent(&kq, &[], 8, Some(Timespec::from_millis(50)));
    assert_eq!(before, [], "an unconnected TCP socket reports nothing");

    let listener = listener();
    let stream = connect(socket, listener.local_addr().expect("listener address"));
    let write = wait_for(&kq, "WRITE once connected", |event| {
        event.filter == EVFILT_WRITE
    });
    assert!(!write.is_eof(), "{write:?}");
    assert!(write.data >= SEND_LOWAT, "free space {}", write.data);
    let events = poll(&kq, 8);
    assert!(
        events.iter().all(|event| event.filter != EVFILT_READ),
        "nothing to read, no EOF: {events:?}"
    );
    drop((stream, listener));
}

/// B19 and B21, the non-blocking connect idiom (FreeBSD `filt_sowrite`: a refused connection
/// shuts the send side, SBS_CANTSENDMORE, with `so_error` = ECONNREFUSED). A person starts a
/// non-blocking connect() to a loopback port nobody listens on and watches WRITE: it fires
/// with EV_EOF and fflags = ECONNREFUSED, and getsockopt(SO_ERROR) then still tells the
/// program why (the kqueue did not take the error). (If connect() itself already said
/// ECONNREFUSED, it took the error, and WRITE only reports the EOF.)
pub fn b19_refused_connect_is_write_eof_and_so_error_still_says_why() {
    let kq = new_kq();
    let gone = listener();
    let addr = gone.local_addr().expect("address");
    drop(gone);
    let socket = unconnected_tcp_socket();
    let fd = socket.as_raw_fd();
    set_nonblocking(fd);
    let started = connect_raw(fd, addr);
    apply(&kq, &[Kevent::new(fd as usize, EVFILT_WRITE, EV_ADD)]);
    let write = wait_for(&kq, "WRITE after the refusal", |event| {
        event.filter == EVFILT_WRITE
    });
    assert!(
        write.is_eof(),
        "a refused connection cannot send: {write:?}"
    );
    match started {
        Err(libc::EINPROGRESS) => {
            assert_eq!(write.fflags, libc::ECONNREFUSED as u32, "{write:?}");
            assert_eq!(so_error(fd), libc::ECONNREFUSED, "SO_ERROR still has it");
        }
        Err(libc::ECONNREFUSED) => assert_eq!(so_error(fd), 0),
        other => panic!("connect() to a closed port: {other:?}"),
    }
}

/// B19, the send low-water mark (FreeBSD `filt_sowrite`: free space ≥ `sb_lowat`, 2048 bytes).
/// A person fills a connection's send buffer until write() says EAGAIN, the peer reading
/// nothing, and collects at once: WRITE is reported only if at least the low-water mark is
/// free again, and then a write really takes bytes. Each round ends on EAGAIN; then the peer
/// reads everything and WRITE comes back with room.
pub fn b19_write_after_eagain_waits_for_the_low_water_mark() {
    let kq = new_kq();
    let (mut client, mut server) = tcp_pair();
    let fd = ident(&client);
    apply(&kq, &[Kevent::new(fd, EVFILT_WRITE, EV_ADD)]);
    let chunk = vec![b'w'; 64 * 1024];
    let mut sent = write_until_eagain(&mut client, &chunk);
    for _ in 0..3 {
        for event in poll(&kq, 8) {
            assert!(
                event.data >= SEND_LOWAT,
                "WRITE below the low-water mark: {event:?}"
            );
            let took = client.write(&chunk[..SEND_LOWAT as usize]);
            assert!(
                matches!(took, Ok(n) if n > 0),
                "WRITE was reported, yet the write failed: {took:?}"
            );
            sent += took.unwrap_or(0);
        }
        sent += write_until_eagain(&mut client, &chunk);
    }

    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let drained = wait_until(PATIENCE, || {
        match server.read(&mut buf) {
            Ok(n) => received += n,
            Err(err) if err.kind() == ErrorKind::WouldBlock => {}
            Err(err) => panic!("read failed: {err}"),
        }
        received == sent
    });
    assert!(drained, "the peer could not read everything");
    let again = wait_for(&kq, "WRITE after draining", |event| {
        event.filter == EVFILT_WRITE
    });
    assert!(again.data >= SEND_LOWAT, "{again:?}");
}

/// B20, NOTE_LOWAT is the knote's own (FreeBSD keeps it in `kn_sdata`; `filt_soread` and
/// `filt_sowrite` compare `data` with it). A person watches one socket from two kqueues, READ
/// with NOTE_LOWAT 5 in the first and a plain READ in the second, and the peer sends 3 bytes:
/// only the second kqueue reports them, and the program's own poll() on the socket says
/// readable (the knote did not raise the socket's receive low-water mark). WRITE with a
/// NOTE_LOWAT larger than any send buffer stays quiet on an idle socket; re-added with
/// NOTE_LOWAT 1 it fires. (macOS clamps the threshold to the buffer's size, spec §2.)
pub fn b20_note_lowat_belongs_to_the_knote_not_the_socket() {
    let (kq_lowat, kq_plain) = (new_kq(), new_kq());
    let (mut client, mut server) = tcp_pair();
    apply(
        &kq_lowat,
        &[read_change(&server, EV_ADD).with_fflags_data(NOTE_LOWAT, 5)],
    );
    apply(&kq_plain, &[read_change(&server, EV_ADD)]);
    send_all(&mut client, b"abc");
    wait_for_bytes(&server, 3);
    let plain = wait_for(&kq_plain, "READ without a threshold", |event| {
        event.filter == EVFILT_READ
    });
    assert_eq!(plain.data, 3);
    assert_eq!(poll(&kq_lowat, 8), [], "3 bytes are below this knote's 5");

    assert!(
        poll_says_readable(&server),
        "poll() on the socket itself sees the 3 bytes: the knote left SO_RCVLOWAT alone"
    );
    assert_eq!(read_available(&mut server), b"abc");

    let fd = ident(&client);
    let huge = Kevent::new(fd, EVFILT_WRITE, EV_ADD).with_fflags_data(NOTE_LOWAT, 1 << 40);
    apply(&kq_plain, &[huge]);
    let events = kevent(&kq_plain, &[], 8, Some(Timespec::from_millis(50)));
    let write = events.iter().find(|event| event.filter == EVFILT_WRITE);
    #[cfg(not(target_os = "macos"))]
    assert_eq!(write, None, "no send buffer has 2^40 bytes free");
    #[cfg(target_os = "macos")]
    let _ = write;
    let small = Kevent::new(fd, EVFILT_WRITE, EV_ADD).with_fflags_data(NOTE_LOWAT, 1);
    apply(&kq_plain, &[small]);
    wait_for(&kq_plain, "WRITE with NOTE_LOWAT 1", |event| {
        event.filter == EVFILT_WRITE && event.data >= 1
    });
}

/// B21, EV_EOF on WRITE after a local shutdown (FreeBSD `filt_sowrite`: SBS_CANTSENDMORE). A
/// person watches both directions of a connection and shuts down its own sending side: WRITE
/// reports EV_EOF (fflags 0, no error), READ does not (the peer may still send), and the peer's
/// READ sees the FIN as EV_EOF.
pub fn b21_local_shutdown_write_is_eof_on_write() {
    let kq = new_kq();
    let (client, server) = tcp_pair();
    let fd = ident(&client);
    apply(
        &kq,
        &[
            read_change(&client, EV_ADD),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD),
            read_change(&server, EV_ADD),
        ],
    );
    client.shutdown(Shutdown::Write).expect("shutdown(SHUT_WR)");
    let write = wait_for(&kq, "WRITE with EOF", |event| {
        event.filter == EVFILT_WRITE && event.is_eof()
    });
    assert_eq!(write.fflags, 0);
    wait_for(&kq, "the peer's READ EOF", |event| {
        event.ident == ident(&server) && event.is_eof()
    });
    let events = poll(&kq, 8);
    assert!(
        events
            .iter()
            .all(|event| !(event.ident == fd && event.filter == EVFILT_READ)),
        "this side can still receive: {events:?}"
    );
}

/// B21, an error is reported, not consumed (FreeBSD `filt_soread` copies `so_error` into fflags
/// and leaves it for `soreceive`). The peer resets the connection: READ reports EV_EOF with
/// fflags = ECONNRESET, and the program's own read() still gets ECONNRESET. Once the program
/// has taken the error, READ still reports EV_EOF, with fflags 0.
pub fn b21_reset_error_stays_for_the_programs_read() {
    let kq = new_kq();
    let (client, mut server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD)]);
    set_linger_zero(&client);
    drop(client);
    let reset = wait_for(&kq, "READ EOF after the reset", |event| event.is_eof());
    assert_eq!(reset.fflags, libc::ECONNRESET as u32);

    let mut buf = [0u8; 8];
    let read = server.read(&mut buf);
    assert_eq!(
        read.map_err(|err| err.kind()),
        Err(ErrorKind::ConnectionReset),
        "the program's read() still sees the reset"
    );
    let after = wait_for(&kq, "READ EOF after the error was read", |event| {
        event.is_eof()
    });
    assert_eq!((after.data, after.fflags), (0, 0), "{after:?}");
}

/// B21, a datagram socket's error is temporary (FreeBSD `filt_soread`: "temporary udp error").
/// A person connects a UDP socket to a port nobody listens on and sends: the ICMP "port
/// unreachable" makes READ fire without EV_EOF, and recv() gets ECONNREFUSED. After that, READ
/// is quiet; when a datagram comes from that port, READ reports it normally.
pub fn b21_udp_refused_is_a_temporary_error_not_eof() {
    let kq = new_kq();
    let gone = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    let port = gone.local_addr().expect("address");
    drop(gone);
    let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind");
    socket.connect(port).expect("connect");
    socket.set_nonblocking(true).expect("non-blocking");
    let fd = socket.as_raw_fd() as usize;
    apply(&kq, &[Kevent::new(fd, EVFILT_READ, EV_ADD)]);
    socket.send(b"anyone?").expect("send");

    let refused = wait_for(&kq, "READ for the ICMP error", |event| event.ident == fd);
    assert!(!refused.is_eof(), "an error is not an EOF: {refused:?}");
    let mut buf = [0u8; 16];
    let got = socket.recv(&mut buf).map_err(|err| err.kind());
    assert_eq!(
        got,
        Err(ErrorKind::ConnectionRefused),
        "recv() gets the error"
    );
    let events = kevent(&kq, &[], 8, Some(Timespec::from_millis(50)));
    assert_eq!(events, [], "the error was taken: nothing to report");

    let peer = UdpSocket::bind(port).expect("bind the refused port again");
    peer.send_to(b"hi", socket.local_addr().expect("address"))
        .expect("send_to");
    let datagram = wait_for(&kq, "READ for the datagram", |event| event.ident == fd);
    assert_eq!((datagram.data, datagram.is_eof()), (2, false));
}

/// B15, ONESHOT is delivered as activated (FreeBSD `kqueue_scan` copies out an activated
/// EV_ONESHOT knote without running its filter again). Bytes are waiting when a person adds a
/// READ|ONESHOT knote in a call with no eventlist: the registration activates it (`data`=5).
/// The person then reads every byte and collects: the event still comes, with data=5, and the
/// knote is gone. Again with two sockets and room for one event: the second knote, activated
/// but not collected, is delivered after its bytes were partly read, with the count it had.
/// But a fired knote whose socket is closed before the collect is gone with it
/// (`knote_fdclose`): nothing is reported.
pub fn b15_oneshot_is_delivered_as_activated() {
    let kq = new_kq();
    let (mut client, mut server) = tcp_pair();
    send_all(&mut client, b"hello");
    wait_for_bytes(&server, 5);
    apply(&kq, &[read_change(&server, EV_ADD | EV_ONESHOT)]);
    assert_eq!(read_available(&mut server), b"hello");
    let events = poll(&kq, 8);
    assert_eq!(events.len(), 1, "activated, so delivered: {events:?}");
    assert_eq!((events[0].data, events[0].flags), (5, EV_ONESHOT));
    let gone = kq.kevent(&[read_change(&server, EV_DELETE)], &mut [], None);
    assert_eq!(errno_of(gone), libc::ENOENT, "delivered, so deleted");

    let kq = new_kq();
    let mut pairs: Vec<(TcpStream, TcpStream)> = (0..2).map(|_| tcp_pair()).collect();
    for (client, server) in &mut pairs {
        apply(&kq, &[read_change(server, EV_ADD | EV_ONESHOT)]);
        send_all(client, b"abcdef");
        wait_for_bytes(server, 6);
    }
    let first = kevent(&kq, &[], 1, Some(Timespec::from_duration(PATIENCE)));
    assert_eq!(first.len(), 1, "room for one: {first:?}");
    let first = first[0];
    let (_, second) = pairs
        .iter_mut()
        .find(|(_, server)| ident(server) != first.ident)
        .expect("the other socket");
    assert_eq!(read_exactly(second, 4), b"abcd");
    let later = poll(&kq, 8);
    assert_eq!(later.len(), 1, "{later:?}");
    assert_eq!(
        (later[0].ident, later[0].data),
        (ident(second), 6),
        "the count it had when it fired"
    );
    assert_eq!(poll(&kq, 8), [], "both knotes are gone");

    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    send_all(&mut client, b"bye");
    wait_for_bytes(&server, 3);
    let fd = ident(&server);
    apply(&kq, &[read_change(&server, EV_ADD | EV_ONESHOT)]);
    drop(server);
    let events = poll(&kq, 8);
    assert!(
        events.iter().all(|event| event.ident != fd),
        "fired, but its descriptor was closed before the collect: {events:?}"
    );
}

/// B17, round-robin with a small eventlist (FreeBSD `kqueue_scan` re-queues a delivered level
/// knote at the tail, behind the knotes still waiting). Twelve connections each have 2 unread
/// bytes and a person collects six times with room for 8 events, reading nothing: each call
/// returns 8 events, and every connection appears in exactly 4 of the 6 calls (two thirds),
/// never twice in one call.
pub fn b17_every_ready_knote_gets_its_turn() {
    let kq = new_kq();
    let pairs: Vec<(TcpStream, TcpStream)> = (0..12).map(|_| tcp_pair()).collect();
    for (client, server) in &pairs {
        let mut client = client.try_clone().expect("clone");
        send_all(&mut client, b"xy");
        wait_for_bytes(server, 2);
    }
    let changes: Vec<Kevent> = pairs
        .iter()
        .map(|(_, server)| read_change(server, EV_ADD))
        .collect();
    apply(&kq, &changes);
    let mut seen: Vec<usize> = Vec::new();
    for call in 0..6 {
        let events = poll(&kq, 8);
        assert_eq!(events.len(), 8, "call {call}: {events:?}");
        let mut idents: Vec<usize> = events.iter().map(|event| event.ident).collect();
        idents.sort_unstable();
        idents.dedup();
        assert_eq!(idents.len(), 8, "call {call}: a knote twice in one call");
        seen.extend(idents);
    }
    for (_, server) in &pairs {
        let times = seen.iter().filter(|fd| **fd == ident(server)).count();
        assert_eq!(times, 4, "fd {} in {times} of 6 calls", ident(server));
    }
}

/// `poll(POLLIN)` on the socket with a zero timeout: what the program itself would be told.
fn poll_says_readable(stream: &TcpStream) -> bool {
    crate::sys::unix::readable_now(stream.as_raw_fd()).expect("poll()")
}

/// Writes `chunk` until the socket refuses more with EAGAIN; returns the bytes written.
fn write_until_eagain(stream: &mut TcpStream, chunk: &[u8]) -> usize {
    let mut sent = 0;
    let full = wait_until(PATIENCE, || match stream.write(chunk) {
        Ok(n) => {
            sent += n;
            false
        }
        Err(err) if err.kind() == ErrorKind::WouldBlock => true,
        Err(err) => panic!("write failed: {err}"),
    });
    assert!(full, "the send buffer never filled");
    sent
}

/// A TCP socket that is not connected yet (the standard library has none to offer).
fn unconnected_tcp_socket() -> OwnedFd {
    crate::sys::unix::tcp_socket().expect("socket()")
}

/// connect(2) of `socket` to the IPv4 `addr` (blocking), then the connected stream.
fn connect(socket: OwnedFd, addr: SocketAddr) -> TcpStream {
    let started = connect_raw(socket.as_raw_fd(), addr);
    assert_eq!(started, Ok(()), "connect()");
    let stream = TcpStream::from(socket);
    stream.set_nonblocking(true).expect("non-blocking");
    stream
}

/// connect(2) of the socket `fd` to the IPv4 `addr`: `Err(errno)` if it did not complete.
fn connect_raw(fd: RawFd, addr: SocketAddr) -> Result<(), i32> {
    let SocketAddr::V4(v4) = addr else {
        panic!("an IPv4 loopback address, not {addr}");
    };
    crate::sys::unix::connect(fd, v4).map_err(|err| err.raw_os_error().unwrap_or(0))
}

/// O_NONBLOCK on a descriptor we own.
fn set_nonblocking(fd: RawFd) {
    crate::sys::unix::set_nonblocking(fd).expect("fcntl(O_NONBLOCK)");
}

/// getsockopt(SO_ERROR): what the program itself learns about the socket's pending error.
fn so_error(fd: RawFd) -> i32 {
    crate::sys::unix::take_socket_error(fd).expect("getsockopt(SO_ERROR)")
}
