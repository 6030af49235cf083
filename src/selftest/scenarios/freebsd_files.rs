//! Where the emulation was brought closer to FreeBSD's own code: user events and timers (B23,
//! B24), what a receipt echoes (B8, B26), the filters the lab does not emulate, datagrams (B13),
//! pipes and regular files (B19, B20), closed descriptors (B22) and a kqueue watched for READ
//! (B25). Each scenario names the FreeBSD function whose behaviour it checks; like the rest of
//! the suite it uses only [`crate::kq`], so it runs unchanged on FreeBSD, with `cfg`'d
//! expectations where macOS differs or was not established.

use crate::kq::*;
use crate::sys::unix as sys;

use super::{apply, errno_of, kevent, new_kq, poll, wait_for};

/// B24, FreeBSD `kqueue_register` + `filt_userattach`. A person adds user event 1 with
/// NOTE_TRIGGER already in the EV_ADD: nothing fires, because FreeBSD zeroes the change's fflags
/// before the attach looks for NOTE_TRIGGER. They disable it and trigger it while disabled:
/// nothing; EV_ENABLE alone then delivers it (the trigger was remembered). A ONESHOT user event
/// 2, triggered with fflags and data, comes back with fflags 0 and data 0 (`kqueue_scan` copies
/// a ONESHOT knote's own kevent without `filt_usertouch`), and is then gone.
pub fn b24_add_never_triggers_disabled_trigger_is_remembered_oneshot_is_bare() {
    let kq = new_kq();
    apply(
        &kq,
        &[Kevent::new(1, EVFILT_USER, EV_ADD | EV_CLEAR).with_fflags_data(NOTE_TRIGGER, 0)],
    );
    let after_add = poll(&kq, 4);
    // macOS (XNU's filt_userattach reads the stored fflags) was not established here.
    #[cfg(not(target_os = "macos"))]
    assert!(
        after_add.is_empty(),
        "FreeBSD: an EV_ADD carrying NOTE_TRIGGER does not fire: {after_add:?}"
    );
    #[cfg(target_os = "macos")]
    let _ = after_add;

    let trigger = |ident: usize, flags: u16| {
        Kevent::new(ident, EVFILT_USER, flags).with_fflags_data(NOTE_TRIGGER | NOTE_FFCOPY | 0x7, 9)
    };
    apply(&kq, &[Kevent::new(1, EVFILT_USER, EV_DISABLE)]);
    apply(&kq, &[trigger(1, 0)]);
    assert!(poll(&kq, 4).is_empty(), "disabled: nothing is delivered");
    apply(&kq, &[Kevent::new(1, EVFILT_USER, EV_ENABLE)]);
    let enabled = poll(&kq, 4);
    assert_eq!(enabled.len(), 1, "the trigger was remembered: {enabled:?}");
    assert_eq!((enabled[0].ident, enabled[0].fflags), (1, 0x7));

    apply(&kq, &[Kevent::new(2, EVFILT_USER, EV_ADD | EV_ONESHOT)]);
    apply(&kq, &[trigger(2, 0)]);
    let once = poll(&kq, 4);
    assert_eq!(once.len(), 1, "{once:?}");
    assert!(once[0].flags & EV_ONESHOT != 0);
    #[cfg(not(target_os = "macos"))]
    assert_eq!(
        (once[0].fflags, once[0].data),
        (0, 0),
        "FreeBSD: a ONESHOT user event is its bare knote"
    );
    let gone = kq.kevent(&[Kevent::new(2, EVFILT_USER, EV_DELETE)], &mut [], None);
    assert_eq!(errno_of(gone), libc::ENOENT, "a ONESHOT knote is deleted");
}

/// B23, FreeBSD `filt_timervalidate`. A person adds a timer with an fflags bit that is no timer
/// unit (0x20): EINVAL, as an error entry. They add timer 4 with a one-hour period, then re-add
/// it with a negative period: the call succeeds (`filt_timertouch` validates after the change
/// is accepted); the next collect reports timer 4 with EV_ERROR set and data = EINVAL, once,
/// and the stopped timer reports nothing after that. A re-add with good parameters restarts it.
pub fn b23_bad_timer_parameters_fail_the_add_and_report_through_a_re_added_knote() {
    let kq = new_kq();
    // 0x20 is no unit on FreeBSD (units 0x1-0x8, NOTE_ABSTIME 0x10); on macOS it is
    // NOTE_CRITICAL, a valid hint.
    let unknown_bit = Kevent::new(3, EVFILT_TIMER, EV_ADD).with_fflags_data(0x20, 10);
    let result = kq.kevent(&[unknown_bit], &mut [], None);
    #[cfg(not(target_os = "macos"))]
    assert_eq!(errno_of(result), libc::EINVAL);
    #[cfg(target_os = "macos")]
    {
        result.expect("macOS: NOTE_CRITICAL is a valid timer flag");
        apply(&kq, &[Kevent::new(3, EVFILT_TIMER, EV_DELETE)]);
    }

    let hour = Kevent::new(4, EVFILT_TIMER, EV_ADD).with_fflags_data(NOTE_SECONDS, 3600);
    apply(&kq, &[hour]);
    let negative = Kevent::new(4, EVFILT_TIMER, EV_ADD).with_fflags_data(NOTE_SECONDS, -1);
    let result = kq.kevent(&[negative], &mut [], Some(Timespec::ZERO));
    #[cfg(not(target_os = "macos"))]
    {
        assert_eq!(result.expect("the re-add itself succeeds"), 0);
        let events = poll(&kq, 4);
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].ident, 4);
        assert!(events[0].flags & EV_ERROR != 0, "{events:?}");
        assert_eq!(events[0].data, i64::from(libc::EINVAL));
        assert!(
            poll(&kq, 4).is_empty(),
            "reported once; the timer is stopped"
        );

        let soon = Kevent::new(4, EVFILT_TIMER, EV_ADD).with_fflags_data(NOTE_USECONDS, 1);
        apply(&kq, &[soon]);
        let restarted = wait_for(&kq, "timer 4 restarted", |event| event.ident == 4);
        assert!(restarted.data >= 1, "{restarted:?}");
    }
    // macOS validates before the change is applied (XNU `filt_timervalidate` at touch).
    #[cfg(target_os = "macos")]
    let _ = result;
    apply(&kq, &[Kevent::new(4, EVFILT_TIMER, EV_DELETE)]);
}

/// B8 and B26, FreeBSD `kqueue_register`. A person adds user event 5 with EV_RECEIPT, fflags
/// 0x3 and data 7: the receipt carries fflags 0 and data 0 (FreeBSD moves them into the new
/// knote and zeroes them in the change). A receipt for a later trigger of it carries only the 24
/// user bits of its fflags (`filt_usertouch` masks the change). User event 6 is added with
/// 0x100 (EV_FORCEONESHOT) in its flags and later enabled with 0x200 (EV_KEEPUDATA): its event
/// shows neither bit, because FreeBSD stores neither. (On macOS 0x100 and 0x200 mean
/// EV_UDATA_SPECIFIC and EV_VANISHED, so that part runs on FreeBSD and Linux only.)
pub fn b08_receipts_of_new_knotes_carry_no_fflags_and_one_time_bits_are_not_kept() {
    let kq = new_kq();
    let add = Kevent::new(5, EVFILT_USER, EV_ADD | EV_CLEAR | EV_RECEIPT).with_fflags_data(0x3, 7);
    let receipt = kevent(&kq, &[add], 1, None);
    assert_eq!(receipt.len(), 1);
    assert!(receipt[0].is_error() && !receipt[0].is_failure());
    #[cfg(not(target_os = "macos"))]
    assert_eq!(
        receipt[0].fflags, 0,
        "FreeBSD: the new knote took the fflags"
    );

    let trigger = Kevent::new(5, EVFILT_USER, EV_RECEIPT)
        .with_fflags_data(NOTE_TRIGGER | NOTE_FFOR | 0x10, 1);
    let receipt = kevent(&kq, &[trigger], 1, None);
    assert_eq!(receipt.len(), 1);
    #[cfg(not(target_os = "macos"))]
    assert_eq!(receipt[0].fflags, 0x10, "FreeBSD: only the user bits stay");

    #[cfg(not(target_os = "macos"))]
    {
        const EV_FORCEONESHOT: u16 = 0x0100;
        const EV_KEEPUDATA: u16 = 0x0200;
        apply(
            &kq,
            &[Kevent::new(
                6,
                EVFILT_USER,
                EV_ADD | EV_CLEAR | EV_DISABLE | EV_FORCEONESHOT,
            )],
        );
        apply(
            &kq,
            &[Kevent::new(6, EVFILT_USER, EV_ENABLE | EV_KEEPUDATA)
                .with_fflags_data(NOTE_TRIGGER, 0)],
        );
        let events = poll(&kq, 4);
        let six = events
            .iter()
            .find(|event| event.ident == 6)
            .expect("event 6");
        assert_eq!(
            six.flags & (EV_FORCEONESHOT | EV_KEEPUDATA | EV_ONESHOT),
            0,
            "{six:?}"
        );
        assert!(six.flags & EV_CLEAR != 0);
    }
}

/// B7, FreeBSD `kqueue_fo_find` and `filt_nullattach`: the filters the lab does not emulate.
/// A person adds EVFILT_SIGNAL (-6) for SIGUSR2, EVFILT_PROC (-5) for their own pid and
/// EVFILT_VNODE (-4) on a descriptor. A BSD kernel has these filters and accepts all three. The
/// emulation answers as a FreeBSD kernel built without them: EV_ADD fails with ENXIO, and any
/// other change with ENOENT. A filter number outside FreeBSD's table (-14) is EINVAL everywhere.
pub fn b07_filters_the_emulation_lacks_answer_as_a_kernel_without_them() {
    const EVFILT_VNODE: i16 = -4;
    const EVFILT_PROC: i16 = -5;
    const EVFILT_SIGNAL: i16 = -6;
    let kq = new_kq();
    let temp = TempFile::new("vnode", b"watched");
    let file = std::fs::File::open(&temp.0).expect("open the temporary file");
    let fd = std::os::fd::AsRawFd::as_raw_fd(&file) as usize;
    let adds = [
        Kevent::new(libc::SIGUSR2 as usize, EVFILT_SIGNAL, EV_ADD),
        Kevent::new(std::process::id() as usize, EVFILT_PROC, EV_ADD)
            .with_fflags_data(0x8000_0000, 0), // NOTE_EXIT
        Kevent::new(fd, EVFILT_VNODE, EV_ADD).with_fflags_data(0x2, 0), // NOTE_WRITE
    ];
    for add in adds {
        let result = kq.kevent(&[add], &mut [], None);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        assert_eq!(errno_of(result), libc::ENXIO, "{add:?}");
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        result.expect("a BSD kernel has this filter");
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let disable = Kevent::new(libc::SIGUSR2 as usize, EVFILT_SIGNAL, EV_DISABLE);
        let result = kq.kevent(&[disable], &mut [], None);
        assert_eq!(errno_of(result), libc::ENOENT);
    }
    let unknown = kq.kevent(&[Kevent::new(1, -14, EV_ADD)], &mut [], None);
    assert_eq!(errno_of(unknown), libc::EINVAL);
}

/// B13 for datagrams, FreeBSD `filt_soread` (`sbavail − sb_ctl`). A person sends two datagrams
/// of 3 and 5 bytes to a UDP socket watched for READ: the event's data is 8, every queued
/// byte, not the first datagram's 3 (what Linux's FIONREAD says). After one recv() takes the
/// first datagram, data is 5. A Unix datagram socket pair behaves the same.
pub fn b13_datagram_read_data_counts_every_queued_datagram() {
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixDatagram;

    let kq = new_kq();
    let receiver = UdpSocket::bind("127.0.0.1:0").expect("bind");
    receiver.set_nonblocking(true).expect("nonblocking");
    let sender = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sender
        .connect(receiver.local_addr().unwrap())
        .expect("connect");
    let fd = receiver.as_raw_fd() as usize;
    apply(&kq, &[Kevent::new(fd, EVFILT_READ, EV_ADD)]);
    sender.send(b"abc").expect("send");
    sender.send(b"defgh").expect("send");
    wait_for(&kq, "8 bytes in two datagrams", |event| {
        event.ident == fd && event.data == 8
    });
    let mut buf = [0u8; 16];
    assert_eq!(receiver.recv(&mut buf).expect("recv"), 3);
    let events = poll(&kq, 4);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].data, 5, "the second datagram is left");

    let (left, right) = UnixDatagram::pair().expect("socketpair");
    left.set_nonblocking(true).expect("nonblocking");
    let fd = left.as_raw_fd() as usize;
    apply(&kq, &[Kevent::new(fd, EVFILT_READ, EV_ADD)]);
    right.send(b"123").expect("send");
    right.send(b"45678").expect("send");
    wait_for(&kq, "8 bytes in two Unix datagrams", |event| {
        event.ident == fd && event.data == 8
    });
}

/// A file of `bytes` in the temporary directory, removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, bytes: &[u8]) -> TempFile {
        let path = std::env::temp_dir().join(format!("lab-{name}-{}", std::process::id()));
        std::fs::write(&path, bytes).expect("write a temporary file");
        TempFile(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// B13 for regular files, FreeBSD `filt_vfsread` and `filt_vfswrite` (sys/kern/vfs_subr.c). A
/// person opens a 10-byte file and adds EVFILT_READ on it: the event's data is 10, the bytes
/// from the file offset to the end. After reading 4 bytes it is 6, and level-triggered it comes
/// back on every collect; once everything is read, nothing; after seeking back to offset 2,
/// data 8. EVFILT_WRITE on the same file is always ready, with data 0.
pub fn b13_regular_file_read_data_is_the_bytes_after_the_offset() {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::fd::AsRawFd;

    let temp = TempFile::new("vfsread", b"0123456789");
    let mut file = std::fs::File::open(&temp.0).expect("open");
    let fd = file.as_raw_fd() as usize;
    let kq = new_kq();
    apply(&kq, &[Kevent::new(fd, EVFILT_READ, EV_ADD)]);
    let read_data = |kq: &Kqueue| -> Vec<i64> {
        poll(kq, 4)
            .iter()
            .filter(|event| event.ident == fd && event.filter == EVFILT_READ)
            .map(|event| event.data)
            .collect()
    };
    assert_eq!(read_data(&kq), [10]);
    let mut four = [0u8; 4];
    file.read_exact(&mut four).expect("read 4 bytes");
    assert_eq!(read_data(&kq), [6]);
    assert_eq!(read_data(&kq), [6], "level: again on the next collect");
    let mut rest = Vec::new();
    file.read_to_end(&mut rest).expect("read the rest");
    assert!(read_data(&kq).is_empty(), "at the end: nothing to report");
    file.seek(SeekFrom::Start(2)).expect("seek");
    assert_eq!(read_data(&kq), [8]);

    #[cfg(not(target_os = "macos"))]
    {
        apply(&kq, &[Kevent::new(fd, EVFILT_WRITE, EV_ADD)]);
        let events = poll(&kq, 4);
        let write = events
            .iter()
            .find(|event| event.filter == EVFILT_WRITE)
            .expect("WRITE on a regular file is always ready");
        assert_eq!(write.data, 0);
    }
}

/// B18, FreeBSD `filt_soread` (its SOLISTENING case, sys/kern/uipc_socket.c). A person creates
/// a TCP socket, binds it, and adds EVFILT_READ on it before calling listen(). After listen()
/// and two connections from clients, the same knote reports the socket as a listener: data 2,
/// the connections waiting for accept(), and no EV_EOF.
pub fn b18_a_socket_that_listens_after_registration_is_a_listener() {
    use std::os::fd::AsRawFd;

    let (socket, port) = sys::tcp_socket_bound_to_loopback().expect("socket and bind");
    let fd = socket.as_raw_fd();
    let kq = new_kq();
    apply(&kq, &[Kevent::new(fd as usize, EVFILT_READ, EV_ADD)]);
    sys::listen(fd, 8).expect("listen");
    let _first = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let _second = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let listening = wait_for(&kq, "two connections waiting for accept()", |event| {
        event.ident == fd as usize && event.data == 2
    });
    assert!(!listening.is_eof(), "{listening:?}");
}

/// A pipe: its reading end and its writing end, as files.
fn pipe() -> (std::fs::File, std::fs::File) {
    let (reader, writer) = sys::pipe().expect("pipe");
    (reader.into(), writer.into())
}

/// Writes `chunk` until the pipe says EAGAIN; the number of bytes written.
fn fill(writer: &mut std::fs::File, chunk: &[u8]) -> usize {
    use std::io::Write;
    let mut written = 0;
    loop {
        match writer.write(chunk) {
            Ok(n) => written += n,
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => return written,
            Err(err) => panic!("write to the pipe: {err}"),
        }
    }
}

/// B19 and B20 for pipes, FreeBSD `filt_pipewrite`, `filt_piperead` and `pipe_kqfilter`
/// (sys/kern/sys_pipe.c). A person fills a pipe to the last byte and watches its write end:
/// no WRITE event. After reading 100 bytes there is still none (a pipe is writable only with
/// PIPE_BUF, 512, bytes free); after reading 8 KiB more, WRITE fires with data ≥ 8192. A READ
/// knote with NOTE_LOWAT 100 is accepted, and FreeBSD's pipe ignores the threshold: 5 bytes are
/// reported (macOS honours it). Once the reading end is closed, adding WRITE is EPIPE.
pub fn b19_pipes_are_writable_from_pipe_buf_and_epipe_without_a_reader() {
    use std::io::Read;
    use std::os::fd::AsRawFd;

    let kq = new_kq();
    let (mut reader, mut writer) = pipe();
    let (rfd, wfd) = (reader.as_raw_fd(), writer.as_raw_fd());
    sys::set_nonblocking(wfd).expect("O_NONBLOCK");
    // Page-sized writes: a Linux pipe keeps each write's pages, so smaller ones would leave
    // unusable gaps (full, yet with free bytes on paper).
    let mut written = fill(&mut writer, &[b'x'; 4096]);
    written += fill(&mut writer, b"x");
    apply(&kq, &[Kevent::new(wfd as usize, EVFILT_WRITE, EV_ADD)]);
    assert!(poll(&kq, 4).is_empty(), "full: not writable");

    let mut buf = vec![0u8; 8192];
    reader.read_exact(&mut buf[..100]).expect("read 100");
    assert!(
        poll(&kq, 4).is_empty(),
        "100 bytes free is less than PIPE_BUF"
    );
    reader.read_exact(&mut buf).expect("read 8 KiB");
    let writable = wait_for(&kq, "WRITE with 8 KiB free", |event| {
        event.ident == wfd as usize
    });
    assert!(writable.data >= 8192, "{writable:?}");
    apply(&kq, &[Kevent::new(wfd as usize, EVFILT_WRITE, EV_DELETE)]);

    // Drain, then 5 bytes under a NOTE_LOWAT of 100.
    let mut left = written - 8292;
    while left > 0 {
        let n = reader.read(&mut buf[..left.min(8192)]).expect("drain");
        left -= n;
    }
    let lowat = Kevent::new(rfd as usize, EVFILT_READ, EV_ADD).with_fflags_data(NOTE_LOWAT, 100);
    apply(&kq, &[lowat]);
    std::io::Write::write_all(&mut writer, b"12345").expect("write 5");
    let events = poll(&kq, 4);
    #[cfg(not(target_os = "macos"))]
    assert_eq!(
        events.iter().map(|event| event.data).collect::<Vec<_>>(),
        [5],
        "FreeBSD: filt_piperead ignores NOTE_LOWAT"
    );
    #[cfg(target_os = "macos")]
    assert!(events.is_empty(), "macOS: below NOTE_LOWAT");

    drop(reader);
    let result = kq.kevent(
        &[Kevent::new(wfd as usize, EVFILT_WRITE, EV_ADD)],
        &mut [],
        None,
    );
    assert_eq!(errno_of(result), libc::EPIPE, "no reader left");
}

/// B22, FreeBSD `knote_fdclose` (sys/kern/kern_event.c, called by close() and by dup2() onto a
/// used number). A person watches a connected socket for READ (udata 1) and keeps a dup() of
/// it, so its file lives on. They dup2() another connected socket onto its number: the old
/// knote went with the old number. They add READ on the number again (udata 2). The old
/// socket's peer then sends 3 bytes and closes: nothing of that is reported under the number,
/// neither its bytes nor its EOF. When the new socket's peer sends 4 bytes, the event carries
/// data 4, udata 2, and no EV_EOF. The dup2 is the raw one: on Linux this checks the
/// emulation's lazy path for a close it cannot see (`closing.rs` uses `kq::dup2`).
pub fn b22_a_reused_number_never_reports_the_closed_files_events() {
    use crate::selftest::support::{send_all, tcp_pair, wait_for_bytes};
    use std::os::fd::AsRawFd;

    let kq = new_kq();
    let (mut old_peer, watched) = tcp_pair();
    let fd = watched.as_raw_fd();
    let old_file = watched.try_clone().expect("dup");
    apply(
        &kq,
        &[Kevent::new(fd as usize, EVFILT_READ, EV_ADD).with_udata(1)],
    );

    let (mut new_peer, replacement) = tcp_pair();
    // dup2 atomically closes `watched`'s number and puts `replacement`'s file on it; `watched`
    // (the TcpStream) now owns that duplicate and closes it on drop.
    sys::dup2(replacement.as_raw_fd(), fd).expect("dup2");
    apply(
        &kq,
        &[Kevent::new(fd as usize, EVFILT_READ, EV_ADD).with_udata(2)],
    );

    send_all(&mut old_peer, b"old");
    wait_for_bytes(&old_file, 3);
    drop(old_peer);
    for _ in 0..3 {
        let events = poll(&kq, 8);
        assert!(
            events.iter().all(|event| event.ident != fd as usize),
            "nothing of the closed file under its old number: {events:?}"
        );
    }

    send_all(&mut new_peer, b"new!");
    let event = wait_for(&kq, "the new socket's 4 bytes", |event| {
        event.ident == fd as usize
    });
    assert_eq!((event.data, event.udata), (4, 2), "{event:?}");
    assert!(
        !event.is_eof(),
        "the old peer's close is not this socket's EOF"
    );
}

/// B25, FreeBSD `kqueue_kqfilter` and `filt_kqueue` (sys/kern/kern_event.c). A person triggers
/// two user events in kqueue B and watches B's descriptor from kqueue A: A reports B readable
/// with data 2, the events pending in B. Once B has collected them, A reports nothing. Watching
/// B's descriptor for WRITE is EINVAL: a kqueue is only ever readable.
pub fn b25_a_watched_kqueue_reports_its_pending_events() {
    let outer = new_kq();
    let inner = new_kq();
    apply(
        &inner,
        &[
            Kevent::new(1, EVFILT_USER, EV_ADD | EV_CLEAR),
            Kevent::new(2, EVFILT_USER, EV_ADD | EV_CLEAR),
        ],
    );
    let trigger = |ident| Kevent::new(ident, EVFILT_USER, 0).with_fflags_data(NOTE_TRIGGER, 0);
    apply(&inner, &[trigger(1), trigger(2)]);
    let fd = std::os::fd::AsRawFd::as_raw_fd(&inner) as usize;
    apply(&outer, &[Kevent::new(fd, EVFILT_READ, EV_ADD)]);
    let readable = wait_for(&outer, "kqueue B readable", |event| event.ident == fd);
    assert_eq!(readable.data, 2, "{readable:?}");

    assert_eq!(poll(&inner, 4).len(), 2, "B delivers its two events");
    assert!(poll(&outer, 4).is_empty(), "nothing pending in B any more");

    let write = outer.kevent(&[Kevent::new(fd, EVFILT_WRITE, EV_ADD)], &mut [], None);
    assert_eq!(errno_of(write), libc::EINVAL);
}

/// B22, FreeBSD `knote_fdclose` via dup2(). A person watches a connected socket for READ and
/// keeps a dup() of it; they dup2() an idle connected socket onto its number and do not add
/// anything again. The old socket's peer closes: nothing is reported under the number (the
/// knote went with the number), and EV_DELETE on it is ENOENT, since the number is open but
/// watched by no knote. The dup2 is the raw one, as in the scenario above.
pub fn b22_a_number_closed_by_dup2_reports_nothing_of_the_old_file() {
    use crate::selftest::support::{tcp_pair, wait_until, PATIENCE};
    use std::io::Read;
    use std::os::fd::AsRawFd;

    let kq = new_kq();
    let (old_peer, watched) = tcp_pair();
    let fd = watched.as_raw_fd();
    let mut old_file = watched.try_clone().expect("dup");
    apply(&kq, &[Kevent::new(fd as usize, EVFILT_READ, EV_ADD)]);
    let (_idle_peer, replacement) = tcp_pair();
    // dup2 atomically closes `watched`'s number and puts `replacement`'s file on it; `watched`
    // (the TcpStream) now owns that duplicate and closes it on drop.
    sys::dup2(replacement.as_raw_fd(), fd).expect("dup2");

    drop(old_peer);
    // Wait until the old file has its end of file, as the kernel sees it.
    let ended = wait_until(PATIENCE, || matches!(old_file.read(&mut [0u8; 1]), Ok(0)));
    assert!(ended, "the old socket sees its peer's close");
    for _ in 0..3 {
        let events = poll(&kq, 8);
        assert!(
            events.iter().all(|event| event.ident != fd as usize),
            "nothing of the old file under its old number: {events:?}"
        );
    }
    let delete = kq.kevent(
        &[Kevent::new(fd as usize, EVFILT_READ, EV_DELETE)],
        &mut [],
        None,
    );
    assert_eq!(
        errno_of(delete),
        libc::ENOENT,
        "the knote went with the number"
    );
}
