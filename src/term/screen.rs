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
    /// Notes wrap to the terminal's width: on the terminal, and in the pager (`--pager`) that
    /// shows them on it.
    wrap: bool,
    /// Interactive: raw mode (`\r\n` line ends) and this footer.
    footer: Option<String>,
    /// A collapsed run's live count line is the last line on screen (to be rewritten).
    count_line_shown: bool,
    /// stdout is a pipe behind a bounded queue: the records it dropped (`trace::sink_output`).
    backlog: Option<Backlog>,
}

impl TextSink {
    /// Show the lab's own knotes (`signal`, `keys`, `wake`) too (`--all-knotes`).
    pub fn with_all_knotes(mut self, all: bool) -> TextSink {
        self.renderer = self.renderer.with_all_knotes(all);
        self
    }

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

    /// Text through the pager (`--pager`): behind a bounded queue as on a pipe (the pager reads
    /// only as far as the person scrolls), without in-place updates (a pager shows lines, not
    /// cursor moves: a collapsed run gets one count line when it ends), and with the notes
    /// wrapped to the terminal as they would be without the pager.
    pub fn paged(pager: crate::pager::Pager, color: bool, show_os_calls: bool) -> TextSink {
        let (out, backlog) = sink_output::bounded(Box::new(pager));
        TextSink {
            backlog,
            wrap: true,
            ..TextSink::new(out, color, show_os_calls, false)
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
            wrap: live,
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
        if lines.is_empty() && replace_last {
            return Ok(());
        }
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
            let footer = fit_footer(footer, width - 1, crate::term::help_shown());
            let rows = footer.len();
            for (i, line) in footer.iter().enumerate() {
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
        if self.wrap {
            // Notes wrap to the terminal's width (read each time: it may have been resized).
            let width = crossterm::terminal::size()
                .map(|(w, _)| usize::from(w))
                .ok();
            self.renderer.set_width(width);
        }
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

/// The width of the terminal stdout is, `None` when stdout is a pipe or a file (or the size
/// is unknown): trace lines wrap to it, piped output keeps one line per record.
pub fn terminal_width() -> Option<usize> {
    if !crate::term::stdout_is_terminal() {
        return None;
    }
    crossterm::terminal::size()
        .ok()
        .map(|(w, _)| usize::from(w))
}

/// The width for prose (`lab explain`, `lab selftest`, `--predict`'s questions): the
/// terminal's, up to 100 columns (a readable line, as the lessons), or `piped` when stdout is not
/// a terminal.
pub fn prose_width(piped: Option<usize>) -> Option<usize> {
    match terminal_width() {
        Some(width) => Some(width.min(100)),
        None => piped,
    }
}

/// The key footer as it fits `width` columns. The first line (a rule with the stage and the
/// current connection) is cut; the last line lists keys as `k what` separated by two spaces.
/// When they do not all fit, `? keys  q quit` stay at the end and keys are dropped from the
/// middle; with `help` (the `?` key) every key is shown, on as many lines as needed.
pub fn fit_footer(footer: &str, width: usize, help: bool) -> Vec<String> {
    let mut lines: Vec<String> = footer.lines().map(str::to_string).collect();
    let Some(keys_line) = lines.pop() else {
        return lines;
    };
    let keys: Vec<&str> = keys_line.split("  ").filter(|k| !k.is_empty()).collect();
    let quit = keys.iter().position(|k| k.starts_with("q "));
    if help {
        let mut line = String::new();
        let shown = keys.iter().copied().filter(|k| !k.starts_with("? "));
        for key in shown.chain(["? hide keys"]) {
            let len = line.chars().count();
            if len > 0 && len + 2 + key.chars().count() > width {
                lines.push(std::mem::take(&mut line));
            }
            if !line.is_empty() {
                line.push_str("  ");
            }
            line.push_str(key);
        }
        lines.push(line);
        return lines;
    }
    if keys_line.chars().count() <= width || quit.is_none() {
        lines.push(keys_line);
        return lines;
    }
    let tail = format!("? keys  {}", keys[quit.unwrap_or(0)]);
    let mut line = String::new();
    for (i, key) in keys.iter().enumerate() {
        // `q` and `?` are in the tail, once.
        if Some(i) == quit || key.starts_with("? ") {
            continue;
        }
        let len = line.chars().count() + 2 + key.chars().count() + 2 + tail.chars().count();
        if len > width {
            break;
        }
        line.push_str(key);
        line.push_str("  ");
    }
    line.push_str(&tail);
    lines.push(line);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    const FOOTER: &str = "── lab oneshot ──\nc connect  1-9 use  s send ping  r read  a rearm  x close  k knotes  q quit";

    #[test]
    fn a_narrow_footer_keeps_quit_and_help() {
        for width in 40..80 {
            let lines = fit_footer(FOOTER, width - 1, false);
            let keys = lines.last().unwrap();
            assert!(keys.chars().count() < width, "{width}: {keys}");
            assert!(keys.ends_with("q quit"), "{width}: {keys}");
            let all_fit = FOOTER.lines().nth(1).unwrap().chars().count() < width;
            assert_eq!(keys.contains("? keys"), !all_fit, "{width}: {keys}");
        }
        let wide = fit_footer(FOOTER, 120, false);
        assert!(wide[1].starts_with("c connect") && wide[1].ends_with("q quit"));
        assert!(!wide[1].contains('?'), "everything fits: no help needed");
    }

    /// Footers that list `? keys` among their keys (the stages', with or without --external):
    /// at every width `?` and `q` are shown, each once.
    #[test]
    fn a_footer_listing_help_shows_it_once_at_every_width() {
        let footers = [
            "── lab flood ──\nc connect  1-9 use  s send  r read  a rearm  x close  k knotes  ? \
             keys  q quit  p read 2  + add  - delete  e enable  d disable  R receipt",
            "── lab flood ──\n1-9 use  r read  a rearm  k knotes  ? keys  q quit  p read 2  + \
             add  - delete  e enable  d disable  R receipt",
            "── lab server ──\nk knotes  ? keys  q quit",
        ];
        for footer in footers {
            for width in 40..=160 {
                let lines = fit_footer(footer, width - 1, false);
                let keys = lines.last().unwrap();
                assert!(keys.chars().count() < width, "{width}: {keys}");
                assert_eq!(keys.matches("? keys").count(), 1, "{width}: {keys}");
                assert_eq!(keys.matches("q quit").count(), 1, "{width}: {keys}");
            }
            let help = fit_footer(footer, 39, true)[1..].join("  ");
            assert!(
                !help.contains("? keys") && help.contains("? hide keys"),
                "{help}"
            );
        }
    }

    #[test]
    fn help_shows_every_key_on_as_many_lines_as_needed() {
        let lines = fit_footer(FOOTER, 39, true);
        assert!(lines.len() > 2);
        let all = lines[1..].join("  ");
        for key in ["c connect", "1-9 use", "k knotes", "q quit", "? hide keys"] {
            assert!(all.contains(key), "{all}");
        }
        assert!(lines.iter().all(|l| l.chars().count() <= 39));
    }
}
