//! The kqueue conformance scenarios: one narrative per behaviour B1–B26 of
//! `docs/kqueue-semantics.md`, over real loopback TCP sockets. `lab selftest` runs them in the
//! binary; `cargo test` runs each as its own test (tests/conformance).
//!
//! The scenarios use only the portable API ([`crate::kq`]), so the same code runs against the
//! native kqueue on macOS/FreeBSD and against the emulation over epoll on Linux. Where the
//! kernels disagree, the expectation is keyed by `cfg` and cites the spec row, and the
//! scenario's entry in [`SCENARIOS`] names the documented difference; the Linux emulation
//! follows FreeBSD (§7). Waiting is always a `kevent` timeout or a loop with a deadline.
//!
//! | B | behaviour | scenario |
//! |---|---|---|
//! | B1 | identity is (ident, filter) per kqueue | `knotes::b01_read_and_write_knotes_are_independent_and_namespaces_do_not_collide`, `mutants::b01_an_ident_beyond_int_max_names_no_descriptor`, `mutants::b01_the_emulations_own_descriptors_are_not_the_programs` |
//! | B2 | EV_ADD on an existing knote modifies it | `knotes::b02_adding_the_same_knote_twice_modifies_it` |
//! | B3 | a modification keeps the mode, does not re-enable | `knotes::b03_modification_keeps_the_mode_and_does_not_re_enable` |
//! | B4 | every change replaces udata | `knotes::b04_every_change_replaces_udata` |
//! | B5 | EV_DISABLE / EV_ENABLE | `knotes::b05_disabled_knote_is_kept_and_enable_delivers_the_pending_condition` |
//! | B6 | EV_DELETE, ENOENT | `knotes::b06_deleting_removes_the_knote_and_a_missing_knote_is_enoent` |
//! | B7 | error entries, no room, short-circuit | `errors::b07_errors_become_entries_while_there_is_room_then_fail`, `freebsd_files::b07_filters_the_emulation_lacks_answer_as_a_kernel_without_them` |
//! | B8 | EV_RECEIPT | `errors::b08_receipt_reports_each_change_and_suppresses_events`, `freebsd_files::b08_receipts_of_new_knotes_carry_no_fflags_and_one_time_bits_are_not_kept` |
//! | B9 | changes before collect, nevents 0, EV_SYSFLAGS | `errors::b09_changes_apply_before_the_collect_and_no_room_returns_at_once` |
//! | B10 | timeouts | `errors::b10_timeouts_poll_wait_and_invalid_values_are_einval` |
//! | B11 | EINTR not restarted | `errors::b11_a_signal_ends_the_wait_with_eintr_after_the_changes` |
//! | B12 | level-triggered is the default | `sockets::b12_level_read_repeats_until_the_bytes_are_read` |
//! | B13 | READ data = all unread bytes | `sockets::b13_read_data_counts_every_unread_byte`, `freebsd_files::b13_datagram_read_data_counts_every_queued_datagram`, `freebsd_files::b13_regular_file_read_data_is_the_bytes_after_the_offset` |
//! | B14 | EV_CLEAR | `sockets::b14_clear_fires_again_on_new_data_not_on_partial_read` |
//! | B15 | EV_ONESHOT | `knotes::b15_oneshot_fires_once_and_is_deleted`, `freebsd_sockets::b15_oneshot_is_delivered_as_activated`, `mutants::b15_a_fired_oneshot_carries_the_udata_of_the_last_change` |
//! | B16 | EV_DISPATCH | `knotes::b16_dispatch_fires_once_then_waits_for_enable` |
//! | B17 | small eventlist: round-robin, no lost edge | `sockets::b17_small_eventlist_rotates_and_loses_no_edge`, `freebsd_sockets::b17_every_ready_knote_gets_its_turn` |
//! | B18 | listener data = accept queue | `sockets::b18_listener_data_is_the_accept_queue_length`, `freebsd_files::b18_a_socket_that_listens_after_registration_is_a_listener` |
//! | B19 | WRITE data = free send space, from the low-water mark, once connected | `sockets::b19_write_fires_with_free_send_space`, `freebsd_files::b19_pipes_are_writable_from_pipe_buf_and_epipe_without_a_reader`, `freebsd_sockets::b19_write_waits_for_the_connection`, `freebsd_sockets::b19_write_after_eagain_waits_for_the_low_water_mark`, `freebsd_sockets::b19_refused_connect_is_write_eof_and_so_error_still_says_why`, `mutants::b19_an_unconnected_socket_does_not_wake_the_wait` |
//! | B20 | NOTE_LOWAT, the knote's own | `sockets::b20_note_lowat_read_waits_for_the_threshold`, `freebsd_sockets::b20_note_lowat_belongs_to_the_knote_not_the_socket` |
//! | B21 | EOF and socket errors | `sockets::b21_peer_close_is_eof_with_unread_data_and_reset_is_econnreset`, `freebsd_sockets::b21_local_shutdown_write_is_eof_on_write`, `freebsd_sockets::b21_reset_error_stays_for_the_programs_read`, `freebsd_sockets::b21_udp_refused_is_a_temporary_error_not_eof` |
//! | B22 | close() on a watched fd | `sockets::b22_closed_descriptor_reports_nothing_and_reused_number_is_fresh`, `freebsd_files::b22_a_reused_number_never_reports_the_closed_files_events`, `freebsd_files::b22_a_number_closed_by_dup2_reports_nothing_of_the_old_file`, and through the lab's `kq::close`/`kq::dup2`: `closing::b22_a_closed_number_reused_by_another_socket_reports_nothing`, `closing::b22_a_dup2_back_to_the_same_file_does_not_revive_the_knote`, `closing::b22_closing_removes_the_knotes_in_every_kqueue`, `closing::b22_an_event_queued_at_the_close_is_not_delivered`, `closing::b22_closing_while_another_thread_waits_in_kevent` |
//! | B23 | EVFILT_TIMER | `extras::b23_timer_repeats_counts_expirations_and_restarts_on_re_add`, `freebsd_files::b23_bad_timer_parameters_fail_the_add_and_report_through_a_re_added_knote`, `mutants::b23_re_adding_a_timer_leaves_the_other_pending_events_alone` |
//! | B24 | EVFILT_USER | `extras::b24_user_event_combines_fflags_and_keeps_the_last_data`, `extras::b24_trigger_from_another_thread_wakes_a_blocked_kevent`, `freebsd_files::b24_add_never_triggers_disabled_trigger_is_remembered_oneshot_is_bare` |
//! | B25 | the kqueue descriptor itself | `extras::b25_kqueue_fd_is_pollable_and_cannot_watch_itself`, `freebsd_files::b25_a_watched_kqueue_reports_its_pending_events` |
//! | B26 | delivered flags | `knotes::b26_delivered_flags_keep_the_mode_not_the_actions`, `mutants::b26_enable_and_disable_at_creation_are_not_delivered` |
//!
//! Item 5 of the emulation contract (no wasted epoll calls, id `E5`) is checked, on Linux
//! only, in `no_wasted_calls`.
//!
//! Adding a scenario: see [`crate::selftest`].

use std::io;
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::time::Instant;

use super::support::PATIENCE;
use super::Scenario;
use crate::kq::{Kevent, Kqueue, Timespec, EVFILT_READ};

pub mod closing;
pub mod errors;
pub mod extras;
pub mod freebsd_files;
pub mod freebsd_sockets;
pub mod knotes;
pub mod mutants;
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod no_wasted_calls;
pub mod sockets;
pub mod subclauses;

/// Every scenario, in the order `lab selftest` runs and prints them (B-number order; `E5`, the
/// emulation's own contract, last). `cargo test` checks that each one is also a test.
///
/// `scenario!(id, module::function)` names a scenario; add `os = "what differs"` (os as in
/// `std::env::consts::OS`) when that kernel is documented to behave differently (spec §2) and
/// the scenario expects it there, so its run is reported as "differs on …, as documented".
pub static SCENARIOS: &[Scenario] = &[
    scenario!(
        "B1",
        knotes::b01_read_and_write_knotes_are_independent_and_namespaces_do_not_collide
    ),
    scenario!(
        "B1",
        subclauses::b01_a_timer_and_a_socket_with_the_same_number_do_not_collide
    ),
    scenario!(
        "B1",
        mutants::b01_an_ident_beyond_int_max_names_no_descriptor
    ),
    scenario!(
        "B1",
        mutants::b01_the_emulations_own_descriptors_are_not_the_programs
    ),
    scenario!("B2", knotes::b02_adding_the_same_knote_twice_modifies_it),
    scenario!(
        "B3",
        knotes::b03_modification_keeps_the_mode_and_does_not_re_enable
    ),
    scenario!(
        "B3",
        subclauses::b03_b20_a_re_add_changes_the_low_water_mark
    ),
    scenario!("B4", knotes::b04_every_change_replaces_udata),
    scenario!(
        "B4",
        subclauses::b04_enable_stores_its_udata_on_a_dispatch_knote
    ),
    scenario!(
        "B5",
        knotes::b05_disabled_knote_is_kept_and_enable_delivers_the_pending_condition,
        macos = "EV_ENABLE|EV_DISABLE together: disable wins, no EINVAL"
    ),
    scenario!(
        "B6",
        knotes::b06_deleting_removes_the_knote_and_a_missing_knote_is_enoent
    ),
    scenario!(
        "B6",
        subclauses::b06_deleting_drops_an_event_that_was_pending
    ),
    scenario!(
        "B7",
        errors::b07_errors_become_entries_while_there_is_room_then_fail,
        macos = "an error entry keeps the change's flags with EV_ERROR ORed in"
    ),
    scenario!(
        "B7",
        freebsd_files::b07_filters_the_emulation_lacks_answer_as_a_kernel_without_them,
        linux = "SIGNAL, PROC and VNODE are not emulated: ENXIO, as a FreeBSD kernel without them"
    ),
    scenario!(
        "B8",
        errors::b08_receipt_reports_each_change_and_suppresses_events,
        macos = "a receipt that no longer fits is skipped, and the changes go on"
    ),
    scenario!(
        "B8",
        freebsd_files::b08_receipts_of_new_knotes_carry_no_fflags_and_one_time_bits_are_not_kept
    ),
    scenario!(
        "B9",
        errors::b09_changes_apply_before_the_collect_and_no_room_returns_at_once
    ),
    scenario!(
        "B10",
        errors::b10_timeouts_poll_wait_and_invalid_values_are_einval,
        macos = "an invalid timeout is refused before any change is applied"
    ),
    scenario!(
        "B10",
        subclauses::b10_a_positive_timeout_waits_at_least_that_long
    ),
    scenario!(
        "B11",
        errors::b11_a_signal_ends_the_wait_with_eintr_after_the_changes
    ),
    scenario!(
        "B12",
        sockets::b12_level_read_repeats_until_the_bytes_are_read
    ),
    scenario!("B13", sockets::b13_read_data_counts_every_unread_byte),
    scenario!(
        "B13",
        freebsd_files::b13_datagram_read_data_counts_every_queued_datagram
    ),
    scenario!(
        "B13",
        freebsd_files::b13_regular_file_read_data_is_the_bytes_after_the_offset
    ),
    scenario!(
        "B14",
        sockets::b14_clear_fires_again_on_new_data_not_on_partial_read
    ),
    scenario!("B14", subclauses::b14_clear_fires_again_on_eof),
    scenario!("B15", knotes::b15_oneshot_fires_once_and_is_deleted),
    scenario!(
        "B15",
        freebsd_sockets::b15_oneshot_is_delivered_as_activated
    ),
    scenario!(
        "B15",
        mutants::b15_a_fired_oneshot_carries_the_udata_of_the_last_change
    ),
    scenario!(
        "B16",
        knotes::b16_dispatch_fires_once_then_waits_for_enable,
        macos = "EV_DISPATCH|EV_ONESHOT is FreeBSD's combination and is not tried"
    ),
    scenario!(
        "B17",
        sockets::b17_small_eventlist_rotates_and_loses_no_edge
    ),
    scenario!("B17", freebsd_sockets::b17_every_ready_knote_gets_its_turn),
    scenario!("B18", sockets::b18_listener_data_is_the_accept_queue_length),
    scenario!("B18", subclauses::b18_write_on_a_listener_never_fires),
    scenario!(
        "B18",
        freebsd_files::b18_a_socket_that_listens_after_registration_is_a_listener
    ),
    scenario!("B19", sockets::b19_write_fires_with_free_send_space),
    scenario!("B19", freebsd_sockets::b19_write_waits_for_the_connection),
    scenario!(
        "B19",
        freebsd_sockets::b19_write_after_eagain_waits_for_the_low_water_mark
    ),
    scenario!(
        "B19",
        freebsd_sockets::b19_refused_connect_is_write_eof_and_so_error_still_says_why
    ),
    scenario!("B20", sockets::b20_note_lowat_read_waits_for_the_threshold),
    scenario!(
        "B19",
        freebsd_files::b19_pipes_are_writable_from_pipe_buf_and_epipe_without_a_reader,
        macos = "a pipe READ honours NOTE_LOWAT"
    ),
    scenario!(
        "B19",
        mutants::b19_an_unconnected_socket_does_not_wake_the_wait
    ),
    scenario!(
        "B20",
        freebsd_sockets::b20_note_lowat_belongs_to_the_knote_not_the_socket,
        macos = "WRITE NOTE_LOWAT is clamped to the send buffer's size, so a huge one fires"
    ),
    scenario!(
        "B21",
        sockets::b21_peer_close_is_eof_with_unread_data_and_reset_is_econnreset
    ),
    scenario!(
        "B21",
        freebsd_sockets::b21_local_shutdown_write_is_eof_on_write
    ),
    scenario!(
        "B21",
        freebsd_sockets::b21_reset_error_stays_for_the_programs_read
    ),
    scenario!(
        "B21",
        freebsd_sockets::b21_udp_refused_is_a_temporary_error_not_eof
    ),
    scenario!(
        "B22",
        sockets::b22_closed_descriptor_reports_nothing_and_reused_number_is_fresh
    ),
    scenario!(
        "B22",
        subclauses::b22_close_removes_the_knotes_in_two_kqueues
    ),
    scenario!(
        "B22",
        freebsd_files::b22_a_reused_number_never_reports_the_closed_files_events
    ),
    scenario!(
        "B22",
        freebsd_files::b22_a_number_closed_by_dup2_reports_nothing_of_the_old_file
    ),
    scenario!(
        "B22",
        closing::b22_a_closed_number_reused_by_another_socket_reports_nothing
    ),
    scenario!(
        "B22",
        closing::b22_a_dup2_back_to_the_same_file_does_not_revive_the_knote
    ),
    scenario!(
        "B22",
        closing::b22_closing_removes_the_knotes_in_every_kqueue
    ),
    scenario!(
        "B22",
        closing::b22_an_event_queued_at_the_close_is_not_delivered
    ),
    scenario!(
        "B22",
        closing::b22_closing_while_another_thread_waits_in_kevent
    ),
    scenario!(
        "B23",
        extras::b23_timer_repeats_counts_expirations_and_restarts_on_re_add
    ),
    scenario!(
        "B23",
        freebsd_files::b23_bad_timer_parameters_fail_the_add_and_report_through_a_re_added_knote,
        macos = "fflags 0x20 is NOTE_CRITICAL, a valid timer flag"
    ),
    scenario!(
        "B23",
        mutants::b23_re_adding_a_timer_leaves_the_other_pending_events_alone
    ),
    scenario!(
        "B24",
        extras::b24_user_event_combines_fflags_and_keeps_the_last_data
    ),
    scenario!(
        "B24",
        extras::b24_trigger_from_another_thread_wakes_a_blocked_kevent
    ),
    scenario!(
        "B24",
        freebsd_files::b24_add_never_triggers_disabled_trigger_is_remembered_oneshot_is_bare
    ),
    scenario!(
        "B25",
        extras::b25_kqueue_fd_is_pollable_and_cannot_watch_itself
    ),
    scenario!(
        "B25",
        freebsd_files::b25_a_watched_kqueue_reports_its_pending_events
    ),
    scenario!(
        "B26",
        knotes::b26_delivered_flags_keep_the_mode_not_the_actions,
        macos = "delivered flags keep EV_ADD"
    ),
    scenario!(
        "B26",
        mutants::b26_enable_and_disable_at_creation_are_not_delivered,
        macos = "delivered flags keep the actions"
    ),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!(
        "E5",
        no_wasted_calls::enable_of_enabled_and_disable_of_disabled_cost_no_epoll_ctl
    ),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!(
        "E5",
        no_wasted_calls::re_add_with_the_same_mode_costs_no_epoll_ctl
    ),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!(
        "E5",
        no_wasted_calls::read_disable_and_write_enable_in_one_call_is_one_mod
    ),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!(
        "E5",
        no_wasted_calls::collecting_a_ready_socket_costs_one_epoll_wait_and_one_fionread
    ),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!("E5", no_wasted_calls::dispatch_re_arm_costs_no_epoll_ctl),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!(
        "E5",
        no_wasted_calls::recorded_calls_read_like_strace_and_cost_nothing_when_off
    ),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!(
        "E5",
        no_wasted_calls::socket_options_and_errors_are_left_to_the_program
    ),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!(
        "E5",
        no_wasted_calls::an_orphaned_epoll_item_does_not_make_the_wait_spin
    ),
    #[cfg(any(target_os = "linux", target_os = "android"))]
    scenario!(
        "E5",
        no_wasted_calls::a_close_through_the_lab_is_one_del_and_leaves_no_orphan
    ),
];

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
