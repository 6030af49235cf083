//! `lab replay FILE`: redraw a saved `--json` trace as the annotated text, so that a facilitator
//! can show a macOS trace (native kqueue) to a Linux room, or the other way round.
//!
//! The file is read back into [`trace::Entry`](crate::trace::Entry) values by the JSON trace's
//! own reader ([`crate::trace::json::parse_trace`], beside its writer) and handed to the same
//! [`TextRenderer`] a live run uses.

use std::io::Write;

use std::path::Path;

use crate::term::ColorMode;
use crate::trace::text::TextRenderer;

pub use crate::trace::json::{parse_entry, parse_trace};

/// `lab replay FILE`.
pub fn run(path: &Path, color: ColorMode) -> crate::Result<()> {
    let text = std::fs::read(path).map_err(|err| {
        crate::Error::runtime(format!(
            "cannot read {}: {err}; give a file written by `lab <stage> --json > FILE`",
            path.display()
        ))
    })?;
    let text = String::from_utf8(text).map_err(|_| {
        crate::Error::runtime(format!(
            "{} is not text; give a file written by `lab <stage> --json > FILE`",
            path.display()
        ))
    })?;
    let entries = parse_trace(&text)
        .map_err(|err| crate::Error::runtime(format!("{}: {err}", path.display())))?;

    let color = crate::term::use_color(color);
    let mut renderer = TextRenderer::new(color, true);
    let mut out = String::new();
    for entry in &entries {
        for line in renderer.render(entry) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // `lab replay f | head` is success (STYLE.md habit 6).
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(crate::error::io_context("cannot write the trace", err)),
    }
}
