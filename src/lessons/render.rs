//! Markdown → terminal, for the small Markdown the lessons use (the same files read well on the
//! repository's web page):
//!
//! - headings, paragraphs, `-`/`1.` lists, `>` quotes, tables, `---` rules;
//! - fenced code blocks, shown indented and never wrapped (commands must stay copyable);
//! - inline `code`, **bold**, *emphasis* and `[links](url)`;
//! - `<!-- comments -->` are hidden: they carry the excerpt markers the tests check;
//! - `<details><summary>Answer</summary> … </details>` is an answer: hidden unless `--answers`.
//!
//! With colour, styles come from the `colored` crate (its switch is process-wide: `lab lesson`
//! sets it from `--color`, see [`super::show`]); plain (piped, `--color never`, NO_COLOR) keeps
//! the text readable without them. Paragraphs are wrapped to the terminal width (80 when piped).
//!
//! The Markdown subset is parsed here, by hand, on purpose: `pulldown-cmark` parses all nine
//! lessons into the same structure, but would save only about a hundred lines while adding four
//! crates, about 425 KB to the stripped binary (+21%) and 11 s of CPU to a clean release build
//! (the numbers are in the commit that made the decision). The lessons are our own nine files,
//! held to this subset by `tests/lessons/structure.rs`.

use colored::{ColoredString, Colorize};

/// How to render.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Wrap paragraphs at this many columns.
    pub width: usize,
    /// Emit ANSI styles.
    pub color: bool,
    /// Show the contents of `<details>` answer blocks.
    pub answers: bool,
    /// The lesson's number, for the "run with --answers" hint.
    pub number: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Code,
    Bold,
    Emph,
    Link,
}

/// The lessons' palette: code cyan, links underlined, headings bold magenta.
fn paint(text: &str, style: Style) -> ColoredString {
    match style {
        Style::Plain => text.normal(),
        Style::Code => text.cyan(),
        Style::Bold => text.bold(),
        Style::Emph => text.italic(),
        Style::Link => text.underline(),
    }
}

/// A heading: a title is also underlined.
fn paint_heading(text: &str, level: usize) -> ColoredString {
    let heading = text.magenta().bold();
    if level == 1 {
        heading.underline()
    } else {
        heading
    }
}

/// A piece of text with one style.
type Span = (String, Style);

/// Render a whole lesson.
pub fn render(markdown: &str, opts: &Options) -> String {
    let mut out = Renderer {
        opts: *opts,
        out: String::new(),
        paragraph: Vec::new(),
        block: Block::Text,
        marker: String::new(),
        in_answer: false,
        in_list: false,
    };
    out.run(markdown);
    out.out
}

struct Renderer {
    opts: Options,
    out: String,
    /// Lines of the paragraph (or list item, or quote) being gathered, with its indents.
    paragraph: Vec<String>,
    /// What kind of block `paragraph` is.
    block: Block,
    /// The current list item's marker.
    marker: String,
    /// Inside a shown answer: its paragraphs are set off with a bar.
    in_answer: bool,
    /// Inside a list: indented paragraphs belong to the current item.
    in_list: bool,
}

/// What kind of block the gathered lines belong to.
#[derive(Clone, Copy)]
enum Block {
    Text,
    /// A list item (its marker is kept beside: `-` becomes `•`, `1.` stays).
    Item,
    /// A later paragraph of the same list item, indented under its text.
    Continued,
    Quote,
}

impl Renderer {
    fn run(&mut self, markdown: &str) {
        let mut lines = markdown.lines().peekable();
        let mut hidden_answer = false;
        while let Some(line) = lines.next() {
            let trimmed = line.trim();

            // Fenced code: verbatim, indented, never wrapped. (The info string, `sh` or
            // `text`, only matters to the tests: `sh` lines are commands they run.)
            if trimmed.starts_with("```") {
                self.flush();
                for code in lines.by_ref() {
                    if code.trim_start().starts_with("```") {
                        break;
                    }
                    if !hidden_answer {
                        let text = format!("    {code}");
                        self.push_styled(&text, Style::Code);
                        self.out.push('\n');
                    }
                }
                if !hidden_answer {
                    self.out.push('\n');
                }
                continue;
            }

            // HTML comments: hidden (excerpt markers for the tests), possibly over several lines.
            if trimmed.starts_with("<!--") {
                self.flush();
                let mut current = trimmed;
                while !current.contains("-->") {
                    match lines.next() {
                        Some(next) => current = next,
                        None => break,
                    }
                }
                continue;
            }

            // Answers: `<details>` … `</details>`.
            if trimmed.starts_with("<details") {
                self.flush();
                let summary = summary_of(trimmed).or_else(|| {
                    // The summary on the next line.
                    let next = lines.peek().map(|l| l.trim().to_string());
                    let found = next.as_deref().and_then(summary_of);
                    if found.is_some() {
                        lines.next();
                    }
                    found
                });
                let summary = summary.unwrap_or_else(|| "Answer".to_string());
                if self.opts.answers {
                    let text = format!("▸ {}", with_colon(&summary));
                    self.push_styled(&text, Style::Bold);
                    self.out.push('\n');
                    self.in_answer = true;
                } else {
                    let hint = format!(
                        "▸ {} (hidden: `lab lesson {} --answers` shows it)",
                        summary, self.opts.number
                    );
                    self.emit_wrapped(&parse_inline(&hint), "", "");
                    self.out.push('\n');
                    hidden_answer = true;
                }
                continue;
            }
            if trimmed.starts_with("</details") {
                self.flush();
                hidden_answer = false;
                self.in_answer = false;
                continue;
            }
            if hidden_answer {
                continue;
            }

            // A blank line ends a block.
            if trimmed.is_empty() {
                self.flush();
                continue;
            }

            // Headings.
            if let Some((level, title)) = heading(trimmed) {
                self.flush();
                self.heading(level, title);
                continue;
            }

            // Rules.
            if trimmed == "---" || trimmed == "***" {
                self.flush();
                let rule = "─".repeat(self.opts.width.min(60));
                self.out.push_str(&rule);
                self.out.push_str("\n\n");
                continue;
            }

            // Tables: cells padded into aligned columns, never wrapped.
            if trimmed.starts_with('|') {
                self.flush();
                let mut rows = vec![trimmed.to_string()];
                while let Some(next) = lines.peek().map(|l| l.trim()) {
                    if !next.starts_with('|') {
                        break;
                    }
                    rows.push(next.to_string());
                    lines.next();
                }
                self.table(&rows);
                continue;
            }

            // List items start a new block; indented lines continue the current one.
            if let Some((marker, rest)) = list_item(trimmed) {
                if matches!(self.block, Block::Item) {
                    self.flush_keep_gap();
                } else {
                    self.flush();
                }
                self.marker = if marker == "-" || marker == "*" {
                    "•".to_string()
                } else {
                    marker.to_string()
                };
                self.block = Block::Item;
                self.in_list = true;
                self.paragraph.push(rest.to_string());
                continue;
            }
            let indented = line.len() - line.trim_start().len() >= 2;
            if self.in_list && indented && self.paragraph.is_empty() {
                // A paragraph that continues a list item after a blank line or a code block.
                self.block = Block::Continued;
                self.paragraph.push(trimmed.to_string());
                continue;
            }
            if !indented && !matches!(self.block, Block::Item) {
                self.in_list = false;
            }
            if let Some(rest) = trimmed.strip_prefix('>') {
                if !matches!(self.block, Block::Quote) {
                    self.flush();
                }
                self.block = Block::Quote;
                self.paragraph.push(rest.trim().to_string());
                continue;
            }
            self.paragraph.push(trimmed.to_string());
        }
        self.flush();
        while self.out.ends_with("\n\n") {
            self.out.pop();
        }
    }

    /// Write the gathered block, followed by a blank line.
    fn flush(&mut self) {
        if self.flush_keep_gap() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Write the gathered block without the blank line after it (list items stay together).
    /// Returns whether anything was written.
    fn flush_keep_gap(&mut self) -> bool {
        let block = std::mem::replace(&mut self.block, Block::Text);
        if self.paragraph.is_empty() {
            return false;
        }
        let text = self.paragraph.join(" ");
        self.paragraph.clear();
        let spans = parse_inline(&text);
        match block {
            Block::Text if self.in_answer => self.emit_wrapped(&spans, "  │ ", "  │ "),
            Block::Text => self.emit_wrapped(&spans, "", ""),
            Block::Item => {
                let first = format!("  {} ", self.marker);
                let rest = " ".repeat(first.chars().count());
                self.emit_wrapped(&spans, &first, &rest)
            }
            Block::Quote => self.emit_wrapped(&spans, "  │ ", "  │ "),
            Block::Continued => self.emit_wrapped(&spans, "    ", "    "),
        }
        true
    }

    /// A table: the separator row becomes a rule, cells are padded to their column's width.
    fn table(&mut self, rows: &[String]) {
        let cells: Vec<Option<Vec<Vec<Span>>>> = rows
            .iter()
            .map(|row| {
                if is_table_separator(row) {
                    return None;
                }
                let inner = row.trim().trim_start_matches('|').trim_end_matches('|');
                Some(inner.split('|').map(|c| parse_inline(c.trim())).collect())
            })
            .collect();
        let shown_len = |spans: &Vec<Span>, this: &Renderer| -> usize {
            spans
                .iter()
                .map(|(t, s)| this.shown(t, *s).chars().count())
                .sum()
        };
        let mut widths: Vec<usize> = Vec::new();
        for row in cells.iter().flatten() {
            for (i, cell) in row.iter().enumerate() {
                let len = shown_len(cell, self);
                if widths.len() <= i {
                    widths.push(len);
                } else {
                    widths[i] = widths[i].max(len);
                }
            }
        }
        for row in &cells {
            self.out.push_str("  ");
            match row {
                None => {
                    let total = widths.iter().sum::<usize>() + 3 * widths.len().saturating_sub(1);
                    self.out.push_str(&"─".repeat(total));
                }
                Some(row) => {
                    for (i, cell) in row.iter().enumerate() {
                        if i > 0 {
                            self.out.push_str("   ");
                        }
                        self.emit_spans(cell);
                        if i + 1 < row.len() {
                            let pad = widths[i].saturating_sub(shown_len(cell, self));
                            self.out.push_str(&" ".repeat(pad));
                        }
                    }
                }
            }
            // An empty last cell must not leave padding at the end of the line.
            let trimmed = self.out.trim_end_matches(' ').len();
            self.out.truncate(trimmed);
            self.out.push('\n');
        }
        self.out.push('\n');
    }

    fn heading(&mut self, level: usize, title: &str) {
        self.in_list = false;
        let spans = parse_inline(title);
        let plain: String = spans.iter().map(|(t, _)| t.as_str()).collect();
        if self.opts.color {
            self.out.push_str(&paint_heading(&plain, level).to_string());
            self.out.push('\n');
        } else {
            self.out.push_str(&plain);
            self.out.push('\n');
            if level <= 2 {
                let under = if level == 1 { "=" } else { "-" };
                self.out.push_str(&under.repeat(plain.chars().count()));
                self.out.push('\n');
            }
        }
        self.out.push('\n');
    }

    fn push_styled(&mut self, text: &str, style: Style) {
        if self.opts.color && style != Style::Plain {
            self.out.push_str(&paint(text, style).to_string());
        } else {
            self.out.push_str(text);
        }
    }

    fn emit_spans(&mut self, spans: &[Span]) {
        for (text, style) in spans {
            let shown = self.shown(text, *style);
            self.push_styled(&shown, *style);
        }
    }

    /// What a span looks like on screen: without colour, code keeps its backticks so that
    /// commands still stand out.
    fn shown(&self, text: &str, style: Style) -> String {
        if style == Style::Code && !self.opts.color {
            format!("`{text}`")
        } else {
            text.to_string()
        }
    }

    /// Greedy word wrap: words are runs of non-space characters, possibly several styles long.
    fn emit_wrapped(&mut self, spans: &[Span], first_indent: &str, indent: &str) {
        let mut words: Vec<Vec<Span>> = Vec::new();
        let mut current: Vec<Span> = Vec::new();
        for (text, style) in spans {
            let shown = self.shown(text, *style);
            // Code spans are never split: `lab oneshot --predict` stays one unit.
            if *style == Style::Code {
                current.push((shown, *style));
                continue;
            }
            let mut piece = String::new();
            for ch in shown.chars() {
                if ch.is_whitespace() {
                    if !piece.is_empty() {
                        current.push((std::mem::take(&mut piece), *style));
                    }
                    if !current.is_empty() {
                        words.push(std::mem::take(&mut current));
                    }
                } else {
                    piece.push(ch);
                }
            }
            if !piece.is_empty() {
                current.push((piece, *style));
            }
        }
        if !current.is_empty() {
            words.push(current);
        }

        let width = self.opts.width.max(20);
        let mut column = 0;
        self.out.push_str(first_indent);
        column += first_indent.chars().count();
        let mut line_has_word = false;
        for word in words {
            let len: usize = word.iter().map(|(t, _)| t.chars().count()).sum();
            if line_has_word && column + 1 + len > width {
                self.out.push('\n');
                self.out.push_str(indent);
                column = indent.chars().count();
                line_has_word = false;
            }
            if line_has_word {
                self.out.push(' ');
                column += 1;
            }
            for (text, style) in &word {
                self.push_styled(text, *style);
            }
            column += len;
            line_has_word = true;
        }
        self.out.push('\n');
    }
}

/// `Answer 1` → `Answer 1:`; a summary that already ends in punctuation keeps it.
fn with_colon(summary: &str) -> String {
    if summary.ends_with(['?', '.', ':', '!']) {
        summary.to_string()
    } else {
        format!("{summary}:")
    }
}

/// `## Title` → (2, "Title").
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&level) && line[level..].starts_with(' ') {
        Some((level, line[level..].trim()))
    } else {
        None
    }
}

/// `- item` or `12. item` → (marker, rest).
fn list_item(line: &str) -> Option<(&str, &str)> {
    if let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some((&line[..1], rest));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if digits > 0 && line[digits..].starts_with(". ") {
        return Some((&line[..digits + 1], &line[digits + 2..]));
    }
    None
}

fn is_table_separator(line: &str) -> bool {
    line.chars().all(|c| matches!(c, '|' | '-' | ':' | ' '))
}

/// The text of `<summary>…</summary>` on this line, if any.
fn summary_of(line: &str) -> Option<String> {
    let start = line.find("<summary>")? + "<summary>".len();
    let end = line[start..].find("</summary>")? + start;
    Some(strip_tags(&line[start..end]))
}

fn strip_tags(text: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for ch in text.chars() {
        match ch {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

/// Inline Markdown: `code`, **bold**, *emphasis* / _emphasis_, [text](url), <br> and tags dropped.
fn parse_inline(text: &str) -> Vec<Span> {
    let chars: Vec<char> = text.chars().collect();
    let mut spans: Vec<Span> = Vec::new();
    let mut plain = String::new();
    let mut i = 0;
    let push_plain = |plain: &mut String, spans: &mut Vec<Span>| {
        if !plain.is_empty() {
            spans.push((std::mem::take(plain), Style::Plain));
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let rest = &chars[i..];
        if c == '`' {
            if let Some(end) = find_from(&chars, i + 1, &['`']) {
                push_plain(&mut plain, &mut spans);
                spans.push((chars[i + 1..end].iter().collect(), Style::Code));
                i = end + 1;
                continue;
            }
        }
        if rest.starts_with(&['*', '*']) {
            if let Some(end) = find_from(&chars, i + 2, &['*', '*']) {
                push_plain(&mut plain, &mut spans);
                for (t, s) in parse_inline(&chars[i + 2..end].iter().collect::<String>()) {
                    let style = if s == Style::Plain { Style::Bold } else { s };
                    spans.push((t, style));
                }
                i = end + 2;
                continue;
            }
        }
        // Single * or _ emphasis, only at a word start so that `a*b` and snake_case survive.
        if (c == '*' || c == '_')
            && (i == 0 || !chars[i - 1].is_alphanumeric())
            && chars.get(i + 1).is_some_and(|n| !n.is_whitespace())
        {
            if let Some(end) = find_from(&chars, i + 1, &[c]) {
                if chars.get(end + 1).is_none_or(|n| !n.is_alphanumeric()) {
                    push_plain(&mut plain, &mut spans);
                    spans.push((chars[i + 1..end].iter().collect(), Style::Emph));
                    i = end + 1;
                    continue;
                }
            }
        }
        if c == '[' {
            if let Some(close) = find_from(&chars, i + 1, &[']']) {
                if chars.get(close + 1) == Some(&'(') {
                    if let Some(paren) = find_from(&chars, close + 2, &[')']) {
                        push_plain(&mut plain, &mut spans);
                        let label: String = chars[i + 1..close].iter().collect();
                        let url: String = chars[close + 2..paren].iter().collect();
                        spans.push((label.clone(), Style::Link));
                        // Relative links are lesson files: the name is enough in a terminal.
                        if url.starts_with("http") {
                            spans.push((format!(" ({url})"), Style::Plain));
                        }
                        i = paren + 1;
                        continue;
                    }
                }
            }
        }
        if c == '<' {
            if let Some(end) = find_from(&chars, i + 1, &['>']) {
                let tag: String = chars[i + 1..end].iter().collect();
                // An autolink, `<https://…>`: keep the address.
                if tag.starts_with("http") {
                    push_plain(&mut plain, &mut spans);
                    spans.push((tag, Style::Link));
                    i = end + 1;
                    continue;
                }
                if tag
                    .trim_start_matches('/')
                    .chars()
                    .next()
                    .is_some_and(|t| t.is_ascii_alphabetic())
                    && !tag.contains(' ')
                {
                    i = end + 1;
                    continue;
                }
            }
        }
        if c == '\\' && i + 1 < chars.len() && chars[i + 1].is_ascii_punctuation() {
            plain.push(chars[i + 1]);
            i += 2;
            continue;
        }
        plain.push(c);
        i += 1;
    }
    push_plain(&mut plain, &mut spans);
    spans
}

/// The index where `pattern` next occurs at or after `from`.
fn find_from(chars: &[char], from: usize, pattern: &[char]) -> Option<usize> {
    (from..chars.len()).find(|&j| chars[j..].starts_with(pattern))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(md: &str, answers: bool) -> String {
        render(
            md,
            &Options {
                width: 40,
                color: false,
                answers,
                number: 2,
            },
        )
    }

    #[test]
    fn answers_are_hidden_unless_asked_for() {
        let md = "Q?\n\n<details><summary>Answer</summary>\n\nTwo events.\n\n</details>\n";
        let hidden = plain(md, false);
        assert!(!hidden.contains("Two events"), "{hidden}");
        assert!(hidden.contains("lab lesson 2 --answers"), "{hidden}");
        let shown = plain(md, true);
        assert!(shown.contains("Two events"), "{shown}");
    }

    #[test]
    fn paragraphs_wrap_and_code_does_not() {
        let long = "word ".repeat(30);
        let md = format!(
            "{long}\n\n```sh\nlab clear --script 'send abc; wait 300; send def; wait 300'\n```\n"
        );
        let out = plain(&md, false);
        assert!(out
            .lines()
            .filter(|l| l.starts_with("word"))
            .all(|l| l.len() <= 40));
        assert!(out.contains("    lab clear --script 'send abc; wait 300; send def; wait 300'"));
    }

    #[test]
    fn comments_are_hidden_and_inline_styles_are_stripped_when_plain() {
        let out = plain("<!-- excerpt: lab flood => x -->\nA **bold** and *soft* `kevent` [man](https://x.y).\n", false);
        assert!(!out.contains("excerpt"));
        let joined = out.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(joined, "A bold and soft `kevent` man (https://x.y).");
    }

    /// Plain output has no escape at all. (The colours are checked through the binary, in
    /// `tests/lessons/listing.rs`: `colored`'s switch is process-wide, so no unit test sets it.)
    #[test]
    fn plain_has_no_escapes() {
        let md = "# Title\n\nSome `code`, **bold**, *soft* and [a link](https://x.y).\n";
        assert!(!plain(md, false).contains('\x1b'));
    }
}
