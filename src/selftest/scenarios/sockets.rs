//! READ and WRITE on TCP sockets: level and edge, data, small eventlists, listeners,
//! NOTE_LOWAT, EOF and errors, close() (B12–B14, B17–B22).

use std::io::Read;
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;

use crate::kq::*;

use super::{apply, errno_of, ident, kevent, new_kq, poll, read_change, wait_for};
use crate::selftest::support::{
    accept_within, addr_of, listener, read_available, read_exactly, send_all, set_linger_zero,
    tcp_pair, wait_for_bytes, wait_until, PATIENCE,
};

/// B12. A person sends 5 bytes to a socket watched with a plain (level) READ knote: two
/// collects in a row both report data=5; after reading everything, a third reports nothing.
pub fn b12_level_read_repeats_until_the_bytes_are_read() {
    let kq = new_kq();
    let (mut client, mut server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD)]);
    send_all(&mut client, b"12345");
    wait_for_bytes(&server, 5);

    for _ in 0..2 {
        let events = poll(&kq, 8);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].data, 5);
    }
    assert_eq!(read_available(&mut server), b"12345");
    assert!(
        poll(&kq, 8).is_empty(),
        "nothing left to read, nothing reported"
    );

    // The same with an EV_CLEAR WRITE knote on the same socket: READ stays level (B1: each
    // knote keeps its own mode), WRITE comes once.
    let fd = ident(&server);
    apply(&kq, &[Kevent::new(fd, EVFILT_WRITE, EV_ADD | EV_CLEAR)]);
    send_all(&mut client, b"678");
    wait_for_bytes(&server, 3);
    let mut write_events = 0;
    for _ in 0..3 {
        let events = poll(&kq, 8);
        let read = events.iter().find(|event| event.filter == EVFILT_READ);
        assert_eq!(read.map(|event| event.data), Some(3), "{events:?}");
        write_events += events
            .iter()
            .filter(|event| event.filter == EVFILT_WRITE)
            .count();
    }
    assert!(write_events >= 1, "the WRITE edge was delivered");
    assert_eq!(read_available(&mut server), b"678");
    let events = poll(&kq, 8);
    assert!(
        events.iter().all(|event| event.filter != EVFILT_READ),
        "{events:?}"
    );
}

/// B13. Several arrivals between two collects merge into one event whose data is every unread
/// byte, not only the new ones; reading part of them lowers it.
pub fn b13_read_data_counts_every_unread_byte() {
    let kq = new_kq();
    let (mut client, mut server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD)]);
    send_all(&mut client, b"abc");
    let first = wait_for(&kq, "READ", |event| event.filter == EVFILT_READ);
    assert_eq!(first.data, 3);

    send_all(&mut client, b"defg");
    send_all(&mut client, b"hi");
    wait_for_bytes(&server, 9);
    let merged = poll(&kq, 8);
    assert_eq!(merged.len(), 1, "one knote, one event");
    assert_eq!(merged[0].data, 9);

    assert_eq!(read_exactly(&mut server, 2), b"ab");
    assert_eq!(poll(&kq, 8)[0].data, 7);
}

/// B14. With EV_CLEAR a person sends 2 bytes in one write: one event, data=2. Reading 1 byte
/// brings no new event (no new edge). One more byte from the peer is a new edge: one event,
/// and data counts every unread byte (2).
pub fn b14_clear_fires_again_on_new_data_not_on_partial_read() {
    let kq = new_kq();
    let (mut client, mut server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD | EV_CLEAR)]);
    send_all(&mut client, b"ab");
    let first = wait_for(&kq, "READ", |event| event.filter == EVFILT_READ);
    assert_eq!(first.data, 2);
    assert!(poll(&kq, 8).is_empty(), "edge delivered: quiet");

    assert_eq!(read_exactly(&mut server, 1), b"a");
    assert!(poll(&kq, 8).is_empty(), "a partial read is not an edge");

    send_all(&mut client, b"c");
    let again = wait_for(&kq, "READ after new data", |event| {
        event.filter == EVFILT_READ
    });
    assert_eq!(again.data, 2, "b and c are both unread");
    assert!(poll(&kq, 8).is_empty());
}

/// B17. Three sockets are readable and a person collects with room for one event, four times:
/// each socket comes out once before any repeats (A, B, C, then A again). Then one socket with
/// READ|EV_CLEAR and WRITE|EV_CLEAR both ready, collected one at a time: both edges come out,
/// one per call; neither is lost.
pub fn b17_small_eventlist_rotates_and_loses_no_edge() {
    let kq = new_kq();
    let pairs: Vec<(TcpStream, TcpStream)> = (0..3).map(|_| tcp_pair()).collect();
    for (client, server) in &pairs {
        apply(&kq, &[read_change(server, EV_ADD)]);
        let mut client = client.try_clone().unwrap();
        send_all(&mut client, b"x");
        wait_for_bytes(server, 1);
    }
    let order: Vec<usize> = (0..4)
        .map(|_| {
            let events = poll(&kq, 1);
            assert_eq!(events.len(), 1, "room for one, one returned");
            events[0].ident
        })
        .collect();
    let mut first_three = order[..3].to_vec();
    first_three.sort_unstable();
    let mut all: Vec<usize> = pairs.iter().map(|(_, server)| ident(server)).collect();
    all.sort_unstable();
    assert_eq!(
        first_three, all,
        "round-robin: every socket before a repeat ({order:?})"
    );
    assert_eq!(order[3], order[0], "then the first one again ({order:?})");

    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    send_all(&mut client, b"edge");
    wait_for_bytes(&server, 4);
    let fd = ident(&server);
    apply(
        &kq,
        &[
            read_change(&server, EV_ADD | EV_CLEAR),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD | EV_CLEAR),
        ],
    );
    let first = poll(&kq, 1);
    let second = poll(&kq, 1);
    assert_eq!((first.len(), second.len()), (1, 1), "{first:?} {second:?}");
    let mut filters = [first[0].filter, second[0].filter];
    filters.sort_unstable();
    let mut expected = [EVFILT_READ, EVFILT_WRITE];
    expected.sort_unstable();
    assert_eq!(filters, expected, "both edges delivered, one per call");
    assert!(poll(&kq, 8).is_empty(), "and each only once");
}

/// B18. Three clients connect to a listener nobody has accepted from yet: READ on the listener
/// reports data=3, the accept-queue length (libkqueue says 1). After one accept, data=2.
pub fn b18_listener_data_is_the_accept_queue_length() {
    let kq = new_kq();
    let listener = listener();
    let clients: Vec<TcpStream> = (0..3)
        .map(|_| TcpStream::connect(addr_of(&listener)).expect("connect"))
        .collect();
    let fd = listener.as_raw_fd() as usize;
    apply(&kq, &[Kevent::new(fd, EVFILT_READ, EV_ADD)]);
    wait_for(&kq, "three connections queued", |event| {
        event.ident == fd && event.data == 3
    });

    let accepted = accept_within(&listener, PATIENCE).expect("accept");
    let events = poll(&kq, 4);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, 2);
    drop((accepted, clients));
}

/// B19. A person watches WRITE on an idle connected socket: it fires, and data is the free
/// space in the send buffer. Filling the buffer until the socket refuses more, then letting
/// the peer drain it, brings WRITE back with free space again.
pub fn b19_write_fires_with_free_send_space() {
    let kq = new_kq();
    let (mut client, mut server) = tcp_pair();
    let fd = ident(&client);
    apply(&kq, &[Kevent::new(fd, EVFILT_WRITE, EV_ADD)]);
    let idle = wait_for(&kq, "WRITE", |event| event.filter == EVFILT_WRITE);
    assert!(idle.data > 0, "free space: {}", idle.data);
    // B19 on the emulation: the send buffer's free memory (SO_MEMINFO), all of it when idle.
    #[cfg(any(target_os = "linux", target_os = "android"))]
    assert_eq!(idle.data, i64::from(sndbuf(&client)));

    let chunk = vec![7u8; 64 * 1024];
    let mut sent = 0usize;
    let full = wait_until(PATIENCE, || {
        match std::io::Write::write(&mut client, &chunk) {
            Ok(n) => {
                sent += n;
                false
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => true,
            Err(err) => panic!("write failed: {err}"),
        }
    });
    assert!(full, "the send buffer never filled");

    let mut received = 0usize;
    let mut buf = vec![0u8; 64 * 1024];
    let drained = wait_until(PATIENCE, || {
        match server.read(&mut buf) {
            Ok(n) => received += n,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => panic!("read failed: {err}"),
        }
        received == sent
    });
    assert!(drained, "the peer could not read everything");
    let again = wait_for(&kq, "WRITE after draining", |event| {
        event.filter == EVFILT_WRITE && event.data > 0
    });
    assert!(!again.is_eof());
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn sndbuf(stream: &TcpStream) -> i32 {
    crate::sys::linux::getsockopt_int(stream.as_raw_fd(), libc::SOL_SOCKET, libc::SO_SNDBUF)
        .expect("SO_SNDBUF")
}

/// B20. A person adds READ with NOTE_LOWAT and data=5: 3 bytes arriving are not enough, 2
/// more make the knote fire with data=5. WRITE with NOTE_LOWAT is taken as well.
pub fn b20_note_lowat_read_waits_for_the_threshold() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(
        &kq,
        &[read_change(&server, EV_ADD).with_fflags_data(NOTE_LOWAT, 5)],
    );
    send_all(&mut client, b"abc");
    wait_for_bytes(&server, 3);
    assert!(
        poll(&kq, 8).is_empty(),
        "3 bytes are below the low-water mark"
    );

    send_all(&mut client, b"de");
    let event = wait_for(&kq, "READ at 5 bytes", |event| event.filter == EVFILT_READ);
    assert_eq!(event.data, 5);

    let write_lowat = Kevent::new(ident(&server), EVFILT_WRITE, EV_ADD | EV_RECEIPT)
        .with_fflags_data(NOTE_LOWAT, 100);
    let receipt = kevent(&kq, &[write_lowat], 1, None);
    assert_eq!(receipt.len(), 1);
    assert_eq!(receipt[0].data, 0, "B20: BSD accepts WRITE NOTE_LOWAT");
}

/// B21. The peer sends one byte and shuts down its sending side: READ reports EV_EOF with the
/// unread byte still counted (data=1, fflags=0), and keeps reporting EOF after the byte is
/// read. WRITE has no EOF yet: a peer FIN alone does not stop this side from sending.
/// Then a peer that resets the connection (SO_LINGER 0 + close): READ reports EV_EOF with
/// fflags = ECONNRESET, again on later collects, and WRITE now has EV_EOF too.
pub fn b21_peer_close_is_eof_with_unread_data_and_reset_is_econnreset() {
    let kq = new_kq();
    let (mut client, mut server) = tcp_pair();
    let fd = ident(&server);
    apply(
        &kq,
        &[
            read_change(&server, EV_ADD),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD),
        ],
    );
    send_all(&mut client, b"!");
    client.shutdown(Shutdown::Write).expect("shutdown");
    let eof = wait_for(&kq, "READ with EOF", |event| {
        event.filter == EVFILT_READ && event.is_eof()
    });
    assert_eq!(
        (eof.data, eof.fflags),
        (1, 0),
        "EOF may come with data (P9)"
    );

    assert_eq!(read_available(&mut server), b"!");
    let events = poll(&kq, 8);
    let read = events.iter().find(|event| event.filter == EVFILT_READ);
    assert!(read.is_some_and(|event| event.is_eof() && event.data == 0));
    let write = events.iter().find(|event| event.filter == EVFILT_WRITE);
    assert!(write.is_some_and(|event| !event.is_eof()), "{events:?}");

    let kq = new_kq();
    let (client, server) = tcp_pair();
    let fd = ident(&server);
    apply(
        &kq,
        &[
            read_change(&server, EV_ADD),
            Kevent::new(fd, EVFILT_WRITE, EV_ADD),
        ],
    );
    reset(client);
    let reset_event = wait_for(&kq, "READ with EOF after reset", |event| {
        event.filter == EVFILT_READ && event.is_eof()
    });
    assert_eq!(reset_event.fflags, libc::ECONNRESET as u32);
    let later = poll(&kq, 8);
    let read = later.iter().find(|event| event.filter == EVFILT_READ);
    assert!(
        read.is_some_and(|event| event.fflags == libc::ECONNRESET as u32),
        "the error is repeated: {later:?}"
    );
    let write = later.iter().find(|event| event.filter == EVFILT_WRITE);
    assert!(write.is_some_and(|event| event.is_eof()), "{later:?}");
}

/// Closes a socket with SO_LINGER {on, 0}: the peer gets an RST instead of a FIN.
fn reset(stream: TcpStream) {
    set_linger_zero(&stream);
    drop(stream);
}

/// B22. A person watches a socket, data arrives, and the socket is closed without EV_DELETE:
/// nothing is reported for it any more, and EV_DELETE then fails with EBADF (or ENOENT, if the
/// number was already reused by another socket). When the number is reused (here: dup2 of
/// another socket onto it), the old knote is gone and EV_ADD creates a fresh one that watches
/// the new socket. The close and the dup2 are the raw ones (a dropped `TcpStream`, `sys::dup2`):
/// on Linux this checks the emulation's lazy path for a close it cannot see (`closing.rs` has
/// the closes through `kq::close`).
pub fn b22_closed_descriptor_reports_nothing_and_reused_number_is_fresh() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    let fd = ident(&server);
    apply(&kq, &[read_change(&server, EV_ADD)]);
    send_all(&mut client, b"bye");
    wait_for(&kq, "READ", |event| event.ident == fd);

    drop(server);
    let events = poll(&kq, 8);
    assert!(
        events.iter().all(|event| event.ident != fd),
        "no event for a closed descriptor: {events:?}"
    );
    let failed = kq.kevent(&[Kevent::new(fd, EVFILT_READ, EV_DELETE)], &mut [], None);
    let errno = errno_of(failed);
    assert!(
        errno == libc::EBADF || errno == libc::ENOENT,
        "EBADF, or ENOENT if reused: {errno}"
    );

    let (_client2, watched) = tcp_pair();
    let (mut client3, replacement) = tcp_pair();
    apply(&kq, &[read_change(&watched, EV_ADD).with_udata(1)]);
    send_all(&mut client3, b"new");
    wait_for_bytes(&replacement, 3);
    // dup2 atomically closes `watched`'s file and puts `replacement`'s on its number;
    // `watched` (the TcpStream) now owns that duplicate and closes it on drop.
    crate::sys::unix::dup2(replacement.as_raw_fd(), watched.as_raw_fd()).expect("dup2");
    let stale = kq.kevent(&[read_change(&watched, EV_DISABLE)], &mut [], None);
    assert_eq!(
        errno_of(stale),
        libc::ENOENT,
        "the old knote went with the old file"
    );
    apply(&kq, &[read_change(&watched, EV_ADD).with_udata(2)]);
    let fresh = poll(&kq, 8);
    assert_eq!(fresh.len(), 1);
    assert_eq!(
        (fresh[0].ident, fresh[0].data, fresh[0].udata),
        (ident(&watched), 3, 2)
    );
}
