//! A pager for long output, the way git does it: when stdout is a terminal and the text is taller
//! than the screen, the text goes through `$PAGER` (default `less -R`), with `LESS=FRX` unless the
//! person set `LESS` themselves:
//!
//! - `R` lets the colour codes through (the lessons' red and green stay red and green);
//! - `F` quits at once when the text fits on one screen after all;
//! - `X` leaves the text on the screen after `q`, so the shell comes back below it.
//!
//! No pager found (or `PAGER=cat`, or an empty `PAGER`): the text is printed as it is. A pager
//! quit early (`q` on the first page) is success, not a broken pipe.
//!
//! [`show`] pages a finished text (`lab lesson N`); [`Pager::start`] gives a writer for output
//! that is produced as it goes (a trace).

use std::io::{self, Write};
use std::process::{Child, ChildStdin, Command, Stdio};

/// Whether output may go through a pager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// When stdout is a terminal and the text is taller than it (the default).
    Auto,
    /// Never (`--no-pager`).
    Never,
}

/// A running pager: write the text into it, then [`finish`](Pager::finish).
pub struct Pager {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Pager {
    /// Start the pager, or `None` when there is none to start (no `less`, `PAGER=cat`). Only
    /// call it when stdout is a terminal: a pager writing to a pipe is of no use to anyone.
    pub fn start() -> Option<Pager> {
        let command = pager_command()?;
        // Ctrl-C in the pager reaches lab too (one process group). Left at its default, it
        // would end lab while the pager still holds the terminal, and the shell's prompt would
        // land in the middle of the page; git ignores it while its pager runs. Catching it
        // (a flag and a pipe, `term::catch_interrupts`) does the same, and the pager, after
        // exec, gets the default disposition back and handles Ctrl-C its own way.
        let _ = crate::term::catch_interrupts();
        // `sh -c`, as git does: `PAGER` may carry options (`less -S`, `most -s`).
        let mut sh = Command::new("sh");
        sh.arg("-c").arg(&command).stdin(Stdio::piped());
        if std::env::var_os("LESS").is_none() {
            sh.env("LESS", "FRX");
        }
        if std::env::var_os("LV").is_none() {
            // lv, a pager some systems use for PAGER: -c lets the colour codes through.
            sh.env("LV", "-c");
        }
        let mut child = sh.spawn().ok()?;
        let stdin = child.stdin.take();
        Some(Pager { child, stdin })
    }

    /// Close the pager's input and wait until the person quits it.
    pub fn finish(mut self) -> io::Result<()> {
        drop(self.stdin.take());
        self.child.wait().map(|_| ())
    }
}

impl Write for Pager {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.stdin {
            Some(stdin) => stdin.write(buf),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.stdin {
            Some(stdin) => stdin.flush(),
            None => Ok(()),
        }
    }
}

/// The pager to run: `$PAGER` when set (empty or `cat`: none), otherwise `less -R` if it is
/// on the PATH.
fn pager_command() -> Option<String> {
    match std::env::var("PAGER") {
        Ok(pager) => {
            let pager = pager.trim().to_string();
            (!pager.is_empty() && pager != "cat").then_some(pager)
        }
        Err(_) => on_path("less").then(|| "less -R".to_string()),
    }
}

/// Whether a program of this name is on the PATH.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

/// Whether `text` should be paged: paging allowed, stdout a terminal, and more lines than rows.
pub fn wanted(text: &str, paging: Paging) -> bool {
    if paging == Paging::Never || !crate::term::stdout_is_terminal() {
        return false;
    }
    match crossterm::terminal::size() {
        Ok((_, rows)) => text.lines().count() >= usize::from(rows),
        Err(_) => false,
    }
}

/// Print `text` on stdout, through the pager when [`wanted`]. A closed pipe or a pager quit
/// early is success (STYLE.md habit 6).
pub fn show(text: &str, paging: Paging) -> io::Result<()> {
    if wanted(text, paging) {
        if let Some(mut pager) = Pager::start() {
            let written = pager.write_all(text.as_bytes());
            let finished = pager.finish();
            return match written.and(finished) {
                Err(err) if err.kind() != io::ErrorKind::BrokenPipe => Err(err),
                _ => Ok(()),
            };
        }
    }
    let mut stdout = io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(err) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}
