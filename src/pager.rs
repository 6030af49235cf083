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
//! that is produced as it goes (a trace, `--pager`): `term::sink_for` puts it behind the
//! trace's bounded queue (`trace::sink_output`), so a pager that waits for the person to scroll
//! never holds up the event loop.
//!
//! A run that pages its trace waits for the pager at the end (dropping the [`Pager`] waits), so
//! the shell's prompt comes back below the page, never in the middle of it. And a pager quit
//! before its input ended (`q` while the run still goes on) counts as Ctrl-C
//! ([`crate::term::interrupt`]): it wakes the run's event loop, which ends the run (an
//! `--external` run, idle until a client comes, would otherwise keep the shell waiting with
//! nothing on the screen), and a tour cut short that way does not mark its lesson done.

use std::io::{self, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Whether output may go through a pager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Paging {
    /// When stdout is a terminal and the text is taller than it (the default).
    Auto,
    /// Never (`--no-pager`).
    Never,
}

/// A running pager: write the text into it, then [`finish`](Pager::finish) (or drop it): both
/// close its input and wait until the person quits it.
pub struct Pager {
    stdin: Option<ChildStdin>,
    /// Set when the input is closed: a pager that exits before is a pager quit early.
    input_done: Arc<AtomicBool>,
    /// Waits for the pager to exit; quit early, it interrupts the run (see the module comment).
    waiter: Option<JoinHandle<()>>,
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
        let input_done = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&input_done);
        let waiter = std::thread::spawn(move || {
            let _ = child.wait();
            if !done.load(Ordering::SeqCst) {
                crate::term::interrupt();
            }
        });
        Some(Pager {
            stdin,
            input_done,
            waiter: Some(waiter),
        })
    }

    /// Close the pager's input and wait until the person quits it.
    pub fn finish(mut self) -> io::Result<()> {
        self.close_and_wait();
        Ok(())
    }

    fn close_and_wait(&mut self) {
        // End of input: `less` shows `(END)` and waits for `q`.
        self.input_done.store(true, Ordering::SeqCst);
        drop(self.stdin.take());
        if let Some(waiter) = self.waiter.take() {
            let _ = waiter.join();
        }
    }
}

impl Drop for Pager {
    /// However the output ends (its end, an error, a panic unwinding), lab does not exit while
    /// the pager still holds the terminal.
    fn drop(&mut self) {
        self.close_and_wait();
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
