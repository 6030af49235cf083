//! Item 5 of the emulation contract: the emulation over epoll wastes no system call. These
//! tests count the Linux calls a kqueue made (`Kqueue::os_call_counts`), so they only exist
//! where the emulation runs.

use std::net::TcpStream;

use crate::kq::*;

use super::{apply, ident, new_kq, poll, read_change, wait_for};
use crate::selftest::support::{send_all, tcp_pair, wait_for_bytes};

/// Runs `step` and returns how many calls of each kind it made underneath.
fn calls_during(kq: &Kqueue, step: impl FnOnce()) -> OsCallCounts {
    let before = kq.os_call_counts();
    step();
    kq.os_call_counts().since(&before)
}

/// The echo server's read mode on `socket`: its READ knote added enabled and its WRITE knote
/// added disabled, in one changelist.
fn add_in_read_mode(kq: &Kqueue, socket: &TcpStream) {
    apply(
        kq,
        &[
            read_change(socket, EV_ADD),
            Kevent::new(ident(socket), EVFILT_WRITE, EV_ADD | EV_DISABLE),
        ],
    );
}

/// Enabling a knote that is already enabled, or disabling one that is already disabled,
/// changes nothing epoll needs to know: zero epoll_ctl.
pub fn enable_of_enabled_and_disable_of_disabled_cost_no_epoll_ctl() {
    let kq = new_kq();
    let (_client, server) = tcp_pair();
    let fd = ident(&server);
    add_in_read_mode(&kq, &server);
    let enable = calls_during(&kq, || apply(&kq, &[read_change(&server, EV_ENABLE)]));
    assert_eq!(enable.epoll_ctl, 0, "{enable:?}");
    let disable = calls_during(&kq, || {
        apply(&kq, &[Kevent::new(fd, EVFILT_WRITE, EV_DISABLE)])
    });
    assert_eq!(disable.epoll_ctl, 0, "{disable:?}");
}

/// Re-adding a knote with the mode it already has (a common "just in case" EV_ADD) costs zero
/// epoll_ctl.
pub fn re_add_with_the_same_mode_costs_no_epoll_ctl() {
    let kq = new_kq();
    let (_client, server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD | EV_CLEAR)]);
    let again = calls_during(&kq, || {
        apply(&kq, &[read_change(&server, EV_ADD | EV_CLEAR)])
    });
    assert_eq!(again.epoll_ctl, 0, "{again:?}");
}

/// The server's classic flip, "stop reading, start writing" on one socket in one changelist,
/// is ONE epoll_ctl MOD (IN|RDHUP → OUT), not two; the recorded call says so in words.
pub fn read_disable_and_write_enable_in_one_call_is_one_mod() {
    let kq = new_kq();
    let (_client, server) = tcp_pair();
    let fd = ident(&server);
    add_in_read_mode(&kq, &server);
    kq.set_recording(true);
    let flip = calls_during(&kq, || {
        apply(
            &kq,
            &[
                read_change(&server, EV_DISABLE),
                Kevent::new(fd, EVFILT_WRITE, EV_ENABLE),
            ],
        )
    });
    kq.set_recording(false);
    assert_eq!(flip.epoll_ctl, 1, "{flip:?}");
    let calls = kq.take_os_calls();
    let ctl: Vec<String> = calls
        .iter()
        .filter(|call| call.name == "epoll_ctl")
        .map(|call| call.to_string())
        .collect();
    assert_eq!(ctl, vec![format!("epoll_ctl(MOD fd {fd} OUT) = 0")]);
}

/// A kevent call with no changes on a socket that has data costs exactly one epoll_wait and
/// one ioctl (FIONREAD, for `data`), nothing else.
pub fn collecting_a_ready_socket_costs_one_epoll_wait_and_one_fionread() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD)]);
    send_all(&mut client, b"data");
    wait_for_bytes(&server, 4);
    wait_for(&kq, "READ", |event| event.data == 4);

    kq.set_recording(true);
    let collect = calls_during(&kq, || assert_eq!(poll(&kq, 8).len(), 1));
    kq.set_recording(false);
    let expected = OsCallCounts {
        epoll_wait: 1,
        ioctl: 1,
        ..OsCallCounts::default()
    };
    assert_eq!(collect, expected);
    let names: Vec<&str> = kq.take_os_calls().iter().map(|call| call.name).collect();
    assert_eq!(names, ["epoll_wait", "ioctl"]);
}

/// EV_DISPATCH's re-arm pattern: deliver (the knote is disabled), then EV_ENABLE in the next
/// call. The emulation defers the interest change, so the disable and the re-enable cancel out:
/// zero epoll_ctl for the whole cycle.
pub fn dispatch_re_arm_costs_no_epoll_ctl() {
    let kq = new_kq();
    let (mut client, server) = tcp_pair();
    apply(&kq, &[read_change(&server, EV_ADD | EV_DISPATCH)]);
    send_all(&mut client, b"d");
    wait_for_bytes(&server, 1);
    let cycle = calls_during(&kq, || {
        assert_eq!(poll(&kq, 8).len(), 1);
        apply(&kq, &[read_change(&server, EV_ENABLE)]);
        assert_eq!(poll(&kq, 8).len(), 1);
    });
    assert_eq!(cycle.epoll_ctl, 0, "{cycle:?}");
}

/// A facilitator turns recording on to show the epoll twin of each kevent call: the first
/// READ knote on a socket is one fstat, one SO_TYPE question and one epoll_ctl ADD, in
/// words; a change naming a closed descriptor shows the failing fstat. With recording off,
/// nothing is kept, but the calls are still counted.
pub fn recorded_calls_read_like_strace_and_cost_nothing_when_off() {
    let kq = new_kq();
    let (_client, server) = tcp_pair();
    let fd = ident(&server);
    kq.set_recording(true);
    apply(&kq, &[read_change(&server, EV_ADD)]);
    let calls: Vec<String> = kq.take_os_calls().iter().map(|c| c.to_string()).collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert!(
        calls[0].starts_with(&format!("fstat(fd {fd}) = 0")),
        "{calls:?}"
    );
    assert_eq!(calls[1], format!("getsockopt(fd {fd}, SO_TYPE) = 0 (1)"));
    assert_eq!(calls[2], format!("epoll_ctl(ADD fd {fd} IN|RDHUP) = 0"));

    drop(server);
    let failed = kq.kevent(&[Kevent::new(fd, EVFILT_READ, EV_DELETE)], &mut [], None);
    assert!(failed.is_err());
    let calls: Vec<String> = kq.take_os_calls().iter().map(|c| c.to_string()).collect();
    if failed.unwrap_err().raw_os_error() == Some(libc::EBADF) {
        assert_eq!(calls, [format!("fstat(fd {fd}) = -1 EBADF")]);
    }

    kq.set_recording(false);
    let counted = calls_during(&kq, || assert!(poll(&kq, 4).is_empty()));
    assert_eq!(counted.epoll_wait, 1);
    assert!(kq.take_os_calls().is_empty(), "nothing recorded while off");
}

/// The emulation leaves the socket as the program set it, and takes nothing the program will
/// read (B20, B21). A person adds READ with NOTE_LOWAT: no setsockopt (SO_RCVLOWAT stays the
/// program's). The peer resets the connection and the READ EOF is collected: no SO_ERROR (it
/// would clear the error the program's recv() must get). Then WRITE on a connected TCP socket,
/// collected twice: after the first check, each costs one epoll_wait, one SO_MEMINFO (the free
/// space) and one TCP_INFO (connected? shut down for writing?), nothing else.
pub fn socket_options_and_errors_are_left_to_the_program() {
    let kq = new_kq();
    let (client, server) = tcp_pair();
    kq.set_recording(true);
    apply(
        &kq,
        &[read_change(&server, EV_ADD).with_fflags_data(NOTE_LOWAT, 5)],
    );
    crate::selftest::support::set_linger_zero(&client);
    drop(client);
    wait_for(&kq, "READ EOF after the reset", |event| event.is_eof());
    let calls: Vec<String> = kq.take_os_calls().iter().map(|c| c.to_string()).collect();
    assert!(
        calls
            .iter()
            .all(|call| !call.starts_with("setsockopt") && !call.contains("SO_ERROR")),
        "{calls:?}"
    );

    kq.set_recording(false);

    let kq = new_kq();
    let (writer, _reader) = tcp_pair();
    let fd = ident(&writer);
    kq.set_recording(true);
    apply(&kq, &[Kevent::new(fd, EVFILT_WRITE, EV_ADD)]);
    assert_eq!(poll(&kq, 8).len(), 1, "the idle socket is writable");
    kq.take_os_calls();
    assert_eq!(poll(&kq, 8).len(), 1, "level-triggered: again");
    let calls: Vec<String> = kq
        .take_os_calls()
        .iter()
        .map(|call| format!("{} {}", call.name, call.args))
        .collect();
    kq.set_recording(false);
    let wait = format!("epoll_wait epfd {}", std::os::fd::AsRawFd::as_raw_fd(&kq));
    assert_eq!(
        calls
            .iter()
            .map(|call| if call.starts_with(&wait) {
                wait.clone()
            } else {
                call.clone()
            })
            .collect::<Vec<_>>(),
        [
            wait.clone(),
            format!("getsockopt fd {fd}, SO_MEMINFO"),
            format!("getsockopt fd {fd}, TCP_INFO"),
        ]
    );
}

/// B22 underneath: a watched socket's number is taken over by dup2() while a dup() keeps the
/// old file alive, and that old file has bytes waiting. Its epoll item can no longer be removed
/// through the number and stays readable. The emulation finds out (epoll says readable, the
/// number's file has nothing: one fstat), drops the knotes and rebuilds its epoll set without
/// the orphan, so a 100 ms wait that finds nothing costs a few epoll_wait calls, not a busy
/// loop of them.
pub fn an_orphaned_epoll_item_does_not_make_the_wait_spin() {
    use std::os::fd::AsRawFd;

    let kq = new_kq();
    let (mut old_peer, watched) = tcp_pair();
    let fd = watched.as_raw_fd();
    let old_file = watched.try_clone().expect("dup");
    apply(&kq, &[read_change(&watched, EV_ADD)]);
    let (_new_peer, replacement) = tcp_pair();
    // dup2 atomically closes `watched`'s number and puts `replacement`'s file on it; `watched`
    // (the TcpStream) now owns that duplicate and closes it on drop.
    crate::sys::unix::dup2(replacement.as_raw_fd(), fd).expect("dup2");
    send_all(&mut old_peer, b"stale");
    wait_for_bytes(&old_file, 5);

    let wait = calls_during(&kq, || {
        let mut events = [Kevent::default(); 4];
        let n = kq
            .kevent(&[], &mut events, Some(Timespec::from_millis(100)))
            .expect("kevent");
        assert_eq!(n, 0, "nothing of the old file: {:?}", &events[..n]);
    });
    assert!(wait.epoll_wait <= 8, "no busy wait: {wait:?}");
}

/// B22 underneath, for a close through the lab (`kq::close`): the emulation removes the
/// number's epoll item with one EPOLL_CTL_DEL while the number still names the file, and shows
/// it in no kevent call's trace (the close is no kevent call). A dup() keeps the file alive
/// and its peer sends bytes, yet a 50 ms wait costs one epoll_wait and nothing else: no
/// orphaned item is left to wake it or to be rebuilt away.
pub fn a_close_through_the_lab_is_one_del_and_leaves_no_orphan() {
    use std::os::fd::AsRawFd;

    let kq = new_kq();
    let (mut peer, watched) = tcp_pair();
    let fd = watched.as_raw_fd();
    let old_file = watched.try_clone().expect("dup");
    apply(&kq, &[read_change(&watched, EV_ADD)]);
    kq.set_recording(true);
    kq.take_os_calls();

    let close = calls_during(&kq, || crate::kq::close(watched));
    assert_eq!((close.epoll_ctl, close.total()), (1, 1), "{close:?}");
    assert!(
        kq.take_os_calls().is_empty(),
        "the close's DEL is not a kevent call's"
    );

    send_all(&mut peer, b"after");
    wait_for_bytes(&old_file, 5);
    let wait = calls_during(&kq, || {
        let mut events = [Kevent::default(); 4];
        let n = kq
            .kevent(&[], &mut events, Some(Timespec::from_millis(50)))
            .expect("kevent");
        assert_eq!(n, 0, "nothing of fd {fd}: {:?}", &events[..n]);
    });
    // One epoll_wait (two if its timer ended a hair before the deadline); no epoll_ctl and
    // nothing else: no orphan to ignore, no epoll set rebuilt (epoll_create1, dup3...).
    assert!(wait.epoll_wait <= 2, "{wait:?}");
    assert_eq!((wait.epoll_ctl, wait.other), (0, 0), "{wait:?}");
}
