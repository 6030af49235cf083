//! Numbers and words for the annotated text: `18,402`, `1 event`/`2 events`, `12 µs`,
//! `1.5` per second, and lines wrapped to a terminal's width. Shared by the trace renderer, the
//! stages' notes, the lessons and the other commands' prose.

/// A rate for the collapsed-run line: whole numbers with separators for a flood
/// (`18,402`), one decimal below 10 so that a slow repeat such as an idle server's 999 ms wake-up
/// reads `1.5`, not a rounded-up `2`.
pub fn rate(per_second: f64) -> String {
    if per_second < 10.0 {
        format!("{per_second:.1}")
    } else {
        group(per_second.round() as u64)
    }
}

/// `18402` → `18,402`.
pub fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A short duration for "time blocked": µs, ms or s.
pub fn duration(s: f64) -> String {
    if s < 0.001 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}

/// A span of time for a count line: `1.0 s`, or `50 ms` under a second.
pub fn seconds(s: f64) -> String {
    if s < 0.9995 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{s:.1} s")
    }
}

/// Split `text` into lines of at most `width` columns, at spaces (a word longer than the width
/// stays whole). Plain text; see [`wrap_hanging`] for a painted line.
pub fn wrap(text: &str, width: usize) -> Vec<String> {
    wrap_hanging(text, width, 0)
}

/// Split `line` at spaces into lines of at most `width` columns; the lines after the first
/// start with `indent` spaces (a hanging indent that leaves the first line's marker, `▸`, `#3`,
/// `events by knote:`, standing alone in its column). The line may be painted already: colour
/// codes take no column, and a colour in force at a break is closed at the end of the line and
/// opened again after the indent, so a pager or a terminal never bleeds it into the margin.
/// A word longer than the room stays whole (the terminal wraps it; nothing is cut).
pub fn wrap_hanging(line: &str, width: usize, indent: usize) -> Vec<String> {
    const RESET: &str = "\x1b[0m";
    let mut lines = Vec::new();
    let mut current = String::new();
    let mut columns = 0;
    // Something other than the indent is on the current line.
    let mut started = false;
    // The colour codes in force (since the last reset).
    let mut style = String::new();
    for (i, word) in line.split(' ').enumerate() {
        let word_columns = visible_width(word);
        if i > 0 {
            if started && columns + 1 + word_columns > width {
                current.truncate(current.trim_end_matches(' ').len());
                if !style.is_empty() {
                    current.push_str(RESET);
                }
                lines.push(std::mem::take(&mut current));
                current = format!("{}{style}", " ".repeat(indent));
                columns = indent;
                started = false;
            } else if started || lines.is_empty() {
                // The first line keeps its leading spaces; a continuation has the indent.
                current.push(' ');
                columns += 1;
            }
        }
        current.push_str(word);
        columns += word_columns;
        started |= word_columns > 0;
        follow_style(word, &mut style);
    }
    lines.push(current);
    lines
}

/// `head` followed by `items` separated by `, `, in lines of at most `width` columns that break
/// only between items (`conn1 READ ×1,229` stays whole); the lines after the first start with
/// `indent` spaces, so a list continues under itself. Plain text.
pub fn wrap_list(head: &str, items: &[String], width: usize, indent: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = head.to_string();
    let mut columns = visible_width(head);
    // An item is on the current line (the first item stays beside the head, whatever its size).
    let mut started = false;
    for (i, item) in items.iter().enumerate() {
        let comma = if i + 1 < items.len() { "," } else { "" };
        let item_columns = visible_width(item) + comma.len();
        if started && columns + 1 + item_columns > width {
            lines.push(std::mem::take(&mut current));
            current = " ".repeat(indent);
            columns = indent;
        } else if !current.is_empty() {
            current.push(' ');
            columns += 1;
        }
        current.push_str(item);
        current.push_str(comma);
        columns += item_columns;
        started = true;
    }
    lines.push(current);
    lines
}

/// Columns `text` takes on a terminal: its characters, less the colour codes (`ESC [ ... m`).
pub fn visible_width(text: &str) -> usize {
    let mut columns = 0;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            // Up to the code's final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            columns += 1;
        }
    }
    columns
}

/// Update `style`, the colour codes in force, with the codes in `word` (a reset clears it).
fn follow_style(word: &str, style: &mut String) {
    let mut rest = word;
    while let Some(at) = rest.find('\x1b') {
        let code = &rest[at..];
        let end = code
            .char_indices()
            .skip(1)
            .find(|(_, c)| c.is_ascii_alphabetic())
            .map_or(code.len(), |(i, c)| i + c.len_utf8());
        let code = &code[..end];
        if code == "\x1b[0m" {
            style.clear();
        } else {
            style.push_str(code);
        }
        rest = &rest[at + end..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The units change exactly at their boundaries: below a millisecond µs, below a second ms.
    #[test]
    fn durations_pick_their_unit_at_the_boundaries() {
        assert_eq!(duration(0.000_012), "12 µs");
        assert_eq!(duration(0.001), "1.0 ms");
        assert_eq!(duration(0.25), "250.0 ms");
        assert_eq!(duration(1.0), "1.00 s");
        assert_eq!(duration(2.5), "2.50 s");
    }

    /// A count line's span: ms under a second, then seconds with one decimal (0.9995 s would
    /// round to "1000 ms", so it is already "1.0 s").
    #[test]
    fn spans_are_ms_under_a_second_then_seconds() {
        assert_eq!(seconds(0.05), "50 ms");
        assert_eq!(seconds(0.9995), "1.0 s");
        assert_eq!(seconds(2.04), "2.0 s");
    }

    /// Rates keep one decimal below 10 per second (an idle server's wake-ups), whole numbers
    /// with separators from 10 on (a flood).
    #[test]
    fn rates_keep_a_decimal_only_when_slow() {
        assert_eq!(rate(1.04), "1.0");
        assert_eq!(rate(10.0), "10");
        assert_eq!(rate(18_402.4), "18,402");
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(plural(1), "");
        assert_eq!(plural(2), "s");
    }

    /// Plain words wrap at spaces, within the width, a long word whole.
    #[test]
    fn plain_text_wraps_at_spaces() {
        let lines = wrap("one two three four five", 9);
        assert_eq!(lines, ["one two", "three", "four five"]);
        assert_eq!(wrap("unbreakable-word x", 5), ["unbreakable-word", "x"]);
        assert_eq!(wrap("short", 80), ["short"]);
    }

    /// A list breaks between its items only and continues under itself.
    #[test]
    fn a_list_breaks_between_items() {
        let items: Vec<String> = ["conn1 READ ×5", "conn2 READ ×12", "listener READ ×3"]
            .map(String::from)
            .to_vec();
        let lines = wrap_list("   by knote:", &items, 30, 5);
        assert_eq!(
            lines,
            [
                "   by knote: conn1 READ ×5,",
                "     conn2 READ ×12,",
                "     listener READ ×3"
            ]
        );
        let one = wrap_list("   by knote:", &items, 200, 5);
        assert_eq!(
            one,
            ["   by knote: conn1 READ ×5, conn2 READ ×12, listener READ ×3"]
        );
    }

    /// A painted line keeps its leading spaces, wraps by what shows (not by its colour codes),
    /// and a colour open at a break is closed and reopened after the hanging indent.
    #[test]
    fn a_painted_line_wraps_by_its_visible_columns() {
        let green = "\x1b[32m";
        let line = format!("   ◂ {green}READ  conn1 (fd 7) flags=0x0 data=5\x1b[0m  waiting");
        let lines = wrap_hanging(&line, 24, 7);
        assert!(
            lines[0].starts_with("   ◂ \x1b[32mREAD  conn1"),
            "{lines:?}"
        );
        assert!(lines[0].ends_with("\x1b[0m"), "{lines:?}");
        assert!(lines[1].starts_with("       \x1b[32m"), "{lines:?}");
        assert!(lines.iter().all(|l| visible_width(l) <= 24), "{lines:?}");
        assert_eq!(visible_width(&line), line.chars().count() - 9);
        let plain: Vec<String> = lines
            .iter()
            .map(|l| l.replace(green, "").replace("\x1b[0m", ""))
            .collect();
        assert_eq!(
            plain.join(" ").split_whitespace().collect::<Vec<_>>(),
            line.replace(green, "")
                .replace("\x1b[0m", "")
                .split_whitespace()
                .collect::<Vec<_>>()
        );
    }
}
