//! `lab replay FILE`: redraw a saved `--json` trace as the annotated text, so that a facilitator
//! can show a macOS trace (native kqueue) to a Linux room, or the other way round.
//!
//! The file (or standard input, `-`) is read record by record by the JSON trace's own reader
//! ([`TraceReader`], beside its writer), so a trace of any length replays in constant memory.
//! Each record goes to the same [`TextRenderer`] a live run uses, and change-free kevent calls
//! through the same [`Collapse`] a live run uses, so a collapsed flood shows the live run's
//! count and rate.

use std::io::{self, BufRead, Write};
use std::path::Path;

use crate::term::ColorMode;
use crate::trace::json::TraceReader;
use crate::trace::text::TextRenderer;
use crate::trace::{Collapse, Entry, Offer, Record};

pub use crate::trace::json::{parse_entry, parse_trace};

/// `lab replay FILE` (`-`: standard input). With `pager` and a terminal, the text goes
/// through the pager (`crate::pager`), coloured as it would be on the terminal.
pub fn run(path: &Path, color: ColorMode, pager: bool) -> crate::Result<()> {
    let input: Box<dyn BufRead> = if path.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        let file = std::fs::File::open(path).map_err(|err| {
            crate::Error::runtime(format!(
                "cannot read {}: {err}; give a file written by `lab <stage> --json > FILE`",
                path.display()
            ))
        })?;
        Box::new(io::BufReader::new(file))
    };
    let name = if path.as_os_str() == "-" {
        "standard input".to_string()
    } else {
        path.display().to_string()
    };
    let color = crate::term::use_color(color);
    let pager = if pager && crate::term::stdout_is_terminal() {
        crate::pager::Pager::start()
    } else {
        None
    };
    let out: Box<dyn Write> = match pager {
        Some(pager) => Box::new(pager),
        None => Box::new(io::stdout().lock()),
    };
    // In a terminal (or its pager) the notes and lines wrap to its width, as in a live run;
    // piped, one line per record.
    let width = crate::term::screen::terminal_width();
    let mut out = io::BufWriter::new(out);
    let outcome =
        replay(input, &mut out, color, width).and_then(|()| out.flush().map_err(Failure::Write));
    // Dropping the pager waits until the person quits it: the shell comes back below the page.
    drop(out);
    match outcome {
        Ok(()) => Ok(()),
        Err(Failure::Read(err)) => Err(crate::Error::runtime(format!("{name}: {err}"))),
        // `lab replay f | head` is success (STYLE.md habit 6).
        Err(Failure::Write(err)) if err.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(Failure::Write(err)) => Err(crate::error::io_context("cannot write the trace", err)),
    }
}

/// Why a replay stopped.
#[derive(Debug)]
pub enum Failure {
    /// The trace is not one `lab` wrote (the line is named).
    Read(String),
    Write(io::Error),
}

/// Render the trace read from `input` as text on `out`, record by record, wrapped to `width`
/// columns when it is known (a terminal).
pub fn replay(
    input: impl BufRead,
    out: &mut impl Write,
    color: bool,
    width: Option<usize>,
) -> Result<(), Failure> {
    let mut renderer = TextRenderer::new(color, true);
    renderer.set_width(width);
    let mut collapse = Collapse::default();
    let mut any = false;
    for entry in TraceReader::new(input) {
        let entry = entry.map_err(Failure::Read)?;
        any = true;
        let mut lines = Vec::new();
        match &entry.record {
            Record::Kevent(call) if call.changes.is_empty() => {
                // A record of a result the run has shown is its repeats: counted, not drawn.
                if let Offer::Show { ended } = collapse.offer(entry.t, call) {
                    if let Some(run) = ended {
                        lines.push(renderer.repeat_line(&run, width));
                    }
                    let mut first = call.clone();
                    first.repeat = 1;
                    lines.extend(renderer.render(&Entry {
                        t: entry.t,
                        record: Record::Kevent(first),
                    }));
                }
            }
            _ => {
                if let Some(run) = collapse.end() {
                    lines.push(renderer.repeat_line(&run, width));
                }
                lines.extend(renderer.render(&entry));
            }
        }
        for line in lines {
            writeln!(out, "{line}").map_err(Failure::Write)?;
        }
    }
    if let Some(run) = collapse.end() {
        writeln!(out, "{}", renderer.repeat_line(&run, width)).map_err(Failure::Write)?;
    }
    if !any {
        return Err(Failure::Read(
            "no trace records; give a file written by `lab <stage> --json`".to_string(),
        ));
    }
    Ok(())
}
