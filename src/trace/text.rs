//! The annotated text renderer: one readable block per kevent call.
//!
//! What it shows follows the checklist in the team's teaching notes ("What makes an
//! annotated trace readable"): names *and* hex for flags, changes in (`▸`) and events out (`◂`)
//! kept apart, time since the start and time blocked, fd and udata resolved to what they are
//! (`conn1`), `data` said in words, notes in plain language, error entries in red, the epoll
//! twin dimmed, and a flood of identical results collapsed into one live count.
//!
//! This is the only place (with `json.rs`) that decides how things look; colour is decided once,
//! when the sink is made (`--color`, NO_COLOR, a terminal or not).

use std::collections::HashMap;

use super::KnoteState;

use super::palette::{self, Style};
pub use super::words::group;
use super::words::{duration, plural, rate, seconds, wrap, wrap_hanging, wrap_list};
use super::{Entry, KeventCall, KnoteRow, LabeledKevent, Record, Role, Run, Summary};
use crate::kq::{self, Kevent};

/// Renders records as annotated text. Pure: it returns strings, so `lab replay` and the tests
/// can use it without a terminal.
pub struct TextRenderer {
    color: bool,
    show_os_calls: bool,
    /// udata value → what it stands for, learned from the changes that stored it (B4).
    udata_names: HashMap<usize, String>,
    /// The start record said `"backend":"epoll"`: the raw epoll server, whose calls are notes
    /// and whose summary counts epoll_wait calls, epoll_ctl calls and epoll events.
    raw_epoll: bool,
    /// Show the lab's own knotes (`signal`, `keys`, `wake`) everywhere (`--all-knotes`,
    /// `--os-calls`). Otherwise each is explained once and then kept out of the trace.
    all_knotes: bool,
    /// The lab's own knotes already explained (hidden mode).
    lab_knotes_told: Vec<Role>,
    /// The server's udata token (slot and generation) has been explained.
    token_told: bool,
    /// The last knote table received (every row), to tell a change from a request (`k`).
    last_table: Vec<KnoteRow>,
    /// A table was shown as its changed rows only: the summary shows it whole.
    table_abridged: bool,
    /// The terminal's width: notes wrap to it with a hanging indent. `None`: one line each
    /// (a pipe, a file, `lab replay`).
    width: Option<usize>,
}

/// A knote table this long or shorter is shown whole after every change; a longer one (an
/// `--external` run with many clients) shows only its changed rows, so the output grows with
/// the changes, not with the square of the connections (issue 14).
const SMALL_TABLE: usize = 8;
/// A wrapped change, event or epoll-twin line continues in this column: under its fields,
/// two columns past where they start, so the `▸`/`◂` column keeps only the markers.
const FIELDS: usize = 7;
/// At most this many rows of a knote table in one block; the rest is counted.
const MAX_TABLE_ROWS: usize = 40;

impl TextRenderer {
    pub fn new(color: bool, show_os_calls: bool) -> TextRenderer {
        TextRenderer {
            color,
            show_os_calls,
            udata_names: HashMap::new(),
            raw_epoll: false,
            all_knotes: false,
            lab_knotes_told: Vec::new(),
            token_told: false,
            last_table: Vec::new(),
            table_abridged: false,
            width: None,
        }
    }

    /// Show the lab's own knotes (`signal`, `keys`, `wake`) in every block and table.
    pub fn with_all_knotes(mut self, all: bool) -> TextRenderer {
        self.all_knotes = all;
        self
    }

    /// Wrap notes to `width` columns (a terminal); `None` keeps one line per note.
    pub fn set_width(&mut self, width: Option<usize>) {
        self.width = width;
    }

    /// The lab's own knotes, which the tutorial's server does not have: the self-pipe for
    /// Ctrl-C, the key reader's USER knote, the server's wake-up knote.
    fn is_lab_knote(&self, role: &Role) -> bool {
        !self.all_knotes && matches!(role, Role::Signal | Role::Keys | Role::Wake)
    }

    /// A call that only delivered the lab's own knotes (a key press, a wake-up) and says
    /// nothing else: it is left out of the trace unless `--all-knotes`.
    pub fn is_hidden(&self, call: &KeventCall) -> bool {
        !call.events.is_empty()
            && call.notes.is_empty()
            && call
                .changes
                .iter()
                .chain(&call.events)
                .all(|e| self.is_lab_knote(&e.label) && self.lab_knotes_told.contains(&e.label))
    }

    /// One note, `✎ text`, wrapped to the terminal's width with a hanging indent.
    fn note_lines(&self, text: &str) -> Vec<String> {
        const INDENT: &str = "     "; // under the text, past `   ✎ `
        let lines = match self.width {
            Some(width) if width > 20 => wrap(text, width - INDENT.len()),
            _ => vec![text.to_string()],
        };
        lines
            .iter()
            .enumerate()
            .map(|(i, line)| {
                if i == 0 {
                    format!("   {}", self.paint(Style::Yellow, &format!("✎ {line}")))
                } else {
                    format!("{INDENT}{}", self.paint(Style::Yellow, line))
                }
            })
            .collect()
    }

    /// A trace line as it fits the terminal: wrapped at spaces, the continuation lines
    /// indented by `indent` columns (under the line's fields, past its marker). One line when
    /// the width is unknown (a pipe, a file: one record per line for grep and scripts).
    fn fit(&self, line: String, indent: usize) -> Vec<String> {
        match self.width {
            Some(width) if width > 20 => wrap_hanging(&line, width, indent),
            _ => vec![line],
        }
    }

    /// A summary line, `head` and a list, as it fits the terminal: broken between the list's
    /// items and continued under itself. One line when the width is unknown.
    fn fit_list(&self, head: &str, items: Vec<String>) -> Vec<String> {
        match self.width {
            Some(width) if width > 20 => wrap_list(head, &items, width, head.chars().count() + 1),
            _ => vec![format!("{head} {}", items.join(", "))],
        }
    }

    fn paint(&self, style: Style, text: &str) -> String {
        palette::paint(self.color, style, text)
    }

    /// The lines for one entry (without line endings). A kevent record with `repeat > 1` is
    /// rendered in full, followed by its count line.
    pub fn render(&mut self, entry: &Entry) -> Vec<String> {
        match &entry.record {
            Record::Start {
                stage,
                backend,
                os,
                addr,
            } => {
                self.raw_epoll = backend == "epoll";
                let backend = if backend == "native" {
                    format!("native kqueue ({os})")
                } else if backend == "epoll" {
                    format!("raw epoll, no kqueue: the Part 6 baseline ({os})")
                } else {
                    format!("kqueue emulated over epoll, FreeBSD semantics ({os})")
                };
                let twin = if !self.show_os_calls {
                    ""
                } else if backend.starts_with("native") {
                    " · ≈ the system call"
                } else {
                    " · ≈ what the emulation did underneath (the epoll twin)"
                };
                let legend = if self.raw_epoll {
                    // No kevent blocks: every epoll_ctl and epoll_wait is written as a note.
                    "   legend: ✎ note, one for each epoll_ctl and epoll_wait call (no kevent, no \
                     changelist)"
                        .to_string()
                } else {
                    format!(
                        "   legend: ▸ change in · ◂ event out{twin} · ✎ note · ↻ identical calls collapsed"
                    )
                };
                let title = self.paint(Style::Bold, &format!("━━ lab {stage} ━━ {backend}"));
                let mut lines = self.fit(title, 3);
                lines.push(format!("   listening on {addr}"));
                // Continued under itself, past `legend:`.
                lines.extend(self.fit(self.paint(Style::Dim, &legend), "   legend: ".len()));
                if !self.show_os_calls && backend.starts_with("kqueue emulated") {
                    // Said once, so that a Linux and a macOS attendee see the same trace.
                    lines.push(self.paint(Style::Dim, "   the epoll calls underneath: --os-calls"));
                }
                lines
            }
            Record::Kevent(call) => {
                if self.is_hidden(call) {
                    return Vec::new();
                }
                let mut lines = self.kevent_block(entry.t, call);
                if call.repeat > 1 {
                    // A record that stands for several calls, met on its own: its count.
                    let mut collapse = super::Collapse::default();
                    collapse.offer(entry.t, call);
                    if let Some(run) = collapse.end() {
                        lines.push(self.repeat_line(&run, None));
                    }
                }
                lines
            }
            Record::Action {
                action,
                conn,
                bytes,
                ms,
            } => {
                let mut text = format!("» {action}");
                if let Some(ms) = ms {
                    text.push_str(&format!(" {ms} ms"));
                }
                if let Some(c) = conn {
                    text.push_str(&format!(" conn{c}"));
                }
                if let Some(b) = bytes {
                    text.push_str(&format!(
                        " ({} byte{})",
                        group(*b as u64),
                        plural(*b as u64)
                    ));
                }
                vec![format!(
                    "{} {}",
                    self.paint(Style::Dim, &format!("{:>8.3}s", entry.t)),
                    self.paint(Style::Magenta, &text)
                )]
            }
            Record::Note { text } => self.note_lines(text),
            Record::Knotes { knotes } => self.knotes_record(knotes),
            Record::Client {
                event,
                conn,
                reason,
            } => {
                let mut text = format!("client conn{conn} {event}");
                if let Some(r) = reason {
                    text.push_str(&format!(" ({})", r.as_str()));
                }
                vec![format!(
                    "{} {}",
                    self.paint(Style::Dim, &format!("{:>8.3}s", entry.t)),
                    self.paint(Style::Cyan, &text)
                )]
            }
            Record::Summary(summary) => {
                let mut lines = Vec::new();
                if std::mem::take(&mut self.table_abridged) {
                    // Only changed rows were shown along the way: the whole table once, at
                    // the end.
                    let table = self.last_table.clone();
                    lines.extend(self.knote_table(&table));
                }
                lines.extend(self.summary(summary));
                lines
            }
        }
    }

    /// The block for one kevent call: a header line, then the changes, the events, the epoll
    /// twin and the notes.
    pub fn kevent_block(&mut self, t: f64, call: &KeventCall) -> Vec<String> {
        if !self.all_knotes && call.events.is_empty() && call.changes.is_empty() {
            if let [note] = call.notes.as_slice() {
                if note.starts_with("kevent returned EINTR") {
                    // A window resize (SIGWINCH) in a terminal: one short line, not a block.
                    return vec![self.paint(
                        Style::Dim,
                        &format!("#{} +{t:.3}s kevent → EINTR (a signal, B11)", call.call),
                    )];
                }
            }
        }
        // Learn what each udata stands for from the changes that store it (B4).
        for change in &call.changes {
            if change.kevent.udata != 0 || change.label == Role::Listener {
                self.udata_names
                    .insert(change.kevent.udata, change.label.to_string());
            }
        }
        let timeout = match call.timeout_ms {
            None => "no timeout".to_string(),
            Some(0) => "timeout 0 (poll)".to_string(),
            Some(ms) => format!("timeout {} ms", group(ms)),
        };
        let n = call.events.len() as u64;
        let outcome = if call.nevents == 0 {
            "returns at once (empty eventlist)".to_string()
        } else if n == 0 && call.timeout_ms.is_some() && call.notes.is_empty() {
            format!(
                "→ 0 events: timed out after {}",
                duration(call.blocked_s / call.repeat as f64)
            )
        } else if n == 0 {
            format!(
                "→ 0 events, blocked {}",
                duration(call.blocked_s / call.repeat as f64)
            )
        } else {
            format!(
                "→ {} event{}, blocked {}",
                n,
                plural(n),
                duration(call.blocked_s / call.repeat as f64)
            )
        };
        let header = format!(
            "{} {} kevent({} change{} in, eventlist {}, {}) {}",
            self.paint(Style::Bold, &format!("#{}", call.call)),
            self.paint(Style::Dim, &format!("+{t:.3}s")),
            call.changes.len(),
            plural(call.changes.len() as u64),
            call.nevents,
            timeout,
            outcome
        );
        // Continued under `kevent(`, clear of the `▸`/`◂` column below.
        let mut lines = self.fit(header, format!("#{} +{t:.3}s ", call.call).len());
        let mut later = Vec::new();
        for change in &call.changes {
            if self.is_lab_knote(&change.label) {
                if !self.lab_knotes_told.contains(&change.label) {
                    self.lab_knotes_told.push(change.label.clone());
                    let line = format!("   ▸ {}", self.lab_knote_words(change));
                    lines.extend(self.fit(self.paint(Style::Dim, &line), FIELDS));
                }
                continue;
            }
            lines.extend(self.fit(format!("   ▸ {}", self.change_line(change)), FIELDS));
            if change.kevent.udata > u32::MAX as usize && !self.token_told {
                self.token_told = true;
                later.push(token_words(change.kevent.udata));
            }
        }
        for event in &call.events {
            if self.is_lab_knote(&event.label) {
                continue;
            }
            lines.extend(self.fit(format!("   ◂ {}", self.event_line(event)), FIELDS));
        }
        if self.show_os_calls && !call.os_calls.is_empty() {
            for os_call in &call.os_calls {
                let line = self.paint(Style::Dim, &format!("     ≈ {os_call}"));
                lines.extend(self.fit(line, FIELDS));
            }
        }
        for note in later.iter().chain(&call.notes) {
            lines.extend(self.note_lines(note));
        }
        lines
    }

    /// `READ conn1 (fd 7)`: the filter, what the ident is, and the ident itself.
    fn key(&self, e: &LabeledKevent) -> String {
        let filter = kq::filter_name(e.kevent.filter);
        let ident = if e.kevent.filter == kq::EVFILT_READ || e.kevent.filter == kq::EVFILT_WRITE {
            format!("fd {}", e.kevent.ident)
        } else {
            format!("ident {}", e.kevent.ident)
        };
        format!("{filter:<5} {} ({ident})", e.label)
    }

    /// The one line that stands for a lab knote's registration the first time it appears
    /// (then the knote is kept out of the trace; `--all-knotes` shows it).
    fn lab_knote_words(&self, change: &LabeledKevent) -> String {
        let what = match change.label {
            Role::Signal => "Ctrl-C's self-pipe",
            Role::Keys => "a key press wakes kevent, B24",
            _ => "another thread wakes kevent, B24",
        };
        format!(
            "{} the lab's own knote ({what}), not the tutorial's; hidden from now on \
             (--all-knotes)",
            self.key(change)
        )
    }

    fn udata_words(&self, udata: usize) -> String {
        match self.udata_names.get(&udata) {
            Some(name) => format!("udata={udata}→{name}"),
            None => format!("udata={udata}"),
        }
    }

    fn change_line(&self, change: &LabeledKevent) -> String {
        let k = &change.kevent;
        let mut text = format!("{} flags={}", self.key(change), kq::describe_flags(k.flags));
        if k.fflags != 0 {
            text.push_str(&format!(" fflags={:#x}", k.fflags));
        }
        if k.data != 0 {
            text.push_str(&format!(" data={}", k.data));
        }
        text.push(' ');
        text.push_str(&self.udata_words(k.udata));
        text
    }

    fn event_line(&self, event: &LabeledKevent) -> String {
        let k = &event.kevent;
        if k.is_error() {
            // An error or receipt entry (B7/B8): data is an errno, not a count.
            let what = if k.data == 0 {
                "receipt: the change succeeded".to_string()
            } else {
                format!(
                    "error {}: this change failed",
                    kq::errno_name(k.data as i32)
                )
            };
            let line = format!(
                "{} flags={} data={} {}  {}",
                self.key(event),
                kq::describe_flags(k.flags),
                k.data,
                self.udata_words(k.udata),
                what
            );
            return if k.data == 0 {
                line
            } else {
                self.paint(Style::Red, &line)
            };
        }
        let mut text = format!("{} flags={}", self.key(event), kq::describe_flags(k.flags));
        if k.fflags != 0 {
            text.push_str(&format!(" fflags={:#x}", k.fflags));
        }
        text.push_str(&format!(" data={} {}", k.data, self.udata_words(k.udata)));
        let words = data_words(event);
        if words.is_empty() {
            self.paint(Style::Green, &text)
        } else {
            format!(
                "{}  {}",
                self.paint(Style::Green, &text),
                self.paint(Style::Dim, &words)
            )
        }
    }

    /// The count line of a collapsed run: `↻ READ conn1 data=5 ×18,402 in 1.0 s (18,402/s)`.
    /// The count is every call of the run (those shown in full too), over the time from the
    /// start of its first call to the end of its latest. A run of several results (a
    /// round-robin rotation, B17) names each event once. `max_width` cuts the line to fit a
    /// terminal (a live count line is rewritten in place, which only works if it never wraps).
    pub fn repeat_line(&self, run: &Run, max_width: Option<usize>) -> String {
        /// More events than this are summed up as "+N more".
        const NAMED: usize = 4;
        let events = run.events();
        let mut what = if events.is_empty() {
            "no events".to_string()
        } else {
            events
                .iter()
                .take(NAMED)
                .map(|e| {
                    format!(
                        "{} {} data={}",
                        kq::filter_name(e.kevent.filter),
                        e.label,
                        e.kevent.data
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        if events.len() > NAMED {
            what.push_str(&format!(" +{} more", events.len() - NAMED));
        }
        let span = run.span();
        let mut text = format!("↻ {what} ×{} in {}", group(run.total), seconds(span));
        if span >= 0.01 {
            text.push_str(&format!(" ({}/s)", rate(run.total as f64 / span)));
        }
        if run.shapes.len() > 1 {
            text.push_str(&format!(
                " ({} results in rotation collapsed)",
                run.shapes.len()
            ));
        } else {
            text.push_str(" (identical calls collapsed)");
        }
        if let Some(w) = max_width {
            text = text.chars().take(w.saturating_sub(4)).collect();
        }
        format!("   {}", self.paint(Style::Cyan, &text))
    }

    /// A `knotes` record. A table that changed is shown whole while it is small, as its
    /// changed rows once it is long; a table that did not change was asked for (`k`) and is
    /// shown whole. Rows of the lab's own knotes are left out (unless `--all-knotes`), and a
    /// change to them alone shows nothing.
    fn knotes_record(&mut self, knotes: &[KnoteRow]) -> Vec<String> {
        let previous = std::mem::replace(&mut self.last_table, knotes.to_vec());
        let asked = !previous.is_empty() && previous == knotes;
        // (ident, filter) names one row at a time (a deleted row leaves when its ident is
        // reused): a map keeps the comparison linear in the table's length.
        let before: HashMap<(usize, &str), &KnoteRow> = previous
            .iter()
            .map(|r| ((r.ident, r.filter.as_str()), r))
            .collect();
        let visible: Vec<&KnoteRow> = knotes
            .iter()
            .filter(|r| !self.is_lab_knote(&r.label))
            .collect();
        let changed: Vec<KnoteRow> = visible
            .iter()
            .filter(|r| before.get(&(r.ident, r.filter.as_str())) != Some(*r))
            .map(|r| (*r).clone())
            .collect();
        let visible_before = previous
            .iter()
            .filter(|r| !self.is_lab_knote(&r.label))
            .count();
        if !asked && !previous.is_empty() && changed.is_empty() && visible_before == visible.len() {
            return Vec::new(); // only the lab's own knotes moved
        }
        if asked || visible.len() <= SMALL_TABLE || changed.is_empty() {
            return self.knote_table(knotes);
        }
        self.table_abridged = true;
        let title = format!(
            "   ┌ knotes that changed ({} of {}; k or the end of the run shows them all)",
            changed.len(),
            visible.len()
        );
        self.table_rows(&changed, title)
    }

    /// The knote table (opening 2): one row per (ident, filter), its mode and its state.
    pub fn knote_table(&self, knotes: &[KnoteRow]) -> Vec<String> {
        let rows: Vec<KnoteRow> = knotes
            .iter()
            .filter(|r| !self.is_lab_knote(&r.label))
            .cloned()
            .collect();
        let title = "   ┌ knotes: ident  label     filter  mode       state     udata".to_string();
        self.table_rows(&rows, title)
    }

    /// The rows under `title`, at most [`MAX_TABLE_ROWS`] of them.
    fn table_rows(&self, knotes: &[KnoteRow], title: String) -> Vec<String> {
        let mut lines = vec![self.paint(Style::Dim, &title)];
        if knotes.is_empty() {
            lines.push(self.paint(Style::Dim, "   └ (none)"));
            return lines;
        }
        let more = knotes.len().saturating_sub(MAX_TABLE_ROWS);
        let knotes = &knotes[..knotes.len() - more];
        for (i, row) in knotes.iter().enumerate() {
            let corner = if i + 1 == knotes.len() && more == 0 {
                "└"
            } else {
                "│"
            };
            let mode = if row.mode.is_empty() {
                "level".to_string()
            } else {
                row.mode.join("|")
            };
            let state = match row.state {
                KnoteState::Enabled => self.paint(Style::Green, &format!("{:<9}", "enabled")),
                KnoteState::Disabled => self.paint(Style::Yellow, &format!("{:<9}", "disabled")),
                KnoteState::Deleted => self.paint(Style::Red, &format!("{:<9}", "deleted")),
            };
            lines.push(format!(
                "   {corner}         {:<6} {:<9} {:<7} {:<10} {} {}",
                row.ident, row.label, row.filter, mode, state, row.udata
            ));
        }
        if more > 0 {
            lines.push(self.paint(
                Style::Dim,
                &format!(
                    "   └ … and {} more (the JSON trace lists every one)",
                    group(more as u64)
                ),
            ));
        }
        lines
    }

    /// The summary. On raw epoll the same counts are that API's: a call is an epoll_wait, a
    /// change an epoll_ctl, an event one reported item keyed by its mask (`conn2 OUT`).
    fn summary(&self, s: &Summary) -> Vec<String> {
        let (call, change, by, ratio) = if self.raw_epoll {
            (
                "epoll_wait call",
                "epoll_ctl call",
                "events by epoll item",
                "epoll_ctl calls per epoll_wait call",
            )
        } else {
            (
                "kevent call",
                "change",
                "events by knote",
                "changes per kevent call",
            )
        };
        let title = self.paint(
            Style::Bold,
            &format!(
                "━━ summary: {} {call}{}, {} {change}{}, {} event{}",
                group(s.kevent_calls),
                plural(s.kevent_calls),
                group(s.changes),
                plural(s.changes),
                group(s.events),
                plural(s.events)
            ),
        );
        let mut lines = self.fit(title, 3);
        let (shown, others) = s.shown_by_label();
        // The lab's own knotes (`keys USER`, `wake USER`, `signal READ`) stay out of this line
        // too, unless `--all-knotes`: the JSON summary keeps every one (contract). Raw epoll
        // keeps its `wake IN` item, which its notes show on every epoll_wait.
        let shown: Vec<&(String, u64)> = shown
            .iter()
            .filter(|(k, _)| {
                let label = k.split_whitespace().next().unwrap_or_default();
                self.raw_epoll || !self.is_lab_knote(&Role::parse(label))
            })
            .collect();
        if !shown.is_empty() {
            let mut parts: Vec<String> = shown
                .iter()
                .map(|(k, n)| format!("{k} ×{}", group(*n)))
                .collect();
            if let Some(others) = others {
                parts.push(format!(
                    "and {} other{} ×{}",
                    group(others.knotes),
                    plural(others.knotes),
                    group(others.events)
                ));
            }
            lines.extend(self.fit_list(&format!("   {by}:"), parts));
        }
        if let Some(server) = &s.server {
            let parts = vec![
                format!(
                    "{} message{} echoed",
                    group(server.messages),
                    plural(server.messages)
                ),
                format!("{:.2} {ratio}", server.changes_per_call),
                format!(
                    "listener disabled {} time{}",
                    group(server.listener_disabled),
                    plural(server.listener_disabled)
                ),
            ];
            lines.extend(self.fit_list("   server:", parts));
            if !server.closed_by.is_empty() {
                let parts: Vec<String> = server
                    .closed_by
                    .iter()
                    .map(|(reason, n)| format!("{} {}", group(*n), reason.as_str()))
                    .collect();
                lines.extend(self.fit_list("   clients closed:", parts));
            }
            if !server.last_closed.is_empty() {
                let parts: Vec<String> = server
                    .last_closed
                    .iter()
                    .map(|(conn, reason)| format!("conn{conn} {}", reason.as_str()))
                    .collect();
                lines.extend(self.fit_list("   last closed:", parts));
            }
            if server.shed > 0 {
                let line = format!(
                    "   {} connection{} shed: the memory budget was full (--memory-budget-mib)",
                    group(server.shed),
                    plural(server.shed)
                );
                lines.extend(self.fit(line, 5));
            }
        }
        lines
    }
}

/// What the server's udata token is, said the first time one appears.
fn token_words(udata: usize) -> String {
    let (slot, generation) = (udata as u64 & 0xffff_ffff, udata as u64 >> 32);
    format!(
        "udata {udata} is the server's token, slot {slot} gen {generation} (the generation in \
         the high 32 bits): not a pointer as in the Zig code, because a closed client's slot is \
         reused and the generation tells a stale event for the old client from the new one's \
         (errata 9)"
    )
}

/// `data` in words, per filter and per what the ident is (B13, B18, B19, B21, B23, B24).
fn data_words(event: &LabeledKevent) -> String {
    let k: &Kevent = &event.kevent;
    let n = k.data.max(0) as u64;
    let f = k.filter;
    if f == kq::EVFILT_READ && event.label == Role::Listener {
        format!(
            "{} connection{} waiting to be accepted",
            group(n),
            plural(n)
        )
    } else if f == kq::EVFILT_READ && event.label == Role::Signal {
        "SIGINT or SIGTERM: the signal handler wrote to this pipe (the self-pipe trick)".to_string()
    } else if f == kq::EVFILT_READ {
        if k.is_eof() {
            let err = if k.fflags != 0 {
                format!(" with error {}", kq::errno_name(k.fflags as i32))
            } else {
                String::new()
            };
            format!(
                "EOF: the peer closed{err}; {} unread byte{} left",
                group(n),
                plural(n)
            )
        } else if k.flags & kq::EV_ONESHOT != 0 {
            // Delivered as activated, not re-checked (B15): the server may have read them since.
            let were = if n == 1 { "was" } else { "were" };
            format!(
                "{} byte{} {were} waiting when it fired",
                group(n),
                plural(n)
            )
        } else {
            format!("{} byte{} waiting to be read", group(n), plural(n))
        }
    } else if f == kq::EVFILT_WRITE {
        if k.is_eof() {
            "EOF: this side can no longer send".to_string()
        } else {
            format!("{} byte{} free in the send buffer", group(n), plural(n))
        }
    } else if f == kq::EVFILT_TIMER {
        format!(
            "{} expiration{} since the last delivery",
            group(n),
            plural(n)
        )
    } else if f == kq::EVFILT_USER && event.label == Role::Keys {
        "the key reader triggered this knote: a key was pressed".to_string()
    } else if f == kq::EVFILT_USER {
        "triggered with NOTE_TRIGGER".to_string()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{KnoteState, Summary};

    fn conn1_read(data: i64, flags: u16) -> LabeledKevent {
        LabeledKevent {
            kevent: Kevent::new(7, kq::EVFILT_READ, flags)
                .with_fflags_data(0, data)
                .with_udata(7),
            label: crate::trace::Role::Conn(1),
        }
    }

    /// The text of `records`, rendered in order as one run, one line each.
    fn render_all(r: &mut TextRenderer, records: Vec<Record>) -> String {
        let lines: Vec<String> = records
            .into_iter()
            .flat_map(|record| r.render(&Entry { t: 1.0, record }))
            .collect();
        lines.join("\n")
    }

    fn call(changes: Vec<LabeledKevent>, events: Vec<LabeledKevent>, repeat: u64) -> KeventCall {
        KeventCall {
            call: 3,
            changes,
            nevents: 8,
            timeout_ms: Some(300),
            events,
            repeat,
            blocked_s: 0.0002,
            os_calls: vec![kq::OsCall {
                name: "epoll_wait",
                args: "epfd 3, 8, 300".to_string(),
                ret: "1 ready".to_string(),
            }],
            notes: vec!["ONESHOT deleted the knote".to_string()],
        }
    }

    #[test]
    fn a_kevent_block_decodes_changes_events_and_udata() {
        let mut r = TextRenderer::new(false, true);
        let c = call(
            vec![conn1_read(0, kq::EV_ADD | kq::EV_ONESHOT)],
            vec![conn1_read(5, kq::EV_ONESHOT)],
            1,
        );
        let text = r.kevent_block(0.5, &c).join("\n");
        assert!(
            text.contains("#3 +0.500s kevent(1 change in, eventlist 8, timeout 300 ms)"),
            "{text}"
        );
        assert!(
            text.contains("▸ READ  conn1 (fd 7) flags=0x11<ADD|ONESHOT> udata=7→conn1"),
            "{text}"
        );
        assert!(text.contains("◂ READ  conn1 (fd 7) flags=0x10<ONESHOT> data=5 udata=7→conn1  5 bytes were waiting when it fired"), "{text}");
        assert!(
            text.contains("≈ epoll_wait(epfd 3, 8, 300) = 1 ready"),
            "{text}"
        );
        assert!(text.contains("✎ ONESHOT deleted the knote"), "{text}");
        assert!(!text.contains('\x1b'), "no colour asked for: {text}");
    }

    #[test]
    fn the_epoll_twin_can_be_hidden_and_errors_are_red() {
        let mut r = TextRenderer::new(true, false);
        let mut err = conn1_read(libc::ENOENT as i64, kq::EV_ERROR);
        err.kevent.flags = kq::EV_ERROR;
        let c = call(vec![], vec![err], 1);
        let text = r.kevent_block(0.0, &c).join("\n");
        assert!(!text.contains("epoll_wait"), "{text}");
        assert!(text.contains("\x1b[31m"), "error entry in red: {text}");
        assert!(text.contains("error ENOENT"), "{text}");
    }

    #[test]
    fn a_collapsed_flood_reads_as_one_count_line() {
        let r = TextRenderer::new(false, true);
        let mut c = call(vec![], vec![conn1_read(5, 0)], 18_402);
        c.blocked_s = 0.0;
        let mut collapse = crate::trace::Collapse::default();
        collapse.offer(1.0, &c);
        let mut run = collapse.end().unwrap();
        run.start = 0.0;
        let line = r.repeat_line(&run, None);
        assert!(
            line.contains("↻ READ conn1 data=5 ×18,402 in 1.0 s (18,402/s)"),
            "{line}"
        );
    }

    /// An idle server wakes up every 999 ms with no events: three wake-ups read as three
    /// seconds, one a second, because the span starts when the first wait began.
    #[test]
    fn slow_repeats_read_at_their_own_pace() {
        let r = TextRenderer::new(false, true);
        let mut collapse = crate::trace::Collapse::default();
        for n in 1..=3u64 {
            let mut c = call(vec![], vec![], 1);
            c.call = n;
            c.blocked_s = 0.999;
            collapse.offer(n as f64 * 0.999, &c);
        }
        let line = r.repeat_line(&collapse.end().unwrap(), None);
        assert!(line.contains("↻ no events ×3 in 3.0 s (1.0/s)"), "{line}");
    }

    /// Nine ready knotes and an 8-entry eventlist: the calls rotate, and the count line names
    /// the run's events once each and says the results rotate.
    #[test]
    fn a_rotation_reads_as_one_count_line() {
        let r = TextRenderer::new(false, true);
        let mut collapse = crate::trace::Collapse::default();
        let ready = |conn: usize| LabeledKevent {
            kevent: Kevent::new(conn + 6, kq::EVFILT_READ, 0).with_fflags_data(0, 2),
            label: crate::trace::Role::Conn(conn),
        };
        for n in 0..90u64 {
            let events = (0..8).map(|k| ready(1 + (n as usize + k) % 9)).collect();
            let mut c = call(vec![], events, 1);
            c.call = n + 1;
            collapse.offer(n as f64 * 0.001, &c);
        }
        let line = r.repeat_line(&collapse.end().unwrap(), None);
        assert!(
            line.contains("READ conn1 data=2, READ conn2 data=2"),
            "{line}"
        );
        assert!(line.contains("+5 more ×90 in "), "{line}");
        assert!(line.contains("(9 results in rotation collapsed)"), "{line}");
    }

    #[test]
    fn every_record_kind_renders() {
        let mut r = TextRenderer::new(false, true);
        let records = vec![
            Record::Start {
                stage: "flood".into(),
                backend: "emulated".into(),
                os: "Linux".into(),
                addr: "127.0.0.1:5882".into(),
            },
            Record::Action {
                action: "send".into(),
                conn: Some(1),
                bytes: Some(5),
                ms: None,
            },
            Record::Action {
                action: "wait".into(),
                conn: None,
                bytes: None,
                ms: Some(300),
            },
            Record::Note {
                text: "hello".into(),
            },
            Record::Knotes {
                knotes: vec![KnoteRow {
                    ident: 7,
                    label: crate::trace::Role::Conn(1),
                    filter: "READ".into(),
                    mode: vec!["DISPATCH".into()],
                    state: KnoteState::Disabled,
                    udata: 7,
                }],
            },
            Record::Client {
                event: "closed".into(),
                conn: 2,
                reason: Some(super::super::CloseReason::Timeout),
            },
            Record::Summary(Summary {
                kevent_calls: 1234,
                changes: 2,
                events: 1230,
                by_label: vec![("conn1 READ".into(), 1229)],
                untracked: Default::default(),
                server: Some(super::super::ServerSummary {
                    messages: 4,
                    changes_per_call: 2.5,
                    listener_disabled: 1,
                    shed: 0,
                    closed_by: Vec::new(),
                    last_closed: Vec::new(),
                }),
            }),
        ];
        let text = render_all(&mut r, records);
        for want in [
            "━━ lab flood ━━ kqueue emulated over epoll",
            "listening on 127.0.0.1:5882",
            "» send conn1 (5 bytes)",
            "» wait 300 ms",
            "✎ hello",
            "conn1     READ    DISPATCH   disabled",
            "client conn2 closed (timeout)",
            "summary: 1,234 kevent calls, 2 changes, 1,230 events",
            "conn1 READ ×1,229",
            "4 messages echoed, 2.50 changes per kevent call, listener disabled 1 time",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
    }

    /// A person runs `lab server --backend epoll`: the legend and the summary speak of
    /// epoll_wait and epoll_ctl, never of kevent calls or changes per kevent call.
    #[test]
    fn a_raw_epoll_run_names_its_own_calls() {
        let mut r = TextRenderer::new(false, true);
        let records = vec![
            Record::Start {
                stage: "server".into(),
                backend: "epoll".into(),
                os: "Linux".into(),
                addr: "127.0.0.1:5882".into(),
            },
            Record::Summary(Summary {
                kevent_calls: 26,
                changes: 18,
                events: 28,
                by_label: vec![("conn2 OUT".into(), 6)],
                untracked: Default::default(),
                server: Some(super::super::ServerSummary {
                    messages: 20,
                    changes_per_call: 18.0 / 26.0,
                    listener_disabled: 0,
                    shed: 0,
                    closed_by: Vec::new(),
                    last_closed: Vec::new(),
                }),
            }),
        ];
        let text = render_all(&mut r, records);
        for want in [
            "one for each epoll_ctl and epoll_wait call",
            "summary: 26 epoll_wait calls, 18 epoll_ctl calls, 28 events",
            "events by epoll item: conn2 OUT ×6",
            "20 messages echoed, 0.69 epoll_ctl calls per epoll_wait call",
        ] {
            assert!(text.contains(want), "missing {want:?} in:\n{text}");
        }
        assert!(!text.contains("kevent call"), "{text}");
        assert!(!text.contains("the emulation did"), "{text}");
    }

    fn labeled(ident: usize, filter: i16, flags: u16, udata: usize, label: Role) -> LabeledKevent {
        LabeledKevent {
            kevent: Kevent::new(ident, filter, flags).with_udata(udata),
            label,
        }
    }

    fn bare_call(changes: Vec<LabeledKevent>, events: Vec<LabeledKevent>) -> KeventCall {
        KeventCall {
            notes: vec![],
            os_calls: vec![],
            ..call(changes, events, 1)
        }
    }

    /// The lab's `signal` and `keys` knotes: their registration is one explained line, the
    /// first time only; a call that only delivered a key press shows nothing; `--all-knotes`
    /// shows them like any other knote.
    #[test]
    fn the_labs_own_knotes_are_explained_once_then_left_out() {
        let mut r = TextRenderer::new(false, false);
        let first = bare_call(
            vec![
                labeled(3, kq::EVFILT_READ, kq::EV_ADD, 3, Role::Listener),
                labeled(6, kq::EVFILT_READ, kq::EV_ADD, 6, Role::Signal),
                labeled(1, kq::EVFILT_USER, kq::EV_ADD | kq::EV_CLEAR, 1, Role::Keys),
            ],
            vec![],
        );
        let text = r.kevent_block(0.0, &first).join("\n");
        assert_eq!(text.matches("the lab's own knote").count(), 2, "{text}");
        assert!(
            text.contains("▸ READ  listener (fd 3) flags=0x1<ADD>"),
            "{text}"
        );
        let key_press = bare_call(
            vec![],
            vec![labeled(1, kq::EVFILT_USER, kq::EV_CLEAR, 1, Role::Keys)],
        );
        assert!(r.is_hidden(&key_press));
        let entry = Entry {
            t: 1.0,
            record: Record::Kevent(key_press.clone()),
        };
        assert!(r.render(&entry).is_empty());
        let again = r.kevent_block(2.0, &first).join("\n");
        assert!(
            !again.contains("signal") && !again.contains("keys"),
            "{again}"
        );

        let mut all = TextRenderer::new(false, false).with_all_knotes(true);
        let text = all.kevent_block(0.0, &first).join("\n");
        assert!(
            text.contains("▸ READ  signal (fd 6) flags=0x1<ADD>"),
            "{text}"
        );
        assert!(!all.is_hidden(&key_press));
    }

    /// A person ends an interactive `lab flood` after a few key presses: the text summary's
    /// `events by knote` line names the stage's knotes, not the lab's own `keys`, `wake` and
    /// `signal` ones; with `--all-knotes` (or `--os-calls`) it names them all.
    #[test]
    fn the_labs_own_knotes_stay_out_of_the_text_summary() {
        let summary = Record::Summary(Summary {
            kevent_calls: 9,
            changes: 4,
            events: 9,
            by_label: vec![
                ("listener READ".into(), 1),
                ("keys USER".into(), 3),
                ("conn1 READ".into(), 4),
                ("wake USER".into(), 1),
                ("signal READ".into(), 1),
            ],
            untracked: Default::default(),
            server: None,
        });
        let by_knote = |r: &mut TextRenderer| {
            let text = render_all(r, vec![summary.clone()]);
            text.lines()
                .find(|l| l.contains("events by knote:"))
                .unwrap_or_else(|| panic!("no `events by knote` line in:\n{text}"))
                .to_string()
        };
        let line = by_knote(&mut TextRenderer::new(false, false));
        assert!(line.contains("listener READ ×1, conn1 READ ×4"), "{line}");
        for own in ["keys", "wake", "signal"] {
            assert!(!line.contains(own), "{line}");
        }
        let line = by_knote(&mut TextRenderer::new(false, false).with_all_knotes(true));
        for own in [
            "keys USER ×3",
            "wake USER ×1",
            "signal READ ×1",
            "conn1 READ ×4",
        ] {
            assert!(line.contains(own), "{line}");
        }
    }

    /// A window resize interrupts the wait: one short line, not a block with a note.
    #[test]
    fn an_eintr_is_one_short_line() {
        let mut r = TextRenderer::new(false, false);
        let mut c = bare_call(vec![], vec![]);
        c.notes = vec![
            "kevent returned EINTR: a signal arrived during the wait (B11); the \
                        changes were applied and are not resubmitted"
                .to_string(),
        ];
        let lines = r.kevent_block(4.0, &c);
        assert_eq!(
            lines,
            vec!["#3 +4.000s kevent → EINTR (a signal, B11)".to_string()]
        );
    }

    /// The server's first large udata is explained once, as a slot and a generation.
    #[test]
    fn the_servers_token_is_explained_the_first_time() {
        let mut r = TextRenderer::new(false, false);
        let token = (1usize << 32) | 2;
        let c = bare_call(
            vec![labeled(
                12,
                kq::EVFILT_READ,
                kq::EV_ADD,
                token,
                Role::Conn(3),
            )],
            vec![],
        );
        let text = r.kevent_block(0.0, &c).join("\n");
        assert!(text.contains("udata=4294967298→conn3"), "{text}");
        assert!(
            text.contains("slot 2 gen 1") && text.contains("not a pointer"),
            "{text}"
        );
        let again = r.kevent_block(0.0, &c).join("\n");
        assert!(!again.contains("not a pointer"), "{again}");
    }

    fn row(ident: usize, n: usize, state: KnoteState) -> KnoteRow {
        KnoteRow {
            ident,
            label: Role::Conn(n),
            filter: "READ".into(),
            mode: vec!["ONESHOT".into()],
            state,
            udata: ident,
        }
    }

    /// A long table shows only its changed rows, at most MAX_TABLE_ROWS rows a block; the same
    /// table again (`k`) is shown whole, and the summary brings the whole table once.
    #[test]
    fn a_long_knote_table_shows_its_changes_and_is_capped() {
        let mut r = TextRenderer::new(false, false);
        let mut rows: Vec<KnoteRow> = (1..=60)
            .map(|n| row(n + 10, n, KnoteState::Enabled))
            .collect();
        let knotes = |rows: &Vec<KnoteRow>| Record::Knotes {
            knotes: rows.clone(),
        };
        let first = render_all(&mut r, vec![knotes(&rows)]);
        assert!(first.contains("… and 20 more"), "{first}");
        rows[4].state = KnoteState::Deleted;
        let changed = render_all(&mut r, vec![knotes(&rows)]);
        assert!(
            changed.contains("knotes that changed (1 of 60"),
            "{changed}"
        );
        assert_eq!(changed.lines().count(), 2, "{changed}");
        let asked = render_all(&mut r, vec![knotes(&rows)]);
        assert!(
            asked.contains("┌ knotes: ident") && asked.contains("… and 20 more"),
            "{asked}"
        );
        let end = render_all(&mut r, vec![Record::Summary(Summary::default())]);
        assert!(end.contains("┌ knotes: ident"), "{end}");
    }

    /// In a terminal, a note wraps at spaces under its text.
    #[test]
    fn notes_wrap_with_a_hanging_indent() {
        let mut r = TextRenderer::new(false, false);
        r.set_width(Some(40));
        let text = "one two three four five six seven eight nine ten eleven twelve";
        let lines = r.note_lines(text);
        assert!(lines.len() > 1);
        assert!(lines[0].starts_with("   ✎ one"));
        assert!(lines[1..]
            .iter()
            .all(|l| l.starts_with("     ") && !l.starts_with("      ")));
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:?}");
        r.set_width(None);
        assert_eq!(r.note_lines(text).len(), 1);
    }

    /// In an 80-column terminal, a long event line (an EOF on a server connection, with its
    /// token and its words) wraps at its spaces: the `◂` stays alone in its column and the rest
    /// continues under the fields; piped, the same event is one line.
    #[test]
    fn an_event_line_wraps_under_its_fields_at_80_columns() {
        let token = (1usize << 32) | 12;
        let eof = labeled(
            15,
            kq::EVFILT_READ,
            kq::EV_EOF | kq::EV_ONESHOT,
            token,
            Role::Conn(12),
        );
        let mut add = eof.clone();
        add.kevent.flags = kq::EV_ADD | kq::EV_ONESHOT;
        let c = bare_call(vec![add], vec![eof]);
        for color in [false, true] {
            let mut r = TextRenderer::new(color, false);
            r.set_width(Some(80));
            let lines = r.kevent_block(123.456, &c);
            let event = lines.iter().position(|l| l.contains('◂')).unwrap();
            let rest = &lines[event + 1..];
            // The line as it shows: without its colour codes.
            let plain = |l: &String| {
                let mut shown = String::new();
                let mut in_code = false;
                for c in l.chars() {
                    match (c, in_code) {
                        ('\x1b', _) => in_code = true,
                        (c, true) => in_code = !c.is_ascii_alphabetic(),
                        (c, false) => shown.push(c),
                    }
                }
                shown
            };
            assert!(plain(&lines[event]).starts_with("   ◂ READ  conn12 (fd 15) flags="));
            assert!(!rest.is_empty(), "{lines:#?}");
            let continued = plain(&rest[0]);
            assert!(continued.starts_with("       ") && !continued.starts_with("        "));
            assert!(
                !continued.contains('◂') && !continued.contains('▸'),
                "{lines:#?}"
            );
            for line in &lines {
                assert!(super::super::words::visible_width(line) <= 80, "{lines:#?}");
            }
            let words = |ls: &[String]| -> Vec<String> {
                ls.iter()
                    .map(plain)
                    .collect::<Vec<_>>()
                    .join(" ")
                    .split_whitespace()
                    .map(String::from)
                    .collect()
            };
            let mut piped = TextRenderer::new(color, false);
            let one = piped.kevent_block(123.456, &c);
            assert_eq!(words(&lines), words(&one), "the same words, only broken");
            assert!(one.iter().any(|l| plain(l).chars().count() > 80));
        }
    }

    /// The summary's knote list at 80 columns breaks between knotes (`conn7 READ ×2` stays
    /// whole) and continues under itself, past `events by knote:`.
    #[test]
    fn a_summary_line_wraps_between_knotes_at_80_columns() {
        let by_label: Vec<(String, u64)> = (1..=12)
            .map(|n| (format!("conn{n} READ"), 1000 + n))
            .collect();
        let summary = Summary {
            kevent_calls: 40,
            changes: 30,
            events: 12_078,
            by_label,
            ..Summary::default()
        };
        let mut r = TextRenderer::new(false, false);
        r.set_width(Some(80));
        let text = render_all(&mut r, vec![Record::Summary(summary.clone())]);
        let lines: Vec<&str> = text.lines().collect();
        let first = lines
            .iter()
            .position(|l| l.contains("events by knote:"))
            .unwrap();
        assert!(lines[first].starts_with("   events by knote: conn1 READ ×1,001,"));
        let indent = "   events by knote: ".len();
        let continued = &lines[first + 1..];
        assert!(!continued.is_empty(), "{text}");
        for line in continued {
            assert!(line.starts_with(&" ".repeat(indent)), "{text}");
            assert!(
                line.trim_start().starts_with("conn"),
                "breaks between knotes: {text}"
            );
        }
        assert!(lines.iter().all(|l| l.chars().count() <= 80), "{text}");
        let mut piped = TextRenderer::new(false, false);
        let one = render_all(&mut piped, vec![Record::Summary(summary)]);
        let joined: String = continued.iter().map(|l| format!(" {}", l.trim())).collect();
        assert!(one.contains(&format!("{}{joined}", lines[first])), "{one}");
    }

    #[test]
    fn numbers_are_grouped() {
        assert_eq!(group(0), "0");
        assert_eq!(group(999), "999");
        assert_eq!(group(1000), "1,000");
        assert_eq!(group(18402), "18,402");
        assert_eq!(group(1234567), "1,234,567");
    }
}
