//! Traces that fit a laptop screen (issue 11): what the text trace leaves out unless asked
//! (the epoll calls underneath, the lab's own knotes), how it fits a terminal (notes wrapped,
//! the footer keeping `q` and `?`, a key press or a resize one short line at most), and how a
//! long knote table stays short (issue 14: only the rows that changed).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::sync::mpsc;

use super::run::{run_lab, wait_output, RUN_PATIENCE};
use crate::support::lab;
use crate::support::tmux::Tmux;
use crate::support::trace::{self, Field};

fn stdout_of(args: &[&str]) -> String {
    let output = run_lab(args);
    assert!(
        output.status.success(),
        "lab {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).to_string()
}

/// Rows of the knote tables (`│` or `└` rows under a `┌ knotes` title) naming `label`.
fn table_rows_naming(text: &str, label: &str) -> usize {
    text.lines()
        .filter(|l| l.starts_with("   │ ") || l.starts_with("   └ "))
        .filter(|l| l.split_whitespace().nth(2) == Some(label))
        .count()
}

/// A Linux attendee runs `lab oneshot` as the lesson says. The trace has no `≈` line, so it
/// reads like a macOS attendee's; on Linux the header says once where the epoll calls are
/// (`--os-calls`). The lab's own `signal` knote is named once, in one line that says what it is,
/// and is in no knote table. `--hide-os-calls`, from older lesson commands, is still accepted.
#[test]
fn by_default_the_trace_has_no_epoll_calls_and_names_the_labs_own_knote_once() {
    for args in [
        &["oneshot", "--port", "0"][..],
        &["oneshot", "--port", "0", "--hide-os-calls"][..],
    ] {
        let text = stdout_of(args);
        assert!(!text.contains('≈'), "no epoll call lines:\n{text}");
        assert_eq!(
            text.contains("the epoll calls underneath: --os-calls"),
            cfg!(target_os = "linux"),
            "the header mentions them on Linux only:\n{text}"
        );
        let signal_lines: Vec<&str> = text.lines().filter(|l| l.contains("signal")).collect();
        assert_eq!(signal_lines.len(), 1, "{signal_lines:?}\n{text}");
        assert!(
            signal_lines[0].contains("the lab's own knote")
                && signal_lines[0].contains("--all-knotes"),
            "{}",
            signal_lines[0]
        );
        assert_eq!(table_rows_naming(&text, "signal"), 0, "{text}");
        assert!(table_rows_naming(&text, "conn1") > 0, "{text}");
    }
}

/// Lesson 7's attendee adds `--os-calls`: on Linux the `≈` lines are back under the kevent
/// calls (epoll_wait, epoll_ctl), and with them the lab's own knote in the tables. `--all-knotes`
/// alone shows that knote everywhere without the epoll calls.
#[test]
fn os_calls_and_all_knotes_bring_back_what_is_hidden() {
    let text = stdout_of(&["oneshot", "--port", "0", "--os-calls"]);
    if cfg!(target_os = "linux") {
        assert!(text.contains("≈ epoll_wait("), "{text}");
        assert!(text.contains("≈ epoll_ctl("), "{text}");
        assert!(
            !text.contains("the epoll calls underneath: --os-calls"),
            "{text}"
        );
    } else {
        assert!(text.contains("≈ kevent("), "{text}");
    }
    assert!(table_rows_naming(&text, "signal") > 0, "{text}");

    let text = stdout_of(&["oneshot", "--port", "0", "--all-knotes"]);
    assert!(!text.contains('≈'), "{text}");
    assert!(table_rows_naming(&text, "signal") > 0, "{text}");
    assert!(text.contains("▸ READ  signal (fd "), "{text}");
}

/// A tool reads `lab oneshot --json`: the JSON trace keeps everything, as the contract says:
/// the `signal` knote in the knote tables and its change, and on Linux the epoll calls of each
/// kevent call in `os_calls`.
#[test]
fn the_json_trace_keeps_every_knote_and_the_epoll_calls() {
    let output = run_lab(&["oneshot", "--port", "0", "--json"]);
    assert!(output.status.success());
    let records = trace::parse_trace(&String::from_utf8_lossy(&output.stdout));
    let tables = trace::knote_tables(&records);
    assert!(
        tables
            .iter()
            .any(|t| trace::knote_state(t, "signal", "READ").is_some()),
        "the signal knote in the JSON knote tables"
    );
    assert!(trace::changes(&records).any(|c| c["label"].str() == "signal"));
    let os_calls: usize = trace::of_type(&records, "kevent")
        .map(|k| k["os_calls"].arr().len())
        .sum();
    assert_eq!(
        os_calls > 0,
        cfg!(target_os = "linux"),
        "os_calls: {os_calls}"
    );
}

/// A facilitator reads lesson 6's question about the third client: the published server with
/// `--max-clients 2` says, in the trace, that a client coming after the first two was locked
/// out; its banner promises nothing the tour does not show (no PendingMessage).
#[test]
fn as_published_the_locked_out_client_is_named() {
    let text = stdout_of(&[
        "server",
        "--port",
        "0",
        "--as-published",
        "--max-clients",
        "2",
    ]);
    assert!(
        text.lines()
            .any(|l| l.contains("after the first 2") && l.contains("locked out")),
        "{text}"
    );
    let banner = text
        .lines()
        .find(|l| l.contains("--as-published:"))
        .expect("the banner");
    assert!(!banner.contains("PendingMessage"), "{banner}");
    let fixed = stdout_of(&["server", "--port", "0", "--max-clients", "2"]);
    assert!(!fixed.contains("locked out"), "{fixed}");
}

/// The server's tour, read by someone who knows the Zig code's `@intFromPtr(client)`: the first
/// large udata is explained once, as a slot and a generation.
#[test]
fn the_servers_udata_token_is_explained_once() {
    let text = stdout_of(&["server", "--port", "0"]);
    let explained: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("is the server's token"))
        .collect();
    assert_eq!(explained.len(), 1, "{text}");
    assert!(
        explained[0].contains("udata 4294967296")
            && explained[0].contains("slot 0 gen 1")
            && explained[0].contains("not a pointer"),
        "{}",
        explained[0]
    );
}

/// Someone runs `lab oneshot --external` and thirty clients connect. Once the knote table is
/// long, each change prints only the rows that changed (the output grows with the changes, not
/// with the square of the connections), and the whole table is printed once at the end.
#[test]
fn a_long_knote_table_prints_only_its_changed_rows_and_whole_at_the_end() {
    const CLIENTS: usize = 30;
    let mut child = lab(&["oneshot", "--external", "--port", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lab");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut text = String::new();
    let mut until = |want: &dyn Fn(&str) -> bool| -> String {
        loop {
            let line = rx
                .recv_timeout(RUN_PATIENCE)
                .expect("lab kept writing its trace");
            text.push_str(&line);
            text.push('\n');
            if want(&line) {
                return line;
            }
        }
    };
    let listening = until(&|l| l.contains("listening on "));
    let addr = listening
        .trim()
        .trim_start_matches("listening on ")
        .to_string();
    let mut clients = Vec::new();
    for n in 1..=CLIENTS {
        let mut client = TcpStream::connect(&addr).expect("connect");
        client.write_all(b"hi").expect("send");
        clients.push(client);
        let accepted = format!("accepted conn{n} ");
        until(&|l| l.contains(&accepted));
    }
    // The last accept's rows, then SIGTERM ends the run.
    until(&|l| l.contains("conn30") && (l.starts_with("   │ ") || l.starts_with("   └ ")));
    // SAFETY: kill(2) on the child we started and have not yet reaped.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    assert_eq!(rc, 0);
    let output = wait_output(child);
    assert!(output.status.success());
    // The reader thread may still be forwarding the last lines (the summary): take them until
    // it hangs up at the end of the output, not only what has arrived so far.
    while let Ok(line) = rx.recv_timeout(RUN_PATIENCE) {
        text.push_str(&line);
        text.push('\n');
    }

    assert!(
        text.contains("┌ knotes that changed ("),
        "a long table shows its changed rows:\n{text}"
    );
    // The rows printed grow with the changes (an accept and a delivery per client), not with
    // the square of the connections: a whole table after each change would be about
    // CLIENTS² rows (900 here).
    let rows = text
        .lines()
        .filter(|l| l.starts_with("   │ ") || l.starts_with("   └ "))
        .count();
    assert!(rows < 8 * CLIENTS, "{rows} table rows:\n{text}");
    // The whole table, once, before the summary.
    let end = text.find("━━ summary").expect("the summary");
    let last_title = text[..end]
        .rfind("┌ knotes: ")
        .expect("a whole table at the end");
    let last_table = &text[last_title..end];
    for n in 1..=CLIENTS {
        assert_eq!(
            table_rows_naming(last_table, &format!("conn{n}")),
            1,
            "conn{n} in the final table:\n{last_table}"
        );
    }
}

/// A terminal of `width` × `height` for these tests.
fn terminal(width: u16, height: u16) -> Tmux {
    Tmux::start("display", width, height, &[])
}

/// In an 80×24 terminal a long note wraps at a space, its continuation rows indented under the
/// note's text; at 160 columns the same note takes the width before it wraps.
#[test]
fn notes_wrap_to_the_terminal_with_a_hanging_indent() {
    let note_start = "✎ EV_ONESHOT (B15): conn1's knote was deleted";
    let narrow = terminal(80, 24);
    narrow.run_lab("", "oneshot --port 0 --script 'send hi; wait 100'");
    narrow.wait_for_exit_status(0);
    let rows: Vec<String> = narrow
        .screen_rows()
        .into_iter()
        .skip_while(|r| !r.contains(note_start))
        .take(3)
        .collect();
    assert!(rows.len() == 3, "the note on screen: {rows:?}");
    assert!(rows[0].chars().count() <= 80, "{rows:?}");
    assert!(
        rows[1].starts_with("     ")
            && !rows[1].trim().is_empty()
            && !rows[1].starts_with("      "),
        "a continuation row indented under the text: {rows:?}"
    );
    let wide = terminal(160, 50);
    wide.run_lab("", "oneshot --port 0 --script 'send hi; wait 100'");
    wide.wait_for_exit_status(0);
    let row = wide
        .screen_rows()
        .into_iter()
        .find(|r| r.contains(note_start))
        .expect("the note");
    let width = row.chars().count();
    assert!(
        (100..=160).contains(&width),
        "the row uses the wide terminal: {row}"
    );
}

impl Tmux {
    /// The screen and its scrollback, one terminal row per line (wrapped lines not joined).
    fn screen_rows(&self) -> Vec<String> {
        let joined = self.screen();
        // `screen` joins wrapped rows; a row that lab wrapped itself stays a row of its own,
        // which is what these tests look at.
        joined.lines().map(str::to_string).collect()
    }
}

/// A person runs a stage in a 40-column terminal: the footer still ends with `? keys  q quit`;
/// `?` shows every key (on as many rows as needed) and `?` again hides them; `q` quits.
#[test]
fn a_narrow_footer_keeps_quit_and_help() {
    let tmux = terminal(40, 24);
    tmux.run_lab("", "oneshot --port 0");
    tmux.wait_for_visible("the short footer", |s| s.contains("? keys  q quit"));
    tmux.press("?");
    let screen = tmux.wait_for_visible("every key", |s| s.contains("? hide keys"));
    for key in [
        "c connect",
        "r read",
        "a rearm",
        "x close",
        "k knotes",
        "q quit",
    ] {
        assert!(screen.contains(key), "{key} in:\n{screen}");
    }
    tmux.press("?");
    tmux.wait_for_visible("the short footer again", |s| {
        s.contains("? keys  q quit") && !s.contains("? hide keys")
    });
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// In an 80×24 terminal a person presses `s` and resizes the window: the key press adds no
/// block of its own (no `◂ USER keys` line), and the resize is one short line at most, never
/// the EINTR note block.
#[test]
fn key_presses_and_resizes_do_not_disturb_the_trace() {
    let tmux = terminal(80, 24);
    tmux.run_lab("", "oneshot --port 0");
    tmux.wait_for("the footer", |s| s.contains("q quit"));
    tmux.press("s");
    tmux.wait_for("the send", |s| s.contains("» send conn1 (4 bytes)"));
    tmux.resize(100, 30);
    tmux.resize(80, 24);
    tmux.press("s");
    tmux.wait_for("the second send", |s| {
        s.matches("» send conn1 (4 bytes)").count() == 2
    });
    let screen = tmux.screen();
    assert!(!screen.contains("◂ USER  keys"), "{screen}");
    assert!(!screen.contains("kevent returned EINTR"), "{screen}");
    for line in screen.lines().filter(|l| l.contains("EINTR")) {
        assert!(line.chars().count() <= 60, "one short line: {line}");
    }
    tmux.press("q");
    tmux.wait_for_exit_status(0);
}
