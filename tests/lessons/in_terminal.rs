//! An attendee follows every lesson in a real terminal (tmux), at a laptop's 80×24 and at a
//! wide 160×50: they type each `lab` command of the lesson's `sh` blocks, answer `--predict`'s
//! questions, press the keys the lesson tells them to press, quit pagers with `q`, and open the
//! next lesson with the `lab lesson N` its last line names. The screen must show what the
//! lesson says. Everything expected is read from the lesson files (their excerpts, the claims
//! of the excerpt markers, the sentences that name keys), never from the lab's code.
//!
//! Piped runs are checked by `commands.rs` and `excerpts.rs`; in a terminal the lab behaves
//! differently (interactive mode, colour, wrapping to the width, footer, pager), and that is
//! what this file drives.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::harness::{fences, lesson_files, skip_reason, with_port_zero, TempDir, RUN_LIMIT};
use crate::support::tmux::Tmux;

/// The two terminals: a laptop's default window, and a wide one on a big screen.
const SIZES: [(u16, u16); 2] = [(80, 24), (160, 50)];

/// The commands that print a kevent trace (a header `━━ lab NAME ━━` and a summary).
const TRACED: [&str; 6] = ["flood", "oneshot", "dispatch", "clear", "write", "server"];

/// How often the screen is looked at while waiting for something (a poll, not a pause that
/// synchronises anything: every wait has its own condition and deadline).
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// One trace excerpt of a lesson: the command its marker names, the claims, the block.
#[derive(Clone, Debug)]
struct Excerpt {
    command: String,
    claims: Vec<String>,
    body: Vec<String>,
}

/// One command an attendee types, with what the lesson says about it.
#[derive(Debug)]
struct Typed {
    /// As the lesson writes it.
    written: String,
    /// The keys the lesson tells the attendee to press once it runs interactively (`s`, `r`,
    /// `q`...), in order; empty when the lesson names none.
    keys: Vec<String>,
    /// The lesson says, next to the command, that it runs interactively in a terminal.
    said_interactive: bool,
    /// The lesson's excerpt of this same run, if it shows one.
    excerpt: Option<Excerpt>,
}

/// A lesson as the attendee reads it.
struct Lesson {
    file: String,
    commands: Vec<Typed>,
    /// `lab lesson N` from the lesson's last line ("**Next:** `lab lesson 2` ..."), and the
    /// title of that lesson (its first line).
    next: Option<(String, String)>,
}

/// Reading the lessons as an attendee does finds what they would type and press: the test
/// below can only be as good as this reading.
#[test]
fn the_lessons_are_read_into_commands_keys_and_excerpts() {
    // On the real lessons: lesson 1 has its tour (`--tour`, or
    // the tour written out as a script) matched with its excerpt, and an interactive flood
    // with the keys `s`, `r`, `q`; lesson 5's interactive server names `c s x k t`; lesson 8's
    // `--step` waits for Space, and `q` ends it.
    let lessons = lessons();
    let flood = lessons
        .iter()
        .find(|l| l.file.starts_with("01"))
        .expect("lesson 1");
    assert!(
        flood
            .commands
            .iter()
            .any(|c| c.excerpt.is_some() && !c.written.contains("--predict")),
        "lesson 1's tour command has no excerpt: {:?}",
        flood.commands
    );
    let interactive = flood
        .commands
        .iter()
        .find(|c| c.written == "lab flood --port 0")
        .expect("lesson 1 names the interactive flood");
    assert_eq!(interactive.keys, ["s", "r", "q"]);
    let server = lessons
        .iter()
        .find(|l| l.file.starts_with("05"))
        .and_then(|l| {
            l.commands
                .iter()
                .find(|c| c.written == "lab server --port 0")
        })
        .expect("lesson 5 names the interactive server");
    assert_eq!(server.keys, ["c", "s", "x", "k", "t"]);
    let step = lessons
        .iter()
        .find(|l| l.file.starts_with("08"))
        .and_then(|l| {
            l.commands
                .iter()
                .find(|c| c.written == "lab oneshot --port 0 --step")
        })
        .expect("lesson 8 names --step");
    assert_eq!(step.keys, ["Space", "q"]);
    // Every excerpt is the run of some command the lessons type (lesson 0's `lab clear` block
    // is lesson 4's tour, and lesson 7's `lab dispatch --os-calls` a sentence's command).
    let matched: Vec<&str> = lessons
        .iter()
        .flat_map(|l| &l.commands)
        .filter_map(|c| c.excerpt.as_ref().map(|e| e.command.as_str()))
        .collect();
    for command in [
        "lab flood",
        "lab oneshot",
        "lab dispatch",
        "lab clear",
        "lab server",
        "lab server --as-published --max-clients 2",
        "lab server --backend epoll",
    ] {
        assert!(
            matched.contains(&command),
            "no lesson command runs the excerpt `{command}`"
        );
    }
    assert!(flood
        .next
        .as_ref()
        .is_some_and(|(n, _)| n == "lab lesson 2"));
}

/// The screen checks can say no: lesson 1's own excerpt, as a screen (its notes wrapped at 60
/// columns the way the lab wraps them), satisfies the excerpt; the same screen with one line
/// gone, a count changed in the summary, or a flag missing does not.
#[test]
fn a_screen_that_differs_from_the_excerpt_is_caught() {
    let lessons = lessons();
    let excerpt = lessons
        .iter()
        .flat_map(|l| &l.commands)
        .find_map(|c| c.excerpt.clone().filter(|e| e.command == "lab flood"))
        .expect("lesson 1's excerpt");
    let wrapped: Vec<String> = excerpt
        .body
        .iter()
        .filter(|l| l.trim() != "…")
        .flat_map(|l| match l.strip_prefix("   ✎ ") {
            Some(note) if note.len() > 60 => {
                let (head, tail) = note.split_at(note[..60].rfind(' ').expect("a space"));
                vec![
                    format!("   ✎ {head}"),
                    format!("     {}", tail.trim_start()),
                ]
            }
            _ => vec![l.clone()],
        })
        .collect();
    assert!(
        wrapped.len() > excerpt.body.len() - 2,
        "some note was wrapped"
    );
    assert_eq!(check_excerpt(&excerpt, &wrapped), Vec::<String>::new());

    let without_read: Vec<String> = wrapped
        .iter()
        .filter(|l| !l.contains("» read"))
        .cloned()
        .collect();
    assert!(!check_excerpt(&excerpt, &without_read).is_empty());
    let fewer_listener_events: Vec<String> = wrapped
        .iter()
        .map(|l| l.replace("listener READ ×1", "listener READ ×2"))
        .collect();
    assert!(!check_excerpt(&excerpt, &fewer_listener_events).is_empty());
    let no_add: Vec<String> = wrapped
        .iter()
        .map(|l| l.replace("<ADD>", "<CLEAR>"))
        .collect();
    assert!(!check_excerpt(&excerpt, &no_add).is_empty());
    // Run-to-run differences are not differences: other times, descriptors and counts.
    let other_run: Vec<String> = wrapped
        .iter()
        .map(|l| l.replace("198,408", "61,002").replace("fd 9", "fd 12"))
        .collect();
    assert_eq!(check_excerpt(&excerpt, &other_run), Vec::<String>::new());
}

/// An attendee works through lessons 0 to 9 in a terminal, once at 80×24 and once at 160×50
/// (side by side, each size in three terminals: lessons 0-2, 3-5 and 6-9). For every `lab`
/// command in a lesson's `sh` blocks, and every interactive command a sentence tells them to
/// try with keys:
///
/// - a run (a tour, a script, `--predict`, `lab selftest`, `lab explain`...) ends by itself
///   back at the prompt with exit status 0 (they answer `--predict`'s questions, and quit a
///   pager with `q`); a trace shows its header and summary, and when the lesson shows an
///   excerpt of the same run, the screen shows the excerpt's lines (times, ports, descriptors
///   and counts abstracted) and satisfies the excerpt marker's claims;
/// - an interactive command shows the footer with `q quit` (and, in a stage, `? keys`); each
///   key the lesson names does what lesson 0 says it does (`s` sends, `r` reads, `k` shows the
///   knote table...), and `q` returns to the prompt with exit 0 and the summary; a command whose
///   lesson describes a run must not open the interactive mode;
/// - `--step` (lesson 8) shows its prompt, Space performs the next step, `q` ends the run with
///   the summary;
/// - notes fit the terminal's width, as lesson 0 promises (JSON stays one record per line); the
///   lines the lab still leaves to the terminal to wrap are listed on stderr;
/// - `lab lesson N` (each lesson's last line) opens the pager on that lesson's title, and `q`
///   returns to the prompt with exit 0.
#[test]
fn every_lesson_command_in_a_terminal_shows_what_its_lesson_says() {
    let lessons = lessons();
    assert!(lessons.len() >= 10, "expected lessons 0 to 9");
    let lessons = std::sync::Arc::new(lessons);
    // Three attendees per size, on lessons 0-2, 3-5 and 6-9 (each lesson's commands in order,
    // in one terminal: `lab replay` reads a file an earlier command wrote), so that the walk
    // takes about a third of the time one attendee would.
    let walks: Vec<_> = SIZES
        .iter()
        .flat_map(|&size| [(size, 0..3), (size, 3..6), (size, 6..usize::MAX)])
        .map(|((width, height), part)| {
            let lessons = lessons.clone();
            std::thread::spawn(move || {
                let mine: Vec<&Lesson> = lessons
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| part.contains(i))
                    .map(|(_, l)| l)
                    .collect();
                walk(&mine, width, height)
            })
        })
        .collect();
    let mut failures = Vec::new();
    for walk in walks {
        failures.extend(walk.join().expect("a walk through the lessons"));
    }
    assert!(
        failures.is_empty(),
        "in a terminal, these lesson commands do not show what their lesson says:\n\n{}",
        failures.join("\n\n")
    );
}

/// One attendee, one terminal of `width`×`height`: every lesson in order. Returns the
/// failures, each naming the size, the lesson and the command.
fn walk(lessons: &[&Lesson], width: u16, height: u16) -> Vec<String> {
    let bin = crate::support::lab_path();
    let path = format!(
        "PATH={}:{}",
        bin.parent().expect("the binary's directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The pager is `less` with the flags lab itself sets when LESS is unset, whatever the
    // tester's own settings: deterministic.
    let env = [path.as_str(), "PAGER=less", "LESS=FRX", "LANG=C.UTF-8"];
    let tmux = Tmux::start(&format!("walk{width}"), width, height, &env);
    let mut overflow = Overflow::default();
    // A fresh directory, as a person in a new folder: `lab replay` reads what an earlier
    // command wrote there.
    let dir = TempDir::new("walk");
    tmux.run_line(&format!("cd '{}'", dir.path().display()));
    tmux.wait_for_exit_status(0);

    let mut failures = Vec::new();
    for lesson in lessons {
        for command in &lesson.commands {
            if let Some(why) = skip_reason(&command.written) {
                eprintln!("{}: skipped `{}`: {why}", lesson.file, command.written);
                continue;
            }
            let typed = with_port_zero(&command.written);
            let problems = type_and_check(&tmux, command, &typed, width, &mut overflow);
            for problem in problems {
                failures.push(format!(
                    "{width}×{height} {}: `{typed}`: {problem}",
                    lesson.file
                ));
            }
        }
        if let Some((next, title)) = &lesson.next {
            if let Err(problem) = open_in_pager(&tmux, next, title) {
                failures.push(format!(
                    "{width}×{height} {}: `{next}`: {problem}",
                    lesson.file
                ));
            }
        }
    }
    for (kind, (commands, columns, example)) in &overflow.kinds {
        eprintln!(
            "finding at {width}×{height}: {kind} lines wider than the terminal in {commands} \
             command(s), up to {columns} columns, e.g. `{}`: {example}",
            overflow.example_command[kind]
        );
    }
    failures
}

/// The lines the lab leaves to the terminal to wrap ([`MAY_OVERFLOW`]), per kind: in how many
/// commands, the widest, and an example.
#[derive(Default)]
struct Overflow {
    kinds: std::collections::BTreeMap<&'static str, (usize, usize, String)>,
    example_command: std::collections::BTreeMap<&'static str, String>,
}

/// What the screen showed, once the command ended.
struct Ended {
    status: i32,
    /// The whole scrollback from the typed line to the `exit status` line.
    screen: Vec<String>,
    /// The run went interactive (the footer with `q quit` appeared).
    interactive: bool,
    /// The first page a pager showed (with its colours), if the output went to a pager.
    paged: Option<String>,
}

/// Type one command on a fresh screen, drive it to its end, and check what it showed.
fn type_and_check(
    tmux: &Tmux,
    command: &Typed,
    typed: &str,
    width: u16,
    overflow: &mut Overflow,
) -> Vec<String> {
    tmux.fresh_screen();
    tmux.run_line(typed);
    let ended = match drive(tmux, command, width) {
        Ok(ended) => ended,
        Err(problem) => {
            // Leave the terminal at a prompt for the next command, whatever state it is in.
            recover(tmux);
            return vec![problem];
        }
    };
    let mut problems = Vec::new();
    if ended.status != 0 {
        problems.push(format!(
            "ended with exit status {}:\n{}",
            ended.status,
            ended.screen.join("\n")
        ));
        return problems;
    }
    let text = ended.screen.join("\n");
    if text.contains("panicked") {
        problems.push(format!("a panic:\n{text}"));
    }
    if ended.interactive && !command.said_interactive {
        // It was driven with `t` or `q` to get the terminal back; the lesson needs `--tour`.
        problems.push(
            "opened the interactive mode, but its lesson describes a run that ends by itself \
             (the command needs `--tour`)"
                .to_string(),
        );
    }
    problems.extend(too_wide(&ended.screen, width as usize, typed, overflow));
    let traced = is_traced(typed);
    if let Some(page) = &ended.paged {
        // Through a pager (`| less -R`, `--pager`) the attendee sees the trace's first page,
        // then quits with `q`: the page shows the trace's header, in colour where the lesson
        // asks for it to survive the pager (`--color always`, `--pager`).
        let stage = typed.split_whitespace().nth(1).unwrap_or_default();
        if TRACED.contains(&stage) && !page.contains(&format!("lab {stage}")) {
            problems.push(format!(
                "the pager's first page has no trace header:\n{page}"
            ));
        }
        let colour_asked = typed.contains("--color always") || typed.contains("--pager");
        if colour_asked && !page.contains("\u{1b}[") {
            problems.push(format!("the pager shows the trace without colour:\n{page}"));
        }
    } else if traced {
        let stage = typed.split_whitespace().nth(1).unwrap_or_default();
        if !text.contains(&format!("━━ lab {stage} ━━")) {
            problems.push(format!("no trace header `━━ lab {stage} ━━`:\n{text}"));
        }
        if !text.contains("━━ summary:") {
            problems.push(format!("no summary line (`━━ summary:`):\n{text}"));
        }
    }
    if traced && !typed.contains("--os-calls") && !typed.contains("--all-knotes") {
        problems.extend(lab_knotes_named_once(&ended.screen));
    }
    // The excerpt describes the tour's run; an interactive run is another run.
    if let (Some(excerpt), false, None) = (&command.excerpt, ended.interactive, &ended.paged) {
        problems.extend(check_excerpt(excerpt, &ended.screen));
    }
    problems
}

/// Lesson 0: the lab's own knotes (`signal`, `keys`, `wake`) are named once, in one line, and
/// then left out of the blocks and tables (unless `--all-knotes` or `--os-calls`).
fn lab_knotes_named_once(screen: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    for knote in ["signal", "keys", "wake"] {
        let shown: Vec<&String> = screen
            .iter()
            .filter(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                match cells.first() {
                    Some(&("▸" | "◂")) => cells.get(2) == Some(&knote),
                    Some(&("┌" | "│" | "└")) => cells.contains(&knote),
                    _ => false,
                }
            })
            .collect();
        if shown.len() > 1 {
            problems.push(format!(
                "the lab's own `{knote}` knote is in {} change, event or table lines, not once:\n{}",
                shown.len(),
                shown.iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n")
            ));
        }
    }
    problems
}

/// Watch the screen until the command is back at the prompt, doing what an attendee does on
/// the way: answer `--predict`'s questions, quit a pager with `q`, and in interactive mode
/// press the keys the lesson names (then `q`).
fn drive(tmux: &Tmux, command: &Typed, width: u16) -> Result<Ended, String> {
    let deadline = Instant::now() + RUN_LIMIT;
    let mut answered = 0;
    let mut pager_quits = 0;
    let mut paged = None;
    loop {
        let whole = tmux.whole_screen();
        if let Some(status) = exit_status(&whole) {
            return Ok(Ended {
                status,
                screen: after_typed_line(&whole),
                interactive: false,
                paged,
            });
        }
        let rows = tmux.visible();
        let last = last_row(&rows);
        if footer_open(&rows) {
            return drive_interactive(tmux, command, width, &rows);
        }
        if step_prompt(last) {
            return drive_steps(tmux, command, width, &rows);
        }
        let asked = whole.matches("Your answer:").count();
        if asked > answered && last.trim_start().starts_with("Your answer:") {
            tmux.type_text(&answer_to(&whole));
            tmux.press("Enter");
            answered = asked;
            if answered > 4 {
                return Err(format!("--predict kept asking:\n{whole}"));
            }
        } else if is_pager_prompt(last) && pager_quits < 3 {
            if paged.is_none() {
                paged = Some(tmux.visible_with_colours());
            }
            tmux.press("q");
            pager_quits += 1;
            // One `q` per pager: wait until it has taken this one (its prompt gone, or the run
            // over) before looking again. A loaded machine can take longer than a look to
            // redraw, and a second `q` would land at the shell prompt, in the next command.
            let _ = wait(tmux, "the pager to take `q`", |s| {
                exit_status(s).is_some() || !is_pager_prompt(last_row(&tmux.visible()))
            });
        }
        if Instant::now() > deadline {
            return Err(format!(
                "did not end within {RUN_LIMIT:?} (a lesson command must end by itself):\n{rows}"
            ));
        }
        std::thread::sleep(LOOK_EVERY);
    }
}

/// An answer to the last question on the screen, in the words its hint offers: lesson 1 invites
/// "a number in digits or words, or `none`, `a few`, `many`"; a comparison offers its words in
/// brackets ("(more, fewer, or same)").
fn answer_to(screen: &str) -> String {
    // The question, wrapped to the terminal, runs from `Predict:` to the prompt.
    let lines: Vec<&str> = screen.lines().collect();
    let start = lines
        .iter()
        .rposition(|l| l.starts_with("Predict:"))
        .unwrap_or(lines.len());
    let question = lines[start..]
        .iter()
        .take_while(|l| !l.starts_with("Your answer:"))
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let hint = question.rsplit('(').next().unwrap_or_default();
    if hint.contains("many") || !hint.contains(',') {
        return "many".to_string();
    }
    hint.split(',').next().unwrap_or("many").trim().to_string()
}

/// Interactive mode: the footer is open. Check it, press the lesson's keys (each must do what
/// lesson 0 says), and quit with `q`.
fn drive_interactive(
    tmux: &Tmux,
    command: &Typed,
    width: u16,
    rows: &str,
) -> Result<Ended, String> {
    let footer = last_row(rows).to_string();
    if !footer.contains("q quit") {
        return Err(format!("the footer does not offer `q quit`:\n{rows}"));
    }
    let stage_footer = !footer.contains("t tour");
    if stage_footer && !footer.contains("? keys") {
        return Err(format!("the footer does not offer `? keys`:\n{rows}"));
    }
    if !stage_footer && footer.contains("? keys") == SERVER_FOOTER_LACKS_HELP {
        return Err(format!(
            "the server's footer {} `? keys` (update SERVER_FOOTER_LACKS_HELP):\n{rows}",
            if SERVER_FOOTER_LACKS_HELP {
                "now offers"
            } else {
                "does not offer"
            }
        ));
    }
    if footer.chars().count() > width as usize {
        return Err(format!("the footer is wider than the terminal:\n{rows}"));
    }
    let mut keys: Vec<&str> = command.keys.iter().map(String::as_str).collect();
    if keys.is_empty() {
        // A command whose lesson describes a run, yet opens the interactive mode (a failure,
        // reported by the caller): play the tour where the footer offers it, then quit.
        keys = if stage_footer {
            vec!["q"]
        } else {
            vec!["t", "q"]
        };
    }
    if keys.last() != Some(&"q") {
        keys.push("q");
    }
    for key in keys {
        press_and_see(tmux, key)?;
        if key == "q" {
            break;
        }
    }
    let whole = tmux.whole_screen();
    let status = exit_status(&whole).expect("q waited for the exit status");
    Ok(Ended {
        status,
        screen: after_typed_line(&whole),
        interactive: true,
        paged: None,
    })
}

/// `--step`: the prompt line at the bottom names the next step ("▶ step 2 of 4: send hello,
/// ... · Space: next step, q: quit"), or for `lab server` the next call ("▶ kevent call 7 · 2
/// changes queued · Space: next kevent call, q: quit").
fn step_prompt(last: &str) -> bool {
    (last.starts_with("▶ step") || server_step_prompt(last)) && last.contains("Space")
}

/// The server's `--step` prompt: one pass of the event loop per Space.
fn server_step_prompt(last: &str) -> bool {
    last.starts_with("▶ kevent call") || last.starts_with("▶ epoll_wait call")
}

/// `lab server --step`, as lessons 5 and 8 tell it: each Space makes the one call the prompt
/// names ("▶ kevent call 7 · ..."), after which the prompt names the next one, and the run ends
/// by itself after the tour's last client. A person presses Space at each prompt until the
/// shell is back.
fn drive_server_steps(tmux: &Tmux) -> Result<(), String> {
    // The default tour takes about ten passes (twenty on raw epoll); far more means the run
    // does not end.
    const MAX_PASSES: usize = 80;
    let call_named = |s: &str| -> Option<u64> {
        let prompt = last_row(s);
        if !server_step_prompt(prompt) {
            return None;
        }
        prompt
            .split_whitespace()
            .find_map(|w| w.parse::<u64>().ok())
    };
    for _ in 0..MAX_PASSES {
        let whole = tmux.whole_screen();
        if exit_status(&whole).is_some() {
            return Ok(());
        }
        let Some(n) = call_named(&tmux.visible()) else {
            // Between a Space and the next prompt: wait for one or the other.
            wait(tmux, "the next prompt, or the end", |s| {
                exit_status(s).is_some() || call_named(&tmux.visible()).is_some()
            })?;
            continue;
        };
        tmux.press("Space");
        wait(
            tmux,
            &format!("Space: call {n} made, then the next prompt or the end"),
            |s| exit_status(s).is_some() || call_named(&tmux.visible()).is_some_and(|m| m > n),
        )?;
    }
    Err(format!(
        "`lab server --step` did not end after {MAX_PASSES} Spaces:\n{}",
        tmux.visible()
    ))
}

/// `--step`, as lesson 8 tells a facilitator: the prompt waits for Space, which performs the
/// step it names; `q` ends the run with the summary. The prompt fits the width.
fn drive_steps(tmux: &Tmux, command: &Typed, width: u16, rows: &str) -> Result<Ended, String> {
    let prompt = last_row(rows);
    if prompt.chars().count() > width as usize {
        return Err(format!(
            "the step prompt is wider than the terminal:\n{rows}"
        ));
    }
    if server_step_prompt(prompt) {
        drive_server_steps(tmux)?;
    } else {
        for key in &command.keys {
            press_and_see(tmux, key)?;
            if key == "q" {
                break;
            }
        }
    }
    let whole = tmux.whole_screen();
    let status = exit_status(&whole).ok_or(format!(
        "the lesson's keys for `--step` did not end the run:\n{}",
        tmux.visible()
    ))?;
    Ok(Ended {
        status,
        screen: after_typed_line(&whole),
        interactive: false,
        paged: None,
    })
}

/// The server's footer (`c connect ... t tour  q quit`) fits both terminals whole, and has no
/// `?` key: issue 11 asks for `?` at every width. Reported to the lead; when it gains `? keys`
/// this check says so, and the constant goes.
const SERVER_FOOTER_LACKS_HELP: bool = false;

/// What each key does, in the words lesson 0 gives them ("`s` (send), `r` (read), `a`
/// (re-arm), `c` (connect), `x` (close), `k` (knote table) and `q` (quit)") and lesson 5 (`t`
/// plays the tour's clients): the trace line that says it happened, and how many are needed.
fn press_and_see(tmux: &Tmux, key: &str) -> Result<(), String> {
    let count = |sight: &str| tmux.whole_screen().matches(sight).count();
    let sight = match key {
        "s" => "» send",
        "r" => "» read",
        "a" => "» rearm",
        "c" => "» connect",
        "x" => "» close",
        "t" => "» tour",
        "k" => "┌ knotes:",
        // `--step`: Space performs the next step of the tour, an action line.
        "Space" => " » ",
        "q" => {
            tmux.press("q");
            return wait(tmux, "`q` back at the prompt", |s| exit_status(s).is_some());
        }
        other => {
            return Err(format!(
                "the lesson names key `{other}`, which this test does not know"
            ))
        }
    };
    let before = count(sight);
    tmux.press(key);
    wait(tmux, &format!("`{key}`: one more `{sight}`"), |s| {
        s.matches(sight).count() > before
    })
}

/// Wait, with a deadline, until the whole scrollback satisfies `sight`.
fn wait(tmux: &Tmux, what: &str, mut sight: impl FnMut(&str) -> bool) -> Result<(), String> {
    let deadline = Instant::now() + crate::support::tmux::SCREEN_PATIENCE;
    loop {
        let whole = tmux.whole_screen();
        if sight(&whole) {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("never saw {what}:\n{}", tmux.visible()));
        }
        std::thread::sleep(LOOK_EVERY);
    }
}

/// After a failure: quit whatever runs (a pager, the interactive mode, a question), then
/// interrupt, until a fresh prompt answers.
fn recover(tmux: &Tmux) {
    for key in ["q", "Enter", "C-c", "q", "C-c"] {
        tmux.press(key);
    }
    tmux.fresh_screen();
    tmux.run_line("true");
    let _ = wait(tmux, "a prompt after a failure", |s| {
        exit_status(s).is_some()
    });
}

/// `lab lesson N` opens the pager on the lesson's title; `q` gets back to the prompt, exit 0.
fn open_in_pager(tmux: &Tmux, command: &str, title: &str) -> Result<(), String> {
    tmux.fresh_screen();
    tmux.run_line(command);
    // The title as the pager shows it: the start of the heading's words.
    let start: String = title.chars().take(20).collect();
    let shown = wait(tmux, "the lesson in the pager", |_| {
        let rows = tmux.visible();
        rows.contains(&start) && is_pager_prompt(last_row(&rows))
    });
    if let Err(problem) = shown {
        recover(tmux);
        return Err(problem);
    }
    tmux.press("q");
    wait(tmux, "`q` back at the prompt", |s| exit_status(s).is_some())?;
    match exit_status(&tmux.whole_screen()) {
        Some(0) => Ok(()),
        other => Err(format!("ended with {other:?}")),
    }
}

/// The exit status the shell printed after the typed line (only the shell's own output is
/// the whole line `exit status N`; the typed line shows `$?`).
fn exit_status(screen: &str) -> Option<i32> {
    screen
        .lines()
        .find_map(|l| l.trim_end().strip_prefix("exit status ")?.parse().ok())
}

/// The lines after the typed command (the one with `exit status $?`), up to the exit status.
fn after_typed_line(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip_while(|l| !l.contains("exit status $?"))
        .skip(1)
        .take_while(|l| !l.starts_with("exit status "))
        .map(|l| l.trim_end().to_string())
        .collect()
}

fn last_row(rows: &str) -> &str {
    rows.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
}

/// The interactive footer is on the last row: its keys line ends with `q quit` or offers it.
fn footer_open(rows: &str) -> bool {
    let last = last_row(rows);
    last.contains("q quit") && rows.contains("── lab ")
}

/// `less`'s prompt on the last row: `:`, or `(END)` at the end of the text.
fn is_pager_prompt(last: &str) -> bool {
    let last = last.trim_end();
    last == ":" || last.ends_with("(END)")
}

/// Lines wider than the terminal. JSON lines are exempt (one record per line, by contract),
/// but each must be one whole record. Lesson 0 promises that "in a terminal, long notes wrap
/// to its width under their `✎`": every line the lab writes to a terminal (kevent headers,
/// change and event lines, the legend, the summary, knote tables, notes, the footer, `lab
/// replay`, `--predict`'s questions, `lab selftest`, `lab explain`, `lab bench`) must fit.
/// Only the kinds in [`MAY_OVERFLOW`] are left to someone else to lay out; they are reported
/// on stderr, not failed.
fn too_wide(screen: &[String], width: usize, typed: &str, overflow: &mut Overflow) -> Vec<String> {
    let mut problems = Vec::new();
    let mut counted = BTreeSet::new();
    for line in screen {
        if line.starts_with('{') {
            if serde_json::from_str::<serde_json::Value>(line).is_err() {
                problems.push(format!("a JSON line that is not one record: {line}"));
            }
            continue;
        }
        let columns = line.chars().count();
        if columns <= width {
            continue;
        }
        let kind = line_kind(line, typed);
        if MAY_OVERFLOW.contains(&kind) {
            let entry = overflow.kinds.entry(kind).or_default();
            if counted.insert(kind) {
                entry.0 += 1;
            }
            if columns > entry.1 {
                entry.1 = columns;
                entry.2 = line.clone();
                overflow.example_command.insert(kind, typed.to_string());
            }
            continue;
        }
        problems.push(format!("a {columns}-column {kind} line: {line}"));
    }
    // One example of each kind is enough to read; say how many there were.
    if problems.len() > 3 {
        let n = problems.len();
        problems.truncate(3);
        problems.push(format!("... {n} such lines in all"));
    }
    problems
}

/// The kinds of line the lab does not fit to the terminal's width: only output through a pipe
/// or a pager, which keeps one line per record (for grep and scripts) and is laid out by the
/// pager. Every other kind is held to the width (issue 11).
const MAY_OVERFLOW: [&str; 1] = ["piped"];

/// What kind of line of `typed`'s output `line` is.
fn line_kind(line: &str, typed: &str) -> &'static str {
    let trimmed = line.trim_start();
    if typed.contains('|') || typed.contains("--pager") {
        // Through a pipe or a pager, the pager lays out the lines, not the lab.
        return "piped";
    }
    if typed.starts_with("lab replay") {
        // `lab replay` wraps to the terminal as a live run does.
        return "replay";
    }
    if !is_traced(typed) {
        // --predict's questions and verdicts, `lab selftest`, `lab explain`, `lab bench`.
        return "non-trace output";
    }
    if line.starts_with('#') && line.contains("kevent(") {
        "kevent header"
    } else if trimmed.starts_with(['▸', '◂', '≈']) {
        "change or event"
    } else if trimmed.starts_with("legend:") {
        "legend"
    } else if trimmed.starts_with("━━ summary")
        || trimmed.starts_with("events by")
        || trimmed.starts_with("server:")
    {
        "summary"
    } else if trimmed.starts_with("Predict:")
        || (!trimmed.starts_with('✎') && !line.starts_with("   ") && !line.starts_with('━'))
    {
        // --predict's question and verdict, before and after the trace.
        "non-trace output"
    } else if trimmed.starts_with('✎') || line.starts_with("     ") {
        "note"
    } else {
        "trace"
    }
}

fn is_traced(typed: &str) -> bool {
    let words: Vec<&str> = typed.split_whitespace().collect();
    words.len() >= 2
        && words[0] == "lab"
        && TRACED.contains(&words[1])
        && !words.contains(&"--json")
        && !typed.contains('>')
        && !typed.contains('|')
}

// ---------------------------------------------------------------------------------------------
// What the screen must show: an excerpt's lines and its marker's claims.

/// The excerpt's lines (but `…` and the kevent headers, whose event counts and times depend on
/// the machine) appear on the screen, abstracted the same way; its claims hold for the screen.
fn check_excerpt(excerpt: &Excerpt, screen: &[String]) -> Vec<String> {
    let mut problems = Vec::new();
    let lines = unwrapped(screen);
    if cfg!(any(target_os = "linux", target_os = "android")) {
        // The excerpts are runs on Linux (the emulation): only there are the lines the same.
        let shown: BTreeSet<String> = lines.iter().map(|l| abstracted(l)).collect();
        for line in &excerpt.body {
            let line = line.trim();
            if line.is_empty() || line == "…" || line.starts_with('#') {
                continue;
            }
            if !shown.contains(&abstracted(line)) {
                problems.push(format!(
                    "the excerpt's line is not on the screen: {line}\n  (abstracted: {})",
                    abstracted(line)
                ));
            }
        }
        if !problems.is_empty() {
            problems.push(format!("the screen, unwrapped:\n{}", lines.join("\n")));
        }
    }
    for claim in &excerpt.claims {
        if let Err(why) = claim_holds(claim, &lines) {
            problems.push(format!("claim `{claim}` of the excerpt: {why}"));
        }
    }
    problems
}

/// The trace as it would be piped: a line the lab wrapped to the terminal's width joined back
/// into one line. A continuation row has a hanging indent of four columns or more (a note's
/// five, under its text; a change or event line's seven, under its fields; a kevent header's,
/// under its time; the legend's and the summary's, under themselves), while every record
/// starts within three columns, but the epoll twin (`     ≈`).
fn unwrapped(screen: &[String]) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for line in screen {
        let text = line.trim_start();
        let continues = line.len() - text.len() >= 4 && !text.is_empty() && !text.starts_with('≈');
        match lines.last_mut() {
            Some(previous) if continues => {
                previous.push(' ');
                previous.push_str(line.trim_start());
            }
            _ => lines.push(line.clone()),
        }
    }
    lines
}

/// A line with what differs from run to run abstracted: every number (a count, a time, a
/// port, a descriptor) becomes `#` (but a flags value `0x11` and numbers inside words such as
/// `conn1` or `B12` stay), the unit after a number goes, a plural after a number is singular,
/// whitespace is one space, and a list "events by knote: ..." is sorted.
fn abstracted(line: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = line.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let after_word = i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_');
        if c == '0' && chars.get(i + 1) == Some(&'x') && !after_word {
            // A flags value: kept as it is.
            while i < chars.len() && (chars[i].is_ascii_hexdigit() || chars[i] == 'x') {
                out.push(chars[i]);
                i += 1;
            }
            continue;
        }
        if c.is_ascii_digit() && !after_word {
            while i < chars.len()
                && (chars[i].is_ascii_digit()
                    || (matches!(chars[i], ',' | '.' | ':')
                        && chars.get(i + 1).is_some_and(char::is_ascii_digit)))
            {
                i += 1;
            }
            out.push('#');
            continue;
        }
        out.push(c);
        i += 1;
    }
    let words: Vec<&str> = out.split_whitespace().collect();
    let mut kept: Vec<String> = Vec::new();
    for (i, word) in words.iter().enumerate() {
        let after_number = i > 0 && words[i - 1].ends_with('#');
        let unit = ["µs", "ms", "s", "s,", "s)", "ms,", "ms)", "µs,", "µs)"];
        if after_number && unit.contains(word) {
            kept.push(word.trim_start_matches(['µ', 'm', 's']).to_string());
            continue;
        }
        if after_number && word.len() > 3 && word.ends_with('s') {
            kept.push(word[..word.len() - 1].to_string());
            continue;
        }
        kept.push(word.to_string());
    }
    let line = kept.join(" ");
    match line.split_once("events by knote: ") {
        Some((head, list)) => {
            let mut items: Vec<&str> = list.split(", ").collect();
            items.sort();
            format!("{head}events by knote: {}", items.join(", "))
        }
        None => line,
    }
}

/// A number as the trace writes it (`1,500`) read back.
fn number(text: &str) -> Option<u64> {
    let digits: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == ',')
        .filter(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn compare(actual: u64, op: &str, expected: u64) -> bool {
    match op {
        "=" => actual == expected,
        ">=" => actual >= expected,
        "<=" => actual <= expected,
        _ => false,
    }
}

/// One claim of an excerpt marker (the convention of `excerpts.rs`), checked against the text
/// on the screen instead of the JSON trace.
fn claim_holds(claim: &str, lines: &[String]) -> Result<(), String> {
    let text = lines.join("\n");
    let words: Vec<&str> = claim.split_whitespace().collect();
    // `conn1 READ >= 2` → (`>=`, 2).
    let counted = || -> Option<(String, u64)> {
        [">=", "<=", "="].iter().find_map(|op| {
            let (_, n) = claim.split_once(op)?;
            Some((op.to_string(), n.trim().parse().ok()?))
        })
    };
    match words.as_slice() {
        ["flag", name] => lines
            .iter()
            .any(|l| {
                l.split("flags=0x").skip(1).any(|rest| {
                    rest.split_once('<')
                        .and_then(|(_, names)| names.split_once('>'))
                        .is_some_and(|(names, _)| names.split('|').any(|n| n == *name))
                })
            })
            .then_some(())
            .ok_or(format!("no change or event shows flags <{name}>")),
        ["state", label, filter, state] => lines
            .iter()
            .filter(|l| l.trim_start().starts_with(['│', '└', '┌']))
            .any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.windows(2).any(|w| w == [*label, *filter]) && cells.contains(state)
            })
            .then_some(())
            .ok_or(format!("no knote table row shows {label} {filter} {state}")),
        ["closed", reason] => text
            .contains(&format!("closed ({reason})"))
            .then_some(())
            .ok_or(format!("no client `closed ({reason})`")),
        ["timeout_ms", n] => {
            let n: u64 = n.parse().map_err(|_| "a bad number".to_string())?;
            lines
                .iter()
                .filter(|l| l.starts_with('#'))
                .any(|l| {
                    l.split("timeout ")
                        .skip(1)
                        .any(|rest| number(rest) == Some(n) && rest.contains(" ms"))
                })
                .then_some(())
                .ok_or(format!("no kevent call shows `timeout {n} ms`"))
        }
        [first, ..] if first.starts_with("errors") => {
            let (op, n) = counted().ok_or("cannot read the claim")?;
            let errno = words.get(1).filter(|w| w.starts_with('E'));
            let shown = lines
                .iter()
                .filter(|l| {
                    let l = l.trim_start();
                    l.starts_with('◂')
                        && l.contains("ERROR>")
                        && errno.is_none_or(|e| l.contains(&format!("error {e}")))
                })
                .count() as u64;
            compare(shown, &op, n)
                .then_some(())
                .ok_or(format!("the screen shows {shown} such EV_ERROR entries"))
        }
        _ => {
            let (op, n) = counted().ok_or("cannot read the claim")?;
            let name = claim
                .split(['=', '<', '>'])
                .next()
                .unwrap_or_default()
                .trim();
            let summary = lines
                .iter()
                .find(|l| l.starts_with("━━ summary:"))
                .ok_or("no summary line")?;
            let actual = match name {
                "kevent_calls" => number(summary.trim_start_matches("━━ summary: ")),
                "changes" | "events" => summary
                    .split(", ")
                    .find(|part| part.ends_with(name))
                    .and_then(|part| number(part.rsplit(' ').nth(1)?)),
                "messages" => find_after_number(lines, " messages echoed"),
                "listener_disabled" => lines
                    .iter()
                    .find_map(|l| l.split("listener disabled ").nth(1).and_then(number)),
                label => {
                    // `conn1 READ`: its count in "events by knote" (or "by epoll item"); a
                    // knote absent from the list counted 0.
                    let by = lines
                        .iter()
                        .find(|l| {
                            l.contains("events by knote:") || l.contains("events by epoll item:")
                        })
                        .ok_or("no `events by knote` line")?;
                    Some(
                        by.split(&format!("{label} ×"))
                            .nth(1)
                            .and_then(number)
                            .unwrap_or(0),
                    )
                }
            };
            let actual = actual.ok_or(format!("the screen does not show {name}"))?;
            compare(actual, &op, n)
                .then_some(())
                .ok_or(format!("the screen shows {name} = {actual}"))
        }
    }
}

/// The number just before `words` on some line (`20 messages echoed` → 20).
fn find_after_number(lines: &[String], words: &str) -> Option<u64> {
    lines.iter().find_map(|l| {
        let (head, _) = l.split_once(words)?;
        number(head.rsplit([' ', ':']).next()?)
    })
}

// ---------------------------------------------------------------------------------------------
// Reading the lessons.

/// Every lesson, read as an attendee reads it.
fn lessons() -> Vec<Lesson> {
    let files = lesson_files();
    let titles: Vec<(String, String)> = files
        .iter()
        .map(|(file, md)| {
            let number = file.split('-').next().unwrap_or_default();
            let number = number.trim_start_matches('0');
            let number = if number.is_empty() { "0" } else { number };
            let title = md.lines().next().unwrap_or_default();
            (
                number.to_string(),
                title.trim_start_matches('#').trim().to_string(),
            )
        })
        .collect();
    files
        .iter()
        .map(|(file, md)| {
            let next = md.lines().rev().find_map(|l| {
                let rest = l.split("**Next:**").nth(1)?;
                let command = rest.split('`').nth(1)?;
                let n = command.strip_prefix("lab lesson ")?;
                let title = titles.iter().find(|(number, _)| number == n)?.1.clone();
                Some((command.to_string(), title))
            });
            Lesson {
                file: file.clone(),
                commands: commands(md),
                next,
            }
        })
        .collect()
}

/// A command that, by the CLI contract, opens the interactive mode when stdin and stdout are
/// terminals: a stage or the server with neither a script, a tour, a prediction, JSON, a pager
/// nor a pipe or redirection.
fn interactive_by_contract(command: &str) -> bool {
    let words: Vec<&str> = command.split_whitespace().collect();
    words.len() >= 2
        && words[0] == "lab"
        && TRACED.contains(&words[1])
        && ![
            "--script",
            "--tour",
            "--step",
            "--predict",
            "--json",
            "--pager",
        ]
        .iter()
        .any(|o| words.contains(o))
        && !command.contains('|')
        && !command.contains('>')
}

/// The commands of one lesson: the `lab` lines of its `sh` blocks, with the keys and the
/// "interactive" of the paragraph right after each block; then the commands a sentence of the
/// prose tells the attendee to try with keys ("run `lab flood --port 0` and press `s` ...").
fn commands(markdown: &str) -> Vec<Typed> {
    let excerpts = excerpts(markdown);
    let mut typed: Vec<Typed> = Vec::new();
    let mut in_fence: Option<String> = None;
    let mut block: Vec<String> = Vec::new();
    let mut paragraph: Vec<String> = Vec::new();
    // The commands of the last `sh` block, waiting for the paragraph after it.
    let mut waiting: Vec<usize> = Vec::new();
    let mut prose_sentences: Vec<String> = Vec::new();
    let flush = |paragraph: &mut Vec<String>,
                 waiting: &mut Vec<usize>,
                 typed: &mut Vec<Typed>,
                 prose: &mut Vec<String>| {
        if paragraph.is_empty() {
            return;
        }
        let text = paragraph.join(" ");
        paragraph.clear();
        for sentence in sentences(&text) {
            let names_keys = sentence.contains("interactive") || sentence.contains("press");
            if names_keys && !waiting.is_empty() {
                for &i in waiting.iter() {
                    if interactive_by_contract(&typed[i].written) {
                        typed[i].said_interactive = true;
                        typed[i].keys = keys_in(&sentence);
                    }
                }
            }
            prose.push(sentence);
        }
        waiting.clear();
    };
    for line in markdown.lines() {
        let trimmed = line.trim();
        if let Some(info) = trimmed.strip_prefix("```") {
            match in_fence.take() {
                None => {
                    flush(
                        &mut paragraph,
                        &mut waiting,
                        &mut typed,
                        &mut prose_sentences,
                    );
                    in_fence = Some(info.trim().to_string());
                    block.clear();
                }
                Some(info) => {
                    if info == "sh" {
                        waiting.clear();
                        for command in block.iter().filter(|l| l.starts_with("lab ")) {
                            waiting.push(typed.len());
                            typed.push(Typed {
                                written: command.clone(),
                                keys: Vec::new(),
                                said_interactive: false,
                                excerpt: excerpt_of(&excerpts, command),
                            });
                        }
                    }
                }
            }
            continue;
        }
        if in_fence.is_some() {
            block.push(trimmed.to_string());
        } else if trimmed.is_empty() || trimmed.starts_with('#') {
            flush(
                &mut paragraph,
                &mut waiting,
                &mut typed,
                &mut prose_sentences,
            );
            if trimmed.starts_with('#') {
                waiting.clear();
            }
        } else {
            paragraph.push(trimmed.to_string());
        }
    }
    flush(
        &mut paragraph,
        &mut waiting,
        &mut typed,
        &mut prose_sentences,
    );

    // "run `lab flood --port 0` and press `s` to send ..., `r` to read, `q` to quit"; "`lab
    // server --port 0` starts in interactive mode, on purpose: `c`, `s`, `x` and `k` ...".
    for sentence in prose_sentences.iter().filter(|s| {
        s.contains("press")
            || s.contains("interactive")
            || s.contains("--step`")
            || s.contains("--pager`")
    }) {
        for (at, span) in spans(sentence) {
            let command = with_port_zero(span);
            let step = command.split_whitespace().any(|w| w == "--step");
            // "`lab server --port 0 --pager` (`q` leaves the pager)": a run through the pager.
            let paged = command.split_whitespace().any(|w| w == "--pager");
            if !(interactive_by_contract(&command) || step || paged)
                || typed.iter().any(|t| t.written == command)
            {
                continue;
            }
            let mut keys = if paged {
                Vec::new()
            } else {
                keys_in(&sentence[at..])
            };
            if step {
                // "waits for Space (or Enter) before doing it": one step, then the keys named.
                keys.insert(0, "Space".to_string());
            }
            typed.push(Typed {
                written: command,
                keys,
                said_interactive: !step && !paged,
                excerpt: None,
            });
        }
    }
    typed
}

/// The sentences of a paragraph (a full stop followed by a space ends one).
fn sentences(text: &str) -> Vec<String> {
    text.split(". ").map(str::to_string).collect()
}

/// The backquoted `lab ...` commands of a sentence, with the byte offset after each.
fn spans(sentence: &str) -> Vec<(usize, &str)> {
    let mut found = Vec::new();
    let mut at = 0;
    for (i, part) in sentence.split('`').enumerate() {
        let end = at + part.len();
        if i % 2 == 1 && part.starts_with("lab ") {
            found.push((end + 1, part));
        }
        at = end + 1;
    }
    found
}

/// The keys a sentence names: its backquoted single characters, in order; "`s` twice" is two.
/// A remark in brackets ("(a note says so; after `c`, ...)") names no key to press.
fn keys_in(sentence: &str) -> Vec<String> {
    let mut depth = 0;
    let outside: String = sentence
        .chars()
        .filter(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth = (depth - 1).max(0),
                _ => return depth == 0,
            }
            false
        })
        .collect();
    let parts: Vec<&str> = outside.split('`').collect();
    let mut keys = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        if i % 2 == 1 && part.chars().count() == 1 {
            keys.push(part.to_string());
            let after = parts.get(i + 1).copied().unwrap_or_default();
            if after.trim_start().starts_with("twice") {
                keys.push(part.to_string());
            }
        }
    }
    keys
}

/// The excerpts of a lesson: marker and block.
fn excerpts(markdown: &str) -> Vec<Excerpt> {
    fences(markdown)
        .into_iter()
        .filter_map(|fence| {
            let marker = fence
                .preceding
                .iter()
                .rev()
                .find_map(|l| l.trim().strip_prefix("<!-- excerpt:"))?;
            let marker = marker.trim().trim_end_matches("-->").trim();
            let (command, claims) = marker.split_once("=>")?;
            Some(Excerpt {
                command: command.trim().to_string(),
                claims: claims
                    .split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty())
                    .collect(),
                body: fence.lines,
            })
        })
        .collect()
}

/// The excerpt of the same run as `command`: the same command once the port, `--tour`,
/// `--step` and `--predict` are left out (none changes what runs), and a `--script` equal to
/// the stage's default tour (as the CLI contract's table writes it) is the tour itself.
fn excerpt_of(excerpts: &[Excerpt], command: &str) -> Option<Excerpt> {
    let run = same_run(command)?;
    excerpts
        .iter()
        .find(|e| same_run(&e.command).as_ref() == Some(&run))
        .cloned()
}

/// A command reduced to what decides its run (see [`excerpt_of`]); `None` for a pipe or a
/// redirection.
fn same_run(command: &str) -> Option<Vec<String>> {
    if command.contains('|') || command.contains('>') {
        return None;
    }
    let (head, script) = match command.split_once("--script '") {
        Some((head, rest)) => (head.to_string(), rest.split_once('\'').map(|(s, _)| s)),
        None => (command.to_string(), None),
    };
    let words: Vec<&str> = head.split_whitespace().collect();
    let mut kept = Vec::new();
    let mut skip_value = false;
    for word in &words {
        if skip_value {
            skip_value = false;
            continue;
        }
        match *word {
            "--port" => skip_value = true,
            "--tour" | "--step" | "--predict" => {}
            _ => kept.push(word.to_string()),
        }
    }
    if let Some(script) = script {
        let stage = words.get(1)?;
        if default_tour(stage).as_deref() != Some(script) {
            kept.push(format!("--script {script}"));
        }
    }
    Some(kept)
}

/// The default tour of a stage, from the CLI contract's table (docs/cli-contract.md).
fn default_tour(stage: &str) -> Option<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli-contract.md");
    let contract = std::fs::read_to_string(path).expect("docs/cli-contract.md");
    contract.lines().find_map(|l| {
        // `| `lab oneshot` | EV_ADD\|EV_ONESHOT; ... | `send hello; ...` |`: the first and the
        // last quoted spans of the row.
        let spans: Vec<&str> = l.split('`').skip(1).step_by(2).collect();
        let (name, tour) = (spans.first()?, spans.last()?);
        (l.starts_with('|') && *name == format!("lab {stage}")).then(|| tour.to_string())
    })
}
