//! The trace's colours, in one place, on the `colored` crate: what each kind of text looks
//! like (a call number bold, times and the epoll twin dim, notes yellow, errors red...).
//!
//! Whether to colour at all is decided once, when the renderer is made (`--color`, NO_COLOR, a
//! terminal or not: [`crate::term::use_color`]); a renderer asked for colour always gets it,
//! even into a pipe (`--color always | less -R`).

use colored::{ColoredString, Colorize};

/// The styles the trace uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Bold,
    Dim,
    Red,
    Green,
    Yellow,
    Cyan,
    Magenta,
}

/// `text` in `style` when `on`, plain otherwise.
pub fn paint(on: bool, style: Style, text: &str) -> String {
    if !on {
        return text.to_string();
    }
    // The decision was made by the caller: `colored` must not second-guess it from the
    // environment (it would drop the colour of `--color always` into a pipe).
    colored::control::set_override(true);
    styled(style, text).to_string()
}

fn styled(style: Style, text: &str) -> ColoredString {
    match style {
        Style::Bold => text.bold(),
        Style::Dim => text.dimmed(),
        Style::Red => text.red(),
        Style::Green => text.green(),
        Style::Yellow => text.yellow(),
        Style::Cyan => text.cyan(),
        Style::Magenta => text.magenta(),
    }
}
