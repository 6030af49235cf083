//! The kqueue conformance suite: one narrative test per behaviour B1–B26 of
//! `docs/kqueue-semantics.md`, over real loopback TCP sockets.
//!
//! The tests use only the portable API (`lab::kq`), so the same file runs against the native
//! kqueue on macOS/FreeBSD and against the emulation over epoll on Linux. Where the kernels
//! disagree, the expectation is keyed by `cfg` and cites the spec row; the Linux emulation
//! follows FreeBSD (§7). Waiting is always a `kevent` timeout or a loop with a deadline.
//!
//! | B | behaviour | test |
//! |---|---|---|
//! | B1 | identity is (ident, filter) per kqueue | `knotes::b01_read_and_write_knotes_are_independent_and_namespaces_do_not_collide` |
//! | B2 | EV_ADD on an existing knote modifies it | `knotes::b02_adding_the_same_knote_twice_modifies_it` |
//! | B3 | a modification keeps the mode, does not re-enable | `knotes::b03_modification_keeps_the_mode_and_does_not_re_enable` |
//! | B4 | every change replaces udata | `knotes::b04_every_change_replaces_udata` |
//! | B5 | EV_DISABLE / EV_ENABLE | `knotes::b05_disabled_knote_is_kept_and_enable_delivers_the_pending_condition` |
//! | B6 | EV_DELETE, ENOENT | `knotes::b06_deleting_removes_the_knote_and_a_missing_knote_is_enoent` |
//! | B7 | error entries, no room, short-circuit | `errors::b07_errors_become_entries_while_there_is_room_then_fail` |
//! | B8 | EV_RECEIPT | `errors::b08_receipt_reports_each_change_and_suppresses_events` |
//! | B9 | changes before collect, nevents 0, EV_SYSFLAGS | `errors::b09_changes_apply_before_the_collect_and_no_room_returns_at_once` |
//! | B10 | timeouts | `errors::b10_timeouts_poll_wait_and_invalid_values_are_einval` |
//! | B11 | EINTR not restarted | `errors::b11_a_signal_ends_the_wait_with_eintr_after_the_changes` |
//! | B12 | level-triggered is the default | `sockets::b12_level_read_repeats_until_the_bytes_are_read` |
//! | B13 | READ data = all unread bytes | `sockets::b13_read_data_counts_every_unread_byte` |
//! | B14 | EV_CLEAR | `sockets::b14_clear_fires_again_on_new_data_not_on_partial_read` |
//! | B15 | EV_ONESHOT | `knotes::b15_oneshot_fires_once_and_is_deleted` |
//! | B16 | EV_DISPATCH | `knotes::b16_dispatch_fires_once_then_waits_for_enable` |
//! | B17 | small eventlist: round-robin, no lost edge | `sockets::b17_small_eventlist_rotates_and_loses_no_edge` |
//! | B18 | listener data = accept queue | `sockets::b18_listener_data_is_the_accept_queue_length` |
//! | B19 | WRITE data = free send space | `sockets::b19_write_fires_with_free_send_space` |
//! | B20 | NOTE_LOWAT | `sockets::b20_note_lowat_read_waits_for_the_threshold` |
//! | B21 | EOF and socket errors | `sockets::b21_peer_close_is_eof_with_unread_data_and_reset_is_econnreset` |
//! | B22 | close() on a watched fd | `sockets::b22_closed_descriptor_reports_nothing_and_reused_number_is_fresh` |
//! | B23 | EVFILT_TIMER | `extras::b23_timer_repeats_counts_expirations_and_restarts_on_re_add` |
//! | B24 | EVFILT_USER | `extras::b24_user_event_combines_fflags_and_keeps_the_last_data`, `extras::b24_trigger_from_another_thread_wakes_a_blocked_kevent` |
//! | B25 | the kqueue descriptor itself | `extras::b25_kqueue_fd_is_pollable_and_cannot_watch_itself` |
//! | B26 | delivered flags | `knotes::b26_delivered_flags_keep_the_mode_not_the_actions` |
//!
//! Item 5 of the emulation contract (no wasted epoll calls) is checked, on Linux only, in
//! `no_wasted_calls`.

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Instant;

use lab::kq::{Kevent, Kqueue, Timespec, EVFILT_READ};

use crate::support::PATIENCE;

mod errors;
mod extras;
mod freebsd_files;
mod knotes;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod no_wasted_calls;
mod sockets;

/// `kqueue()`.
fn new_kq() -> Kqueue {
    Kqueue::new().expect("kqueue() failed")
}

/// The descriptor number of a socket, as a kevent ident.
fn ident(stream: &TcpStream) -> usize {
    stream.as_raw_fd() as usize
}

/// An EVFILT_READ change on a socket.
fn read_change(stream: &TcpStream, flags: u16) -> Kevent {
    Kevent::new(ident(stream), EVFILT_READ, flags)
}

/// Applies changes with no room for events: any failing change makes this panic (B7).
fn apply(kq: &Kqueue, changes: &[Kevent]) {
    let n = kq
        .kevent(changes, &mut [], Some(Timespec::ZERO))
        .expect("changes should all succeed");
    assert_eq!(n, 0, "nothing is returned without an eventlist (B9)");
}

/// One kevent call with `changes`, room for `room` events and `timeout`; the filled entries.
fn kevent(kq: &Kqueue, changes: &[Kevent], room: usize, timeout: Option<Timespec>) -> Vec<Kevent> {
    let mut events = vec![Kevent::default(); room];
    let n = kq
        .kevent(changes, &mut events, timeout)
        .expect("kevent failed");
    events.truncate(n);
    events
}

/// Collects without waiting (zero timeout, B10).
fn poll(kq: &Kqueue, room: usize) -> Vec<Kevent> {
    kevent(kq, &[], room, Some(Timespec::ZERO))
}

/// Waits until a collect returns an event matching `wanted`, up to PATIENCE; returns it.
/// Each call is a kevent wait with the time left (the kevent timeout IS the wait).
fn wait_for(kq: &Kqueue, what: &str, mut wanted: impl FnMut(&Kevent) -> bool) -> Kevent {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let batch = kevent(kq, &[], 16, Some(Timespec::from_duration(left)));
        if let Some(event) = batch.iter().find(|event| wanted(event)) {
            return *event;
        }
        assert!(
            Instant::now() < deadline,
            "no event for {what} within {PATIENCE:?}"
        );
    }
}

/// The errno of a failed kevent call.
fn errno_of(result: io::Result<usize>) -> i32 {
    match result {
        Ok(n) => panic!("kevent succeeded with {n} instead of failing"),
        Err(err) => err.raw_os_error().expect("an errno"),
    }
}
