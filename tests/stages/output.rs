//! Output that behaves in pipes.

use std::io::{BufRead, BufReader};
use std::process::Stdio;

use super::run::{run_lab, wait_output};
use crate::support::lab;

/// A person pipes the trace into a file or another program (`lab flood > trace.txt`): stdout
/// is not a terminal, so there are no escape codes at all, even with NO_COLOR unset, and the
/// text still reads as the annotated trace.
#[test]
fn no_escape_codes_when_stdout_is_not_a_terminal() {
    let mut command = lab(&["oneshot", "--port", "0"]);
    command.env_remove("NO_COLOR");
    let output = wait_output(
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start lab"),
    );
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        !text.contains('\x1b'),
        "escape codes in piped output:\n{text}"
    );
    assert!(text.contains("lab oneshot"), "header: {text}");
    assert!(text.contains("◂ READ  conn1"), "decoded events: {text}");
    assert!(
        text.contains("flags=0x11<ADD|ONESHOT>"),
        "flags named and raw: {text}"
    );
    assert!(text.contains("summary:"), "summary: {text}");
}

/// `--color always` colours even in a pipe (for `less -R`); `--color never` never does.
#[test]
fn color_always_and_never_are_obeyed() {
    let coloured = run_lab(&[
        "clear",
        "--port",
        "0",
        "--color",
        "always",
        "--script",
        "send a; wait 50",
    ]);
    assert!(String::from_utf8_lossy(&coloured.stdout).contains('\x1b'));
    let plain = run_lab(&[
        "clear",
        "--port",
        "0",
        "--color",
        "never",
        "--script",
        "send a; wait 50",
    ]);
    assert!(!String::from_utf8_lossy(&plain.stdout).contains('\x1b'));
}

/// A person runs `lab flood | head -n 3`: head exits after three lines and the pipe closes.
/// lab ends quietly: exit status 0 and nothing on stderr.
#[test]
fn a_closed_pipe_ends_the_run_quietly() {
    let mut child = lab(&["flood", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lab");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for _ in 0..3 {
        lines.next().expect("a line").expect("read a line");
    }
    drop(lines); // what head does after three lines
    let output = wait_output(child);
    assert_eq!(output.status.code(), Some(0), "exit 0 on a closed pipe");
    assert!(
        output.stderr.is_empty(),
        "nothing on stderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A number as the text trace prints it, with thousands separators (`73,142`).
fn count(text: &str) -> u64 {
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no count in {text:?}"))
}

/// The number right after `marker` in `line`, up to the next space.
fn count_after(line: &str, marker: &str) -> u64 {
    let rest = line
        .split_once(marker)
        .unwrap_or_else(|| panic!("no {marker:?} in {line:?}"))
        .1;
    count(rest.split(' ').next().unwrap_or(rest))
}

/// A person pipes `lab flood` into a file. The flood is shown as its first kevent call (`#K`,
/// one READ event for conn1, data=5), then one closing line that counts the whole flood,
/// `↻ READ conn1 data=5 ×N` (the first call included), then the next call, numbered `#K+N`.
/// The counts are exact: the summary's `conn1 READ ×` is N, every event conn1 had.
#[test]
fn piped_flood_ends_with_the_collapsed_count_and_the_numbers_add_up() {
    let output = run_lab(&["flood", "--port", "0", "--hide-os-calls"]);
    assert!(output.status.success());
    let text = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<&str> = text.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.trim_start().starts_with("↻ READ conn1 data=5 ×"))
        .unwrap_or_else(|| panic!("no collapsed flood line:\n{text}"));
    let collapsed = count_after(lines[at], "×");
    assert!(collapsed > 0, "{}", lines[at]);
    let first_call = lines[..at]
        .iter()
        .rev()
        .find(|l| l.starts_with('#'))
        .expect("the flood's first call, shown in full");
    let first = count_after(first_call, "#");
    let next_call = lines[at..]
        .iter()
        .find(|l| l.starts_with('#'))
        .expect("the call after the flood");
    assert_eq!(
        count_after(next_call, "#"),
        first + collapsed,
        "call numbers continue after the collapsed calls:\n{first_call}\n{}\n{next_call}",
        lines[at]
    );
    let by_knote = lines
        .iter()
        .find(|l| l.contains("events by knote:"))
        .expect("the summary's events by knote");
    assert_eq!(
        count_after(by_knote, "conn1 READ ×"),
        collapsed,
        "{by_knote}"
    );
}
