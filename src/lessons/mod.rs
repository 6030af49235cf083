//! The workshop: the lessons of `lessons/` embedded in the binary, rendered in the terminal,
//! with a progress file and predict-then-run checkpoints.
//!
//! - [`catalog`]: the lessons, their numbers and names (`include_str!`);
//! - [`render`]: Markdown → terminal text (headings, code, emphasis, wrapping, hidden answers);
//! - [`progress`]: the plain progress file under the user's state directory;
//! - [`predict`]: `lab <stage> --predict`, the question before the run and the verdict after.
//!
//! The command line (`main.rs`) calls [`run_finished`] after a stage or server run (with
//! [`server_lesson`] naming the server's lesson): the lesson is done when its own tour, played by
//! itself or under `--predict`, reached its end. A `--script`, the keys, `--external` or Ctrl-C
//! do not mark it: lesson 0's first command is a script, and must not tick lesson 1.
//! The stages and the server know nothing of the lessons.
//!
//! # Writing a lesson
//!
//! The files are plain Markdown that reads well on the repository's web page too. Three
//! conventions carry meaning, and the tests in `tests/lessons/` hold the lessons to them:
//!
//! - **Commands** an attendee types go in ` ```sh ` blocks, one `lab ...` a line; every one is
//!   run by a test (port rewritten to 0, stdin not a terminal) and must exit 0 by itself.
//!   Commands that need a second terminal or real clients are written in prose instead.
//! - **Answers** go in `<details><summary>Answer</summary> … </details>`: folded on the web page,
//!   hidden in the terminal unless `lab lesson N --answers`.
//! - **Trace excerpts** are ` ```text ` blocks from real runs, each preceded by a marker comment
//!   naming the command and what the lesson claims about it, which a test checks against a new
//!   run: `<!-- excerpt: lab oneshot => conn1 READ = 2; flag ONESHOT -->` (the claim language is
//!   documented in `tests/lessons/excerpts.rs`).

pub mod catalog;
pub mod predict;
pub mod progress;
pub mod render;

use std::io::Write;

use colored::Colorize;

/// `lab lessons [--reset]`: the list, with ✓ for the finished ones and the next step. `color`:
/// whether the ✓ may be green.
pub fn list(reset: bool, color: bool) -> crate::Result<()> {
    let mut out = String::new();
    if reset {
        progress::reset()?;
        out.push_str("Progress cleared: every lesson is to do again.\n\n");
    }
    let done = progress::done();
    let finished = catalog::LESSONS
        .iter()
        .filter(|l| done.iter().any(|d| d == l.name))
        .count();
    out.push_str(&format!(
        "kqueue-lab workshop: {finished} of {} lessons done\n\n",
        catalog::LESSONS.len()
    ));

    colored::control::set_override(color);
    for lesson in &catalog::LESSONS {
        let done = done.iter().any(|d| d == lesson.name);
        let mark = if done {
            "✓".green().to_string()
        } else {
            " ".to_string()
        };
        out.push_str(&format!(
            " {mark} {:>2}  {:<12} {}\n",
            lesson.number,
            lesson.name,
            lesson.short_title(),
        ));
    }
    out.push('\n');
    match catalog::LESSONS
        .iter()
        .find(|l| !done.iter().any(|d| d == l.name))
    {
        Some(next) if next.done_by.starts_with("lab lesson") => out.push_str(&format!(
            "next: lab lesson {} ({}); it is marked done once you have read it\n",
            next.number, next.name
        )),
        Some(next) if next.name == "check" => out.push_str(&format!(
            "next: lab lesson {} ({}); it is marked done when `{}` passes every check\n",
            next.number, next.name, next.done_by
        )),
        Some(next) => out.push_str(&format!(
            "next: lab lesson {} ({}); it is marked done when its tour runs to the end: \
             `{} --tour`, or `{} --predict`\n",
            next.number, next.name, next.done_by, next.done_by
        )),
        None => out.push_str("All done. `lab lessons --reset` starts again.\n"),
    }
    if let Some(path) = progress::file() {
        out.push_str(&format!("progress file: {}\n", path.display()));
    }
    print_out(&out)
}

/// What `lab lesson` shows.
#[derive(Clone, Debug)]
pub struct ShowOptions {
    /// A lesson number (as `lab lessons` lists it) or name.
    pub lesson: String,
    /// Show the answers to the check-yourself questions.
    pub answers: bool,
    /// Colour and styling.
    pub color: bool,
    /// Through a pager when the lesson is taller than the terminal (`--no-pager`: never).
    pub paging: crate::pager::Paging,
}

/// `lab lesson N|NAME [--answers]`: one lesson, rendered for the terminal.
pub fn show(opts: &ShowOptions) -> crate::Result<()> {
    let lesson = catalog::find(&opts.lesson).ok_or_else(|| {
        crate::Error::usage(format!(
            "unknown lesson '{}'; valid lessons: {}",
            opts.lesson,
            catalog::valid_names()
        ))
    })?;
    // `colored` decides for the whole process: the lesson command's --color is that decision.
    colored::control::set_override(opts.color);
    let paging = opts.paging;
    let opts = render::Options {
        width: terminal_width(crate::term::stdout_is_terminal()),
        color: opts.color,
        answers: opts.answers,
        number: lesson.number,
    };
    let mut text = render::render(lesson.text, &opts);
    text.push('\n');
    let position = format!("lesson {} of {}", lesson.number, catalog::LESSONS.len() - 1);
    match catalog::LESSONS.get(lesson.number + 1) {
        Some(next) => text.push_str(&format!(
            "── {position} · next: lab lesson {} ({}) ──\n",
            next.number, next.name
        )),
        None => text.push_str(&format!("── {position} · the last one ──\n")),
    }
    crate::pager::show(&text, paging)
        .map_err(|err| crate::error::io_context("cannot write the lesson", err))?;
    // Lessons without a command of their own are done once read.
    if lesson.done_by.starts_with("lab lesson") {
        stage_finished(lesson.name);
    }
    Ok(())
}

/// How a stage or server run was driven, as far as progress cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Drive {
    /// A `--script` ran (a lesson's exploration, or lesson 0's first look): not the tour.
    pub script: bool,
    /// `--external`: real clients, not the tour's.
    pub external: bool,
    /// The keys drove it (a terminal on both ends, no script, no `--tour`).
    pub interactive: bool,
    /// The run reached its last action: not stopped by `q` or Ctrl-C as keys (`--step`). A
    /// Ctrl-C that is a signal is checked apart, by [`run_finished`].
    pub reached_end: bool,
}

impl Drive {
    /// The lesson's own tour: the default tour, played by itself (piped, `--tour`, `--step` or
    /// `--predict`).
    pub fn is_tour(self) -> bool {
        !self.script && !self.external && !self.interactive
    }

    /// The same run, once it is known whether it reached its end.
    pub fn ended(self, reached_end: bool) -> Drive {
        Drive {
            reached_end,
            ..self
        }
    }
}

/// After a stage or server run returned: mark its lesson done when the run was the lesson's own
/// tour and it reached its end. A run stopped with Ctrl-C (or SIGTERM) returns normally with its
/// summary, so the signal flag is what tells the two apart (and, under `--step`, where Ctrl-C
/// and `q` are keys, `reached_end`); a run that failed never gets here.
pub fn run_finished(name: &str, drive: Drive) {
    if drive.is_tour() && drive.reached_end && !crate::term::interrupted() {
        stage_finished(name);
    }
}

/// Mark a lesson as done. `name` is the lesson's name: `flood`, `oneshot`, `dispatch`, `clear`,
/// `server`, `bug-hunt`, `epoll`, `check`.
///
/// Progress must never turn a good run into a failure, so a write error is only a warning.
pub fn stage_finished(name: &str) {
    if catalog::for_command(name).is_none() {
        return;
    }
    if let Err(err) = progress::mark_done(name) {
        eprintln!("lab: warning: progress not saved: {err}");
    }
}

/// The lesson a `lab server` run to its end completes: the bug hunt with `--as-published`, the
/// epoll lesson with `--backend epoll`, otherwise the server lesson.
pub fn server_lesson(as_published: bool, epoll: bool) -> &'static str {
    if as_published {
        "bug-hunt"
    } else if epoll {
        "epoll"
    } else {
        "server"
    }
}

/// Wrap to the terminal, within reason; 80 columns when piped.
fn terminal_width(is_terminal: bool) -> usize {
    if is_terminal {
        if let Ok((columns, _)) = crossterm::terminal::size() {
            return usize::from(columns).clamp(40, 100);
        }
    }
    80
}

/// Write to stdout; a closed pipe (`lab lesson 1 | head`) is success (STYLE.md habit 6).
fn print_out(text: &str) -> crate::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(crate::error::io_context("cannot write the lesson", err)),
    }
}
