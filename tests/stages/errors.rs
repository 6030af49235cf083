//! Mistakes a person makes, and the one clear line they get back.

use std::net::TcpListener;

use super::run::run_lab;

/// A person mistypes an action: `lab flood --script 'sned x'`. Nothing runs; the exit status
/// is 2 and the message names the bad action and what was expected.
#[test]
fn a_misspelled_action_is_a_usage_error_before_anything_runs() {
    let output = run_lab(&["flood", "--port", "0", "--json", "--script", "sned x"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("sned"), "names the action: {stderr}");
    assert!(
        stderr.contains("expected"),
        "says what was expected: {stderr}"
    );
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(
        output.stdout.is_empty(),
        "nothing ran: {:?}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// A person asks for a connection the script never opens (`use 2`) or forgets an argument
/// (`wait`): exit 2, naming the action.
#[test]
fn a_missing_connection_or_argument_is_a_usage_error() {
    for (script, word) in [
        ("use 2", "use 2"),
        ("send hi; wait", "wait"),
        ("fill", "fill"),
    ] {
        let output = run_lab(&["oneshot", "--port", "0", "--script", script]);
        assert_eq!(output.status.code(), Some(2), "{script}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(word), "{script}: {stderr}");
        assert!(output.stdout.is_empty(), "{script}: nothing ran");
    }
}

/// A person starts a stage on a port that is already taken: exit 1, one line on stderr that
/// says what failed and suggests `--port 0`.
#[test]
fn a_port_in_use_fails_with_a_hint() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind a port to occupy");
    let port = taken.local_addr().expect("addr").port().to_string();
    let output = run_lab(&["flood", "--port", &port, "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "one line: {stderr}");
    assert!(stderr.contains(&port), "names the port: {stderr}");
    assert!(stderr.contains("try --port 0"), "hint: {stderr}");
}
