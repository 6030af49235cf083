//! `lab server --clients N`: the tour finishes what it started, or its exit status says not.

use lab::client::tour::messages_echoed;

use super::{finish, lab_in, TempDir};

/// `lab server --quiet --json ARGS` in `state`, run to its end: exit status, summary line, and
/// stderr.
fn tour(state: &TempDir, extra: &[&str]) -> (Option<i32>, String, String) {
    let mut args = vec!["server", "--port", "0", "--quiet", "--json"];
    args.extend_from_slice(extra);
    let out = finish(lab_in(state, &args).spawn().expect("start lab server"));
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Eight hundred built-in clients, with the tour's own read timeout (1500 ms): connecting them
/// one after the other takes long enough that, when they all waited for the last one before
/// sending, the first ones were closed as idle (about half the echoes were lost, and the run
/// still exited 0). Each client now sends as soon as it is connected: the server echoes every
/// message the tour declares (3 for each echo client, 16 for the slow reader, 1 for the idle
/// one) and the run exits 0.
#[test]
fn eight_hundred_tour_clients_get_every_echo() {
    let state = TempDir::new("tour-800");
    let (status, summary, stderr) = tour(&state, &["--clients", "800"]);
    assert_eq!(status, Some(0), "stderr: {stderr}");
    let echoed = crate::support::json_number(&summary, "messages");
    assert_eq!(echoed as usize, messages_echoed(800), "{stderr}");
}

/// A tour whose clients cannot all be served (a buffer too small for the echo client's
/// messages: the server closes it as too large) still prints its summary, but exits 1 with one
/// line that says how many clients did not get their echoes, instead of 0.
#[test]
fn a_tour_that_did_not_finish_says_so_in_its_exit_status() {
    let state = TempDir::new("tour-unfinished");
    let (status, summary, stderr) = tour(&state, &["--buffer-size", "5"]);
    assert_eq!(status, Some(1), "stderr: {stderr}");
    assert!(summary.contains("\"type\":\"summary\""), "{summary}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("the tour did not finish"), "{stderr}");
    assert!(stderr.contains("conn1"), "{stderr}");
}
