//! Every trace excerpt in a lesson is checked against a real run.
//!
//! The convention: an excerpt is a `text` block preceded by a marker comment (invisible on the
//! web page and in the terminal) naming the command that produced it and the claims the lesson
//! makes about it:
//!
//! ```text
//! <!-- excerpt: lab oneshot => conn1 READ = 2; flag ONESHOT; state conn1 READ deleted -->
//! ```
//!
//! Claims, separated by `;`:
//! - `conn1 READ = 2` (or `>=`, `<=`): events delivered for that knote (the summary's `by_label`);
//! - `events`, `changes`, `kevent_calls`, `messages`, `listener_disabled` with `=`, `>=`, `<=`;
//! - `flag NAME`: some change or event of the run carries EV_NAME;
//! - `state LABEL FILTER STATE`: a knote table of the run shows that knote in that state;
//! - `closed REASON`: the server closed a client for that reason;
//! - `timeout_ms N`: some kevent call waited with that timeout;
//! - `errors ERRNO >= 2` (or `=`, `<=`; `errors >= 2` for any errno): EV_ERROR entries in the
//!   eventlists of the run whose `data` is that errno (errata 9's receipts). The excerpt itself
//!   must show as many `◂ ... <ERROR> ... error ERRNO` lines.
//!
//! The command is run again with `--json` (and `--port 0`), and every claim must hold for the
//! new run. The excerpt's own text must agree too: a claimed flag appears in it, where the
//! excerpt shows the summary line, the counts it shows satisfy the claims, and it shows the
//! error entries an `errors` claim counts.

use crate::support::trace::{self, Field, Value};

use super::harness::{
    fences, lesson_files, run_lab, skip_reason, text, with_option, with_port_zero, TempDir,
};

/// One excerpt marker and the block under it.
struct Excerpt {
    file: String,
    command: String,
    claims: Vec<String>,
    body: String,
}

fn excerpts() -> Vec<Excerpt> {
    let mut found = Vec::new();
    for (file, markdown) in lesson_files() {
        for fence in fences(&markdown) {
            let Some(marker) = fence
                .preceding
                .iter()
                .rev()
                .find_map(|l| l.trim().strip_prefix("<!-- excerpt:"))
            else {
                continue;
            };
            let marker = marker.trim().trim_end_matches("-->").trim();
            let (command, claims) = marker.split_once("=>").unwrap_or_else(|| {
                panic!("{file}: excerpt marker without `=>`: {marker}");
            });
            found.push(Excerpt {
                file: file.clone(),
                command: command.trim().to_string(),
                claims: claims
                    .split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
                body: fence.lines.join("\n"),
            });
        }
    }
    found
}

fn compare(actual: u64, op: &str, expected: u64) -> bool {
    match op {
        "=" => actual == expected,
        ">=" => actual >= expected,
        "<=" => actual <= expected,
        _ => panic!("unknown comparison {op}"),
    }
}

/// Split `conn1 READ >= 2` into (`conn1 READ`, `>=`, 2).
fn counted_claim(claim: &str) -> Option<(String, String, u64)> {
    for op in [">=", "<=", "="] {
        if let Some((name, n)) = claim.split_once(op) {
            let n = n.trim().parse().ok()?;
            return Some((name.trim().to_string(), op.to_string(), n));
        }
    }
    None
}

/// Check one claim against a run (its JSON records, read as the contract defines them);
/// `Err` says what the run showed instead.
fn check(claim: &str, records: &[Value]) -> Result<(), String> {
    let summary = trace::summary(records);
    let words: Vec<&str> = claim.split_whitespace().collect();
    match words.as_slice() {
        ["flag", name] => {
            let present = trace::changes(records)
                .chain(trace::events(records).map(|(event, _)| event))
                .any(|k| trace::flags(k).contains(name));
            present
                .then_some(())
                .ok_or(format!("no change or event carries {name}"))
        }
        ["state", label, filter, state] => {
            let present = trace::knote_tables(records)
                .iter()
                .any(|table| trace::knote_state(table, label, filter) == Some(*state));
            present
                .then_some(())
                .ok_or(format!("no knote table shows {label} {filter} {state}"))
        }
        ["closed", reason] => {
            let present = trace::of_type(records, "client")
                .any(|r| r["event"] == "closed" && r["reason"] == *reason);
            present
                .then_some(())
                .ok_or(format!("no client was closed for {reason}"))
        }
        ["timeout_ms", n] => {
            let n: u64 = n.parse().map_err(|_| format!("bad number in {claim}"))?;
            let present = trace::of_type(records, "kevent")
                .any(|call| call["timeout_ms"].as_u64() == Some(n));
            present
                .then_some(())
                .ok_or(format!("no kevent call waited {n} ms"))
        }
        _ if claim.starts_with("errors") => {
            let (name, op, n) =
                counted_claim(claim).ok_or(format!("cannot read the claim `{claim}`"))?;
            let errno = error_claim_errno(&name)?;
            let actual = trace::events(records)
                .filter(|(k, _)| {
                    trace::flags(k).contains(&"ERROR")
                        && errno
                            .is_none_or(|want| lab::kq::errno_name(k["data"].num() as i32) == want)
                })
                .map(|(_, repeat)| repeat)
                .sum::<u64>();
            compare(actual, &op, n).then_some(()).ok_or(format!(
                "the run's eventlists held {actual} such EV_ERROR entries"
            ))
        }
        _ => {
            let (name, op, n) =
                counted_claim(claim).ok_or(format!("cannot read the claim `{claim}`"))?;
            let count = match name.as_str() {
                "events" | "changes" | "kevent_calls" | "messages" | "listener_disabled" => {
                    &summary[name.as_str()]
                }
                label => &summary["by_label"][label],
            };
            // A knote that delivered nothing is absent from `by_label`: it counted 0.
            let actual = if count.is_null() {
                0
            } else {
                count.num() as u64
            };
            compare(actual, &op, n)
                .then_some(())
                .ok_or(format!("the run counted {name} = {actual}"))
        }
    }
}

/// The errno an `errors` claim names (`errors EBADF` → `Some("EBADF")`, `errors` → `None`).
fn error_claim_errno(name: &str) -> Result<Option<&str>, String> {
    match name.split_whitespace().collect::<Vec<_>>().as_slice() {
        ["errors"] => Ok(None),
        ["errors", errno] if errno.starts_with('E') => Ok(Some(errno)),
        _ => Err(format!(
            "cannot read `{name}`: expected errors or errors ERRNO"
        )),
    }
}

/// The EV_ERROR entries an excerpt shows: eventlist lines (`◂`) with the ERROR flag, naming
/// `errno` when one is given.
fn shown_error_entries(body: &str, errno: Option<&str>) -> u64 {
    body.lines()
        .filter(|l| {
            let l = l.trim_start();
            l.starts_with('◂')
                && l.contains("ERROR>")
                && errno.is_none_or(|e| l.contains(&format!("error {e}")))
        })
        .count() as u64
}

/// The excerpt's text agrees with its claims: claimed flags appear in it, the counts of its
/// "events by knote" line (or "events by epoll item" for the raw epoll server, when it shows
/// one) satisfy the count claims, and it shows the EV_ERROR entries an `errors` claim counts.
fn check_body(excerpt: &Excerpt) -> Vec<String> {
    let mut problems = Vec::new();
    if excerpt.body.contains("to be filled") || excerpt.body.trim().is_empty() {
        problems.push("the excerpt is still a placeholder, not a real run".to_string());
        return problems;
    }
    for claim in &excerpt.claims {
        if let Some(name) = claim.strip_prefix("flag ") {
            if !excerpt.body.contains(name.trim()) {
                problems.push(format!(
                    "claims flag {name} but the excerpt does not show it"
                ));
            }
        }
        if claim.starts_with("errors") {
            if let Some((name, op, n)) = counted_claim(claim) {
                let errno = error_claim_errno(&name).ok().flatten();
                let shown = shown_error_entries(&excerpt.body, errno);
                if !compare(shown, &op, n) {
                    problems.push(format!(
                        "the excerpt shows {shown} EV_ERROR entries, against the claim {claim}"
                    ));
                }
            }
            continue;
        }
        if let Some((name, op, n)) = counted_claim(claim) {
            let Some(line) = excerpt
                .body
                .lines()
                .find(|l| l.contains("events by knote:") || l.contains("events by epoll item:"))
            else {
                continue;
            };
            if !name.contains(' ') {
                continue;
            }
            let shown = line.split(&format!("{name} ×")).nth(1).and_then(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_digit() || *c == ',')
                    .filter(char::is_ascii_digit)
                    .collect::<String>()
                    .parse::<u64>()
                    .ok()
            });
            match shown {
                Some(shown) if compare(shown, &op, n) => {}
                Some(shown) => problems.push(format!(
                    "the excerpt's summary shows {name} ×{shown}, against the claim {claim}"
                )),
                None => problems.push(format!("the excerpt's summary does not show {name}")),
            }
        }
    }
    problems
}

/// A person reads an excerpt in a lesson, runs the same command, and sees the same counts and
/// flags in their own trace. Each excerpt's command is run again (with `--json`), and every
/// claim of its marker holds for the new run; the excerpt's text agrees with the claims; and
/// every stage lesson (1 to 5) carries at least one excerpt.
#[test]
fn every_trace_excerpt_matches_a_real_run() {
    let excerpts = excerpts();
    for stage in [
        "01-flood",
        "02-oneshot",
        "03-dispatch",
        "04-clear",
        "05-server",
    ] {
        assert!(
            excerpts.iter().any(|e| e.file.starts_with(stage)),
            "{stage}.md has no excerpt marker"
        );
    }
    let mut failures = Vec::new();
    for excerpt in &excerpts {
        for problem in check_body(excerpt) {
            failures.push(format!("{}: {problem}", excerpt.file));
        }
        if let Some(why) = skip_reason(&excerpt.command) {
            eprintln!("{}: not re-run: {why}", excerpt.file);
            continue;
        }
        let state = TempDir::new("excerpt");
        let command = with_option(&with_port_zero(&excerpt.command), "--json");
        let args = shell_words(&command);
        let args: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
        let output = run_lab(&state, &args, None);
        if !output.status.success() {
            failures.push(format!(
                "{}: `{command}` failed: {}",
                excerpt.file,
                text(&output.stderr).trim()
            ));
            continue;
        }
        let entries = trace::parse_trace(&text(&output.stdout));
        for claim in &excerpt.claims {
            if let Err(why) = check(claim, &entries) {
                failures.push(format!(
                    "{}: `{command}`: claim `{claim}` failed: {why}",
                    excerpt.file
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "excerpts that do not match:\n{}",
        failures.join("\n")
    );
}

/// Words of a command line, honouring single quotes (`--script 'send a; wait 10'`).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in line.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    words.push(std::mem::take(&mut word));
                    any = false;
                }
            }
            c => {
                word.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(word);
    }
    words
}

/// The claim checker can say no, on real runs and on the real lessons: a `lab oneshot --json`
/// tour and a `lab server --as-published --json` tour satisfy the claims their scenarios make
/// (conn1 READ = 2 and a deleted ONESHOT knote; two EBADF receipts and an idle client's timeout)
/// and fail claims that differ by one or name what did not happen. Every count an excerpt's
/// text shows, once raised by one in its claim, is reported as a mismatch.
#[test]
fn a_wrong_claim_is_caught() {
    let state = TempDir::new("claims");
    let run = |args: &[&str]| {
        let output = run_lab(&state, args, None);
        assert!(output.status.success(), "{}", text(&output.stderr));
        trace::parse_trace(&text(&output.stdout))
    };
    let oneshot = run(&["oneshot", "--port", "0", "--json"]);
    for claim in [
        "conn1 READ = 2",
        "conn1 READ >= 2",
        "conn1 READ <= 2",
        "state conn1 READ deleted",
        "flag ONESHOT",
        "errors = 0",
    ] {
        assert_eq!(check(claim, &oneshot), Ok(()), "{claim}");
    }
    for claim in [
        "conn1 READ = 3",
        "conn1 READ = 1",
        "conn1 READ >= 3",
        "conn2 READ >= 1",
        "state conn1 READ disabled",
        "flag DISPATCH",
        "errors >= 1",
        "closed eof",
    ] {
        assert!(check(claim, &oneshot).is_err(), "{claim} should fail");
    }

    let published = run(&["server", "--port", "0", "--json", "--as-published"]);
    for claim in [
        "errors EBADF >= 2",
        "errors = 2",
        "closed timeout",
        "messages = 20",
    ] {
        assert_eq!(check(claim, &published), Ok(()), "{claim}");
    }
    for claim in [
        "errors EBADF >= 3",
        "errors ENOENT >= 1",
        "errors badf >= 1",
        "closed too_large",
        "messages = 21",
    ] {
        assert!(check(claim, &published).is_err(), "{claim} should fail");
    }

    // Raise each count claim that an excerpt's text shows by one: the text no longer agrees.
    let mut raised = 0;
    for excerpt in excerpts() {
        assert!(check_body(&excerpt).is_empty(), "{}", excerpt.file);
        for (i, claim) in excerpt.claims.iter().enumerate() {
            let Some((name, op, n)) = counted_claim(claim) else {
                continue;
            };
            let shown_in_text = excerpt.body.contains(&format!("{name} ×"))
                || (name.starts_with("errors") && excerpt.body.contains("ERROR>"));
            if op != "=" || !shown_in_text {
                continue;
            }
            let mut wrong = Excerpt {
                file: excerpt.file.clone(),
                command: excerpt.command.clone(),
                claims: excerpt.claims.clone(),
                body: excerpt.body.clone(),
            };
            wrong.claims[i] = format!("{name} = {}", n + 1);
            assert_eq!(
                check_body(&wrong).len(),
                1,
                "{}: `{}` against the excerpt's text",
                excerpt.file,
                wrong.claims[i]
            );
            raised += 1;
        }
    }
    assert!(
        raised >= 3,
        "the lessons' excerpts show few counts: {raised}"
    );
}
