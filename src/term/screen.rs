//! The live screen: the annotated text trace on a terminal (or any writer), with a collapsed
//! flood's count updated in place and, in interactive mode, the key footer kept under the trace.
//! What the lines say is the renderer's business (`trace::text`); this is where they go.

use std::io::{self, Write};

use crate::trace::sink_output::{self, Backlog};
use crate::trace::text::TextRenderer;
use crate::trace::{Entry, Run, Sink};

/// The text sink: renders to a writer (stdout), keeps a live count for a collapsed flood, and
/// in interactive mode keeps the key footer visible under the trace.
///
/// How the footer stays visible without a full-screen UI: the cursor always rests at the start
/// of the footer. Writing clears from there to the end of the screen, prints the new lines, then
/// prints the footer again and moves back up to its first line. When the screen is full the
/// terminal scrolls the trace up and the footer stays at the bottom.
pub struct TextSink {
    out: Box<dyn Write + Send>,
    renderer: TextRenderer,
    /// stdout is a terminal: the live count is updated in place.
    live: bool,
    /// Interactive: raw mode (`\r\n` line ends) and this footer.
    footer: Option<String>,
    /// A collapsed run's live count line is the last line on screen (to be rewritten).
    count_line_shown: bool,
    /// stdout is a pipe behind a bounded queue: the records it dropped (`trace::sink_output`).
    backlog: Option<Backlog>,
}

impl TextSink {
    /// Text on stdout. `color` has been decided already (`term::use_color`).
    pub fn stdout(color: bool, show_os_calls: bool) -> TextSink {
        let live = crate::term::stdout_is_terminal();
        // On a pipe, behind a bounded queue so the run never waits for its reader (`| less`).
        let (out, backlog) = sink_output::stdout();
        TextSink {
            backlog,
            ..TextSink::new(out, color, show_os_calls, live)
        }
    }

    /// Text on any writer; `live` asks for in-place updates (only for a terminal).
    pub fn new(
        out: Box<dyn Write + Send>,
        color: bool,
        show_os_calls: bool,
        live: bool,
    ) -> TextSink {
        TextSink {
            out,
            renderer: TextRenderer::new(color, show_os_calls),
            live,
            footer: None,
            count_line_shown: false,
            backlog: None,
        }
    }

    fn eol(&self) -> &'static str {
        if self.footer.is_some() {
            "\r\n"
        } else {
            "\n"
        }
    }

    /// Write lines above the footer. With `replace_last`, the previous last line (the live
    /// count) is overwritten first.
    fn put(&mut self, lines: &[String], replace_last: bool) -> io::Result<()> {
        let eol = self.eol();
        let mut buf = String::new();
        if self.live {
            if replace_last {
                // Up to the count line, to its start, and clear everything below.
                buf.push_str("\x1b[1A\r\x1b[J");
            } else if self.footer.is_some() {
                buf.push_str("\r\x1b[J");
            }
        }
        for line in lines {
            buf.push_str(line);
            buf.push_str(eol);
        }
        if let Some(footer) = &self.footer {
            // Cut to the terminal's width now (it may have been resized): a footer line that
            // wrapped would break the "back up to the footer" arithmetic below.
            let width = crossterm::terminal::size()
                .map(|(w, _)| usize::from(w).max(2))
                .unwrap_or(usize::MAX);
            let rows = footer.lines().count();
            for (i, line) in footer.lines().enumerate() {
                buf.extend(line.chars().take(width - 1));
                if i + 1 < rows {
                    buf.push_str("\r\n");
                }
            }
            // Back to the footer's first line, column 0.
            if rows > 1 {
                buf.push_str(&format!("\x1b[{}A", rows - 1));
            }
            buf.push('\r');
        }
        self.out.write_all(buf.as_bytes())?;
        self.out.flush()
    }
}

impl Sink for TextSink {
    fn write(&mut self, entry: &Entry) -> io::Result<()> {
        self.count_line_shown = false;
        let mut lines = Vec::new();
        if let Some(notice) = self.backlog.as_ref().and_then(|b| b.notice(entry)) {
            lines = self.renderer.render(&notice);
        }
        lines.extend(self.renderer.render(entry));
        self.put(&lines, false)
    }

    fn repeats(&mut self, run: &Run, done: bool) -> io::Result<()> {
        if !self.live {
            // Not a terminal: one count line, when the run ends.
            if done {
                let line = self.renderer.repeat_line(run, None);
                return self.put(&[line], false);
            }
            return Ok(());
        }
        // A live count line is rewritten in place, which only works if it never wraps.
        let width = crossterm::terminal::size().map(|(w, _)| w as usize).ok();
        let line = self.renderer.repeat_line(run, width);
        let replace = self.count_line_shown;
        self.count_line_shown = !done;
        self.put(&[line], replace)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn set_footer(&mut self, footer: Option<String>) -> io::Result<()> {
        let had = self.footer.is_some();
        self.footer = footer;
        if self.footer.is_some() {
            self.count_line_shown = false;
            self.put(&[], false)
        } else if had && self.live {
            // Leaving interactive mode: erase the footer.
            self.out.write_all(b"\r\x1b[J")?;
            self.out.flush()
        } else {
            Ok(())
        }
    }
}
