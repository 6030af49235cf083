//! The kqueue conformance suite: one narrative test per behaviour B1–B26 of
//! `docs/kqueue-semantics.md`, over real loopback TCP sockets.
//!
//! The scenarios live in the library (`src/selftest/scenarios/`), so that `lab selftest` runs
//! the very same code on an attendee's machine; the table of behaviours and scenarios is in
//! `src/selftest/scenarios/mod.rs`, and how to add one in `src/selftest/mod.rs`. Here each
//! scenario becomes one test with its own name (`conformance::sockets::b12_…`), so `cargo test`
//! reports every behaviour on its own; a scenario is called directly, so its panic is the test's
//! failure, exactly as before the move.
//!
//! **What runs where.** On Linux these tests exercise the emulation only: the native backend
//! (`src/kq/native.rs`, its unit tests, and every `cfg(target_os = "macos")` or FreeBSD
//! expectation in the scenarios) is compiled and linted by CI for the BSD targets but never
//! *run*, because no macOS or FreeBSD machine runs the suite. The test
//! `native_kqueue_expectations_are_not_run_on_this_machine` says so in every Linux test run. An
//! attendee on a Mac or a BSD runs them with `cargo test`, or from the binary with
//! `lab selftest`: report a failure there, it is the first real check of those expectations.

/// `lab selftest`: the same scenarios, run by the binary.
mod selftest;

/// One module per scenario file, one `#[test]` per scenario, calling
/// `lab::selftest::scenarios::<module>::<name>`; and [`TESTED`], every name listed here.
macro_rules! conformance_tests {
    ($( $(#[$attr:meta])* mod $module:ident { $($name:ident),* $(,)? } )*) => {
        $(
            $(#[$attr])*
            mod $module {
                $(
                    #[test]
                    fn $name() {
                        lab::selftest::scenarios::$module::$name()
                    }
                )*
            }
        )*

        /// `module::name` of every scenario that is a test here.
        fn tested() -> Vec<String> {
            let mut tested = Vec::new();
            $(
                $(#[$attr])*
                tested.extend([$(concat!(stringify!($module), "::", stringify!($name))),*].map(String::from));
            )*
            tested
        }
    };
}

conformance_tests! {
    mod knotes {
        b01_read_and_write_knotes_are_independent_and_namespaces_do_not_collide,
        b02_adding_the_same_knote_twice_modifies_it,
        b03_modification_keeps_the_mode_and_does_not_re_enable,
        b04_every_change_replaces_udata,
        b05_disabled_knote_is_kept_and_enable_delivers_the_pending_condition,
        b06_deleting_removes_the_knote_and_a_missing_knote_is_enoent,
        b15_oneshot_fires_once_and_is_deleted,
        b16_dispatch_fires_once_then_waits_for_enable,
        b26_delivered_flags_keep_the_mode_not_the_actions,
    }
    mod errors {
        b07_errors_become_entries_while_there_is_room_then_fail,
        b08_receipt_reports_each_change_and_suppresses_events,
        b09_changes_apply_before_the_collect_and_no_room_returns_at_once,
        b10_timeouts_poll_wait_and_invalid_values_are_einval,
        b11_a_signal_ends_the_wait_with_eintr_after_the_changes,
    }
    mod sockets {
        b12_level_read_repeats_until_the_bytes_are_read,
        b13_read_data_counts_every_unread_byte,
        b14_clear_fires_again_on_new_data_not_on_partial_read,
        b17_small_eventlist_rotates_and_loses_no_edge,
        b18_listener_data_is_the_accept_queue_length,
        b19_write_fires_with_free_send_space,
        b20_note_lowat_read_waits_for_the_threshold,
        b21_peer_close_is_eof_with_unread_data_and_reset_is_econnreset,
        b22_closed_descriptor_reports_nothing_and_reused_number_is_fresh,
    }
    mod freebsd_sockets {
        b15_oneshot_is_delivered_as_activated,
        b17_every_ready_knote_gets_its_turn,
        b19_write_waits_for_the_connection,
        b19_write_after_eagain_waits_for_the_low_water_mark,
        b19_refused_connect_is_write_eof_and_so_error_still_says_why,
        b20_note_lowat_belongs_to_the_knote_not_the_socket,
        b21_local_shutdown_write_is_eof_on_write,
        b21_reset_error_stays_for_the_programs_read,
        b21_udp_refused_is_a_temporary_error_not_eof,
    }
    mod extras {
        b23_timer_repeats_counts_expirations_and_restarts_on_re_add,
        b24_user_event_combines_fflags_and_keeps_the_last_data,
        b24_trigger_from_another_thread_wakes_a_blocked_kevent,
        b25_kqueue_fd_is_pollable_and_cannot_watch_itself,
    }
    mod subclauses {
        b01_a_timer_and_a_socket_with_the_same_number_do_not_collide,
        b03_b20_a_re_add_changes_the_low_water_mark,
        b04_enable_stores_its_udata_on_a_dispatch_knote,
        b06_deleting_drops_an_event_that_was_pending,
        b10_a_positive_timeout_waits_at_least_that_long,
        b14_clear_fires_again_on_eof,
        b18_write_on_a_listener_never_fires,
        b22_close_removes_the_knotes_in_two_kqueues,
    }
    mod mutants {
        b01_an_ident_beyond_int_max_names_no_descriptor,
        b01_the_emulations_own_descriptors_are_not_the_programs,
        b15_a_fired_oneshot_carries_the_udata_of_the_last_change,
        b19_an_unconnected_socket_does_not_wake_the_wait,
        b23_re_adding_a_timer_leaves_the_other_pending_events_alone,
        b26_enable_and_disable_at_creation_are_not_delivered,
    }
    mod freebsd_files {
        b07_filters_the_emulation_lacks_answer_as_a_kernel_without_them,
        b08_receipts_of_new_knotes_carry_no_fflags_and_one_time_bits_are_not_kept,
        b13_datagram_read_data_counts_every_queued_datagram,
        b13_regular_file_read_data_is_the_bytes_after_the_offset,
        b18_a_socket_that_listens_after_registration_is_a_listener,
        b19_pipes_are_writable_from_pipe_buf_and_epipe_without_a_reader,
        b22_a_number_closed_by_dup2_reports_nothing_of_the_old_file,
        b22_a_reused_number_never_reports_the_closed_files_events,
        b23_bad_timer_parameters_fail_the_add_and_report_through_a_re_added_knote,
        b24_add_never_triggers_disabled_trigger_is_remembered_oneshot_is_bare,
        b25_a_watched_kqueue_reports_its_pending_events,
    }
    mod closing {
        b22_a_closed_number_reused_by_another_socket_reports_nothing,
        b22_a_dup2_back_to_the_same_file_does_not_revive_the_knote,
        b22_closing_removes_the_knotes_in_every_kqueue,
        b22_an_event_queued_at_the_close_is_not_delivered,
        b22_closing_while_another_thread_waits_in_kevent,
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    mod no_wasted_calls {
        enable_of_enabled_and_disable_of_disabled_cost_no_epoll_ctl,
        re_add_with_the_same_mode_costs_no_epoll_ctl,
        read_disable_and_write_enable_in_one_call_is_one_mod,
        collecting_a_ready_socket_costs_one_epoll_wait_and_one_fionread,
        dispatch_re_arm_costs_no_epoll_ctl,
        recorded_calls_read_like_strace_and_cost_nothing_when_off,
        socket_options_and_errors_are_left_to_the_program,
        an_orphaned_epoll_item_does_not_make_the_wait_spin,
        a_close_through_the_lab_is_one_del_and_leaves_no_orphan,
    }
}

/// A developer adds a scenario to the list `lab selftest` runs: it must be a test here too, and
/// every test here must be a scenario of that list, so the two never drift apart.
#[test]
fn every_scenario_of_lab_selftest_is_a_test_here_and_back() {
    let mut listed: Vec<String> = lab::selftest::scenarios::SCENARIOS
        .iter()
        .map(|scenario| format!("{}::{}", scenario.module, scenario.name))
        .collect();
    let mut tested = tested();
    listed.sort_unstable();
    tested.sort_unstable();
    assert_eq!(
        tested, listed,
        "tests/conformance and SCENARIOS list the same scenarios"
    );
}

/// On a machine without a native kqueue (Linux), this suite ran against the emulation only: the
/// native backend's expectations were compiled, not run. The test's name carries that into
/// every test run's output, and it checks the premise (the emulation is what is compiled in).
#[cfg(any(target_os = "linux", target_os = "android"))]
#[test]
fn native_kqueue_expectations_are_not_run_on_this_machine() {
    assert_eq!(lab::kq::Backend::CURRENT, lab::kq::Backend::Emulated);
    eprintln!(
        "note: native kqueue (macOS/BSD) expectations were not run here; run `cargo test` or \
         `lab selftest` on a Mac or a BSD machine to check them"
    );
}
