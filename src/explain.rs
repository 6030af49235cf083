//! `lab explain B15`, `lab explain errata 11`: the behaviour or erratum a trace cites, printed
//! from the documents themselves (embedded, so it works offline from the one binary).
//!
//! The trace's notes end with `(B15)` or `(errata 9)`; this is where an attendee follows that
//! reference without opening the repository. The text is the document's own: one source, no
//! copy to drift.

use std::io::Write;

use crate::trace::words::wrap_hanging;

/// `docs/kqueue-semantics.md`: the numbered behaviours B1–B26.
const SEMANTICS: &str = include_str!("../docs/kqueue-semantics.md");
/// `docs/errata.md`: the errata of the published Part 7, one table row each.
const ERRATA: &str = include_str!("../docs/errata.md");

/// What the reference names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Topic {
    /// `B15`: a behaviour of `docs/kqueue-semantics.md`.
    Behaviour(u32),
    /// `errata 11`, `E11`: an erratum of `docs/errata.md`.
    Erratum(u32),
}

/// The forms `lab explain` takes, for the one-line usage error.
const FORMS: &str = "B1 to B26 (a behaviour), or errata N / E N (an erratum, 1 to 12)";

/// Read `B15`, `b 15`, `errata 11`, `erratum 11`, `E11` (case-insensitive, spaces optional).
pub fn parse(words: &[String]) -> Option<Topic> {
    let joined: String = words.concat().to_ascii_lowercase();
    let joined = joined.trim().trim_start_matches('(').trim_end_matches(')');
    let (kind, number) = ["errata", "erratum", "e", "b"]
        .iter()
        .find_map(|prefix| joined.strip_prefix(prefix).map(|rest| (*prefix, rest)))?;
    let number: u32 = number.trim_start_matches(['#', '-', '.']).parse().ok()?;
    Some(match kind {
        "b" => Topic::Behaviour(number),
        _ => Topic::Erratum(number),
    })
}

/// The text for a topic, wrapped to `width` columns (a terminal's), or `None` when the
/// document has no such entry. Without a width (piped) a behaviour keeps the document's own
/// lines and an erratum (a table row) is wrapped at 80.
pub fn text(topic: Topic, width: Option<usize>) -> Option<String> {
    match topic {
        Topic::Behaviour(n) => behaviour(n, width),
        Topic::Erratum(n) => erratum(n, width.unwrap_or(80)),
    }
}

/// `**B15. Title.** body…` up to the next behaviour or section heading, emphasis removed.
fn behaviour(number: u32, width: Option<usize>) -> Option<String> {
    let start_marker = format!("**B{number}. ");
    let start = SEMANTICS.find(&start_marker)?;
    let rest = &SEMANTICS[start..];
    // Ends where the next behaviour or the next section begins.
    let after = start_marker.len();
    let end = [rest[after..].find("\n**B"), rest[after..].find("\n## ")]
        .into_iter()
        .flatten()
        .min()
        .map_or(rest.len(), |at| at + after);
    let body = without_emphasis(rest[..end].trim_end());
    let Some(width) = width else {
        return Some(format!("{body}\n\n(docs/kqueue-semantics.md, section 1)\n"));
    };
    // The document's lines are its source's (about 98 columns): each paragraph (the text, then
    // `Test:`, `Sources:`...) is joined and wrapped again to the width asked for.
    let mut paragraphs: Vec<String> = Vec::new();
    for line in body.lines().map(str::trim) {
        match paragraphs.last_mut() {
            Some(paragraph) if !line.is_empty() && !starts_a_paragraph(line) => {
                paragraph.push(' ');
                paragraph.push_str(line);
            }
            _ if line.is_empty() => {}
            _ => paragraphs.push(line.to_string()),
        }
    }
    let mut out = String::new();
    for (i, paragraph) in paragraphs.iter().enumerate() {
        let indent = if i == 0 { "" } else { "  " };
        out.push_str(&wrap(paragraph, width, indent));
    }
    out.push_str("\n(docs/kqueue-semantics.md, section 1)\n");
    Some(out)
}

/// A behaviour's paragraphs after its text start with a label, once emphasis is removed.
fn starts_a_paragraph(line: &str) -> bool {
    [
        "Sources:",
        "Test:",
        "Test rule:",
        "Caveat:",
        "Linux emulation:",
        "libkqueue bug:",
    ]
    .iter()
    .any(|label| line.starts_with(label))
}

/// `**bold**` and `*Label:*` lose their asterisks; a `*` inside code (`void *udata`) stays.
fn without_emphasis(text: &str) -> String {
    let mut out = text.replace("**", "");
    for label in [
        "Src",
        "Test",
        "Test rule",
        "Caveat",
        "Linux emulation",
        "libkqueue bug",
    ] {
        out = out.replace(&format!("*{label}:*"), &format!("{label}:"));
    }
    out.replace("Src:", "Sources:")
}

/// Row `| 11 | issue | status | evidence |` of the errata table.
fn erratum(number: u32, width: usize) -> Option<String> {
    let prefix = format!("| {number} |");
    let row = ERRATA.lines().find(|line| line.starts_with(&prefix))?;
    let cells: Vec<&str> = row
        .trim()
        .trim_matches('|')
        .split(" | ")
        .map(str::trim)
        .collect();
    let [_, issue, status, evidence] = cells.as_slice() else {
        return None;
    };
    let clean = |s: &str| without_emphasis(s).replace("\\|", "|");
    let mut out = format!("Erratum {number} of the published Part 7\n\n");
    out.push_str(&wrap(&clean(issue), width, ""));
    out.push('\n');
    out.push_str(&wrap(&format!("Status: {}", clean(status)), width, "  "));
    out.push_str(&wrap(
        &format!("Evidence: {}", clean(evidence)),
        width,
        "  ",
    ));
    out.push_str("\n(docs/errata.md)\n");
    Some(out)
}

/// Wrap words to `width` columns, each line ending in a newline; lines after the first start
/// with `indent` (the lab's one wrapper, `trace::words`).
fn wrap(text: &str, width: usize, indent: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out = String::new();
    for line in wrap_hanging(&words.join(" "), width, indent.len()) {
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `lab explain WORDS...`: print the text, or one usage line naming the valid forms (exit 2).
pub fn run(words: &[String]) -> crate::Result<()> {
    let asked = words.join(" ");
    // A terminal's width (up to 100 columns, as the lessons); piped, the document's lines.
    let width = crate::term::screen::prose_width(None);
    let text = parse(words)
        .and_then(|topic| text(topic, width))
        .ok_or_else(|| {
            crate::Error::usage(format!(
                "nothing to explain for '{asked}'; valid forms: {FORMS}, e.g. `lab explain B15`"
            ))
        })?;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        // `lab explain B15 | head` is success (STYLE.md habit 6).
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(crate::error::io_context(
            "cannot write the explanation",
            err,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn every_form_names_its_topic() {
        assert_eq!(parse(&words("B15")), Some(Topic::Behaviour(15)));
        assert_eq!(parse(&words("b15")), Some(Topic::Behaviour(15)));
        assert_eq!(parse(&words("(B15)")), Some(Topic::Behaviour(15)));
        assert_eq!(parse(&words("errata 11")), Some(Topic::Erratum(11)));
        assert_eq!(parse(&words("Erratum 11")), Some(Topic::Erratum(11)));
        assert_eq!(parse(&words("E11")), Some(Topic::Erratum(11)));
        assert_eq!(parse(&words("e 9")), Some(Topic::Erratum(9)));
        assert_eq!(parse(&words("X1")), None);
        assert_eq!(parse(&words("B")), None);
    }

    #[test]
    fn every_behaviour_and_erratum_is_found_and_none_runs_into_the_next() {
        for n in 1..=26 {
            let text = text(Topic::Behaviour(n), None).unwrap_or_else(|| panic!("B{n}"));
            assert!(text.starts_with(&format!("B{n}. ")), "{text}");
            assert!(
                !text.contains(&format!("\nB{}. ", n + 1)),
                "B{n} runs on:\n{text}"
            );
            assert!(!text.contains("\n## "), "B{n} runs on:\n{text}");
        }
        for n in 1..=12 {
            let text = text(Topic::Erratum(n), None).unwrap_or_else(|| panic!("errata {n}"));
            assert!(
                text.contains("Status:") && text.contains("Evidence:"),
                "{text}"
            );
        }
        assert!(text(Topic::Behaviour(27), None).is_none());
        assert!(text(Topic::Erratum(13), None).is_none());
    }

    /// An attendee with an 80-column terminal reads B15 and errata 11 within 80 columns (a
    /// narrower one within its width), every word of the document still there.
    #[test]
    fn the_text_wraps_to_the_width_asked_for() {
        for topic in [
            Topic::Behaviour(15),
            Topic::Erratum(11),
            Topic::Behaviour(3),
        ] {
            let wide = text(topic, None).unwrap();
            for width in [80, 50] {
                let narrow = text(topic, Some(width)).unwrap();
                for line in narrow.lines() {
                    let long_word = line.split_whitespace().count() == 1;
                    assert!(
                        line.chars().count() <= width || long_word,
                        "{width}: {line}"
                    );
                }
                let words = |t: &str| t.split_whitespace().map(String::from).collect::<Vec<_>>();
                assert_eq!(words(&narrow), words(&wide));
            }
        }
    }
}
