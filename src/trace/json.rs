//! The JSON trace: one object a line, each with `t` and `type` (contract: "JSON trace"),
//! written for `--json` and read back for `lab replay` (and the tests), with serde.
//!
//! The records are mapped to a wire form ([`Line`]) whose fields are declared in the contract's
//! order, so serde writes them in that order. Two details keep the bytes what they always were:
//! floats are written by Rust's own formatting (`0.000005`, never `5e-6`; see [`LabFloats`]),
//! and the summary's `by_label` is a JSON object kept in first-seen order ([`ByLabel`]).
//!
//! Beyond the contract's fields, a `kevent` record also carries `blocked_s` (seconds inside the
//! call, summed over a collapsed run) and `os_calls` (the epoll twin, as text), so that
//! `lab replay` can redraw the annotated text. The call's notes follow it as `note` records.
//!
//! Names travel, numbers do not: a trace stores filters and flags by name (`READ`, `ONESHOT`),
//! and reading maps them to this machine's constants, so a macOS trace redraws correctly on
//! Linux even where the numeric values differ (pitfall P8).

use std::io::{self, Write};

use serde::{Deserialize, Serialize};

use super::sink_output::Backlog;
use super::{
    CloseReason, Entry, KeventCall, KnoteRow, KnoteState, LabeledKevent, OtherKnotes, Record, Role,
    ServerSummary, Summary,
};
use crate::kq::{self, Kevent, OsCall};

/// One line of the trace as it is written: `t`, then the record with its `type`.
#[derive(Serialize, Deserialize)]
pub struct Line {
    t: f64,
    #[serde(flatten)]
    record: Wire,
}

/// The records in the contract's shape, fields in the contract's order.
#[derive(Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
enum Wire {
    Start {
        stage: String,
        backend: String,
        os: String,
        addr: String,
    },
    Kevent {
        call: u64,
        changes: Vec<WireKevent>,
        nevents: usize,
        timeout_ms: Option<u64>,
        events: Vec<WireKevent>,
        #[serde(default = "one")]
        repeat: u64,
        #[serde(default, deserialize_with = "null_as_zero")]
        blocked_s: f64,
        #[serde(default)]
        os_calls: Vec<String>,
    },
    Action {
        action: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        conn: Option<usize>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        bytes: Option<usize>,
        /// Traces written before `ms` existed have none: their waits replay as `» wait`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
    },
    Note {
        text: String,
    },
    Knotes {
        knotes: Vec<WireKnote>,
    },
    Client {
        event: String,
        conn: usize,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<WireReason>,
    },
    Summary {
        kevent_calls: u64,
        changes: u64,
        events: u64,
        by_label: ByLabel,
        /// The knotes left out of `by_label` (more than `BY_LABEL_SHOWN`), added up: an
        /// extension of the contract, absent when nothing was left out.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by_label_others: Option<WireOthers>,
        #[serde(flatten)]
        server: Option<WireServer>,
    },
}

/// A measured number in the reports of `lab bench`, `lab check` and `lab selftest`, rounded to
/// three decimals: `null` when not finite, and written without a fraction when it has none
/// (`0`, not `0.0`), as those reports have always written it.
#[derive(Clone, Copy, Debug)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let rounded = (self.0 * 1000.0).round() / 1000.0;
        if !rounded.is_finite() {
            serializer.serialize_none()
        } else if rounded.fract() == 0.0 && rounded.abs() < 9.0e15 {
            serializer.serialize_i64(rounded as i64)
        } else {
            serializer.serialize_f64(rounded)
        }
    }
}

/// Named [`Num`]s as a JSON object whose keys keep their order (`{"read":1,"write":0.5}`);
/// with `#[serde(flatten)]`, as fields of the enclosing object.
pub struct Numbers(pub Vec<(&'static str, f64)>);

impl Serialize for Numbers {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, &Num(*value))?;
        }
        map.end()
    }
}

fn one() -> u64 {
    1
}

/// `blocked_s` may be missing or `null` (a non-finite time): both read as 0.
fn null_as_zero<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(0.0))
}

/// A kevent entry: `{"ident", "label", "filter": "READ", "flags": ["ADD"], "fflags", "data",
/// "udata"}`.
#[derive(Serialize, Deserialize)]
struct WireKevent {
    ident: usize,
    label: String,
    filter: String,
    flags: Vec<String>,
    fflags: u32,
    data: i64,
    udata: usize,
}

#[derive(Serialize, Deserialize)]
struct WireKnote {
    ident: usize,
    label: String,
    filter: String,
    mode: Vec<String>,
    state: WireState,
    udata: usize,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum WireState {
    Enabled,
    Disabled,
    Deleted,
}

#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum WireReason {
    Eof,
    Timeout,
    TooLarge,
    Reset,
    Error,
}

fn wire_reason(reason: CloseReason) -> WireReason {
    match reason {
        CloseReason::Eof => WireReason::Eof,
        CloseReason::Timeout => WireReason::Timeout,
        CloseReason::TooLarge => WireReason::TooLarge,
        CloseReason::Reset => WireReason::Reset,
        CloseReason::Error => WireReason::Error,
    }
}

fn close_reason(reason: WireReason) -> CloseReason {
    match reason {
        WireReason::Eof => CloseReason::Eof,
        WireReason::Timeout => CloseReason::Timeout,
        WireReason::TooLarge => CloseReason::TooLarge,
        WireReason::Reset => CloseReason::Reset,
        WireReason::Error => CloseReason::Error,
    }
}

#[derive(Serialize, Deserialize)]
struct WireServer {
    messages: u64,
    changes_per_call: f64,
    listener_disabled: u64,
    #[serde(default, skip_serializing_if = "is_zero")]
    shed: u64,
    /// Closes by reason, in `CloseReason` order (an object `{"eof": 118, "timeout": 2}`).
    #[serde(default, skip_serializing_if = "ClosedBy::is_empty")]
    closed_by: ClosedBy,
    /// The last clients closed, oldest first: `[{"conn": 118, "reason": "eof"}, ...]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    last_closed: Vec<WireClosed>,
}

#[derive(Serialize, Deserialize)]
struct WireClosed {
    conn: usize,
    reason: WireReason,
}

/// `reason` → count, as a JSON object in `CloseReason` order.
#[derive(Default)]
struct ClosedBy(Vec<(CloseReason, u64)>);

impl ClosedBy {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for ClosedBy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(reason, n)| (reason.as_str(), n)))
    }
}

impl<'de> Deserialize<'de> for ClosedBy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ClosedBy, D::Error> {
        let counts = ByLabel::deserialize(d)?;
        let mut closed = Vec::new();
        for (name, n) in counts.0 {
            let reason = match name.as_str() {
                "eof" => CloseReason::Eof,
                "timeout" => CloseReason::Timeout,
                "too_large" => CloseReason::TooLarge,
                "reset" => CloseReason::Reset,
                "error" => CloseReason::Error,
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown close reason {other:?}"
                    )))
                }
            };
            closed.push((reason, n));
        }
        Ok(ClosedBy(closed))
    }
}

#[derive(Serialize, Deserialize)]
struct WireOthers {
    knotes: u64,
    events: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// `"<label> <FILTER>"` → count, as a JSON object in first-seen order (serde_json's own map
/// would sort it).
struct ByLabel(Vec<(String, u64)>);

impl Serialize for ByLabel {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, n)| (k, n)))
    }
}

impl<'de> Deserialize<'de> for ByLabel {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ByLabel, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = ByLabel;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a by_label object of counts")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ByLabel, A::Error> {
                let mut counts = Vec::new();
                while let Some((k, n)) = map.next_entry::<String, u64>()? {
                    counts.push((k, n));
                }
                Ok(ByLabel(counts))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// serde_json writes floats in their shortest round-trip form, which turns 0.000005 into
/// `5e-6`; the contract's times have always been written by Rust's `Display`, which never uses
/// an exponent. This formatter keeps that.
struct LabFloats;

impl serde_json::ser::Formatter for LabFloats {
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        write!(w, "{value}")
    }
}

/// Microseconds are the trace's resolution.
fn micros(seconds: f64) -> f64 {
    (seconds * 1e6).round() / 1e6
}

fn to_wire_kevent(e: &LabeledKevent) -> WireKevent {
    let k = e.kevent;
    WireKevent {
        ident: k.ident,
        label: e.label.to_string(),
        filter: kq::filter_name(k.filter),
        flags: kq::flag_names(k.flags)
            .iter()
            .map(|f| f.to_string())
            .collect(),
        fflags: k.fflags,
        data: k.data,
        udata: k.udata,
    }
}

fn to_wire(record: &Record) -> Wire {
    match record {
        Record::Start {
            stage,
            backend,
            os,
            addr,
        } => Wire::Start {
            stage: stage.clone(),
            backend: backend.clone(),
            os: os.clone(),
            addr: addr.clone(),
        },
        Record::Kevent(call) => Wire::Kevent {
            call: call.call,
            changes: call.changes.iter().map(to_wire_kevent).collect(),
            nevents: call.nevents,
            timeout_ms: call.timeout_ms,
            events: call.events.iter().map(to_wire_kevent).collect(),
            repeat: call.repeat,
            blocked_s: micros(call.blocked_s),
            os_calls: call.os_calls.iter().map(ToString::to_string).collect(),
        },
        Record::Action {
            action,
            conn,
            bytes,
            ms,
        } => Wire::Action {
            action: action.clone(),
            conn: *conn,
            bytes: *bytes,
            ms: *ms,
        },
        Record::Note { text } => Wire::Note { text: text.clone() },
        Record::Knotes { knotes } => Wire::Knotes {
            knotes: knotes
                .iter()
                .map(|row| WireKnote {
                    ident: row.ident,
                    label: row.label.to_string(),
                    filter: row.filter.clone(),
                    mode: row.mode.clone(),
                    state: match row.state {
                        KnoteState::Enabled => WireState::Enabled,
                        KnoteState::Disabled => WireState::Disabled,
                        KnoteState::Deleted => WireState::Deleted,
                    },
                    udata: row.udata,
                })
                .collect(),
        },
        Record::Client {
            event,
            conn,
            reason,
        } => Wire::Client {
            event: event.clone(),
            conn: *conn,
            reason: reason.map(wire_reason),
        },
        Record::Summary(s) => {
            let (shown, others) = s.shown_by_label();
            Wire::Summary {
                kevent_calls: s.kevent_calls,
                changes: s.changes,
                events: s.events,
                by_label: ByLabel(shown),
                by_label_others: others.map(|o| WireOthers {
                    knotes: o.knotes,
                    events: o.events,
                }),
                server: s.server.as_ref().map(|server| WireServer {
                    messages: server.messages,
                    changes_per_call: server.changes_per_call,
                    listener_disabled: server.listener_disabled,
                    shed: server.shed,
                    closed_by: ClosedBy(server.closed_by.clone()),
                    last_closed: server
                        .last_closed
                        .iter()
                        .map(|&(conn, reason)| WireClosed {
                            conn,
                            reason: wire_reason(reason),
                        })
                        .collect(),
                }),
            }
        }
    }
}

/// One JSON line, without its end of line.
fn line(t: f64, record: &Record) -> String {
    let line = Line {
        t: micros(t),
        record: to_wire(record),
    };
    let mut out = Vec::with_capacity(160);
    let mut ser = serde_json::Serializer::with_formatter(&mut out, LabFloats);
    line.serialize(&mut ser)
        .expect("a trace record always serialises: plain fields, string keys");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The JSON lines for one entry: usually one, plus one `note` line per note of a kevent call.
pub fn render(entry: &Entry) -> Vec<String> {
    let mut lines = vec![line(entry.t, &entry.record)];
    if let Record::Kevent(call) = &entry.record {
        for note in &call.notes {
            lines.push(line(entry.t, &Record::Note { text: note.clone() }));
        }
    }
    lines
}

/// The longest trace line `lab replay` reads: far above any record the lab writes (a knote
/// table of thousands of connections), far below what would exhaust memory (`/dev/zero`).
pub const MAX_LINE_BYTES: usize = 4 << 20;

/// Reads a JSON-lines trace record by record, in constant memory (one line, one entry held
/// back). Blank lines are skipped. A `note` that follows a `kevent` record at the same time is
/// that call's note (the JSON renderer writes a call's notes as `note` records right after
/// it), so it is put back inside the call.
///
/// An error names the line: `line 3: expected valid JSON: ... at column 17`.
pub struct TraceReader<R> {
    input: R,
    line_number: usize,
    line: Vec<u8>,
    /// The entry read but not yet handed out (a kevent record may still get notes).
    held: Option<Entry>,
    done: bool,
}

impl<R: io::BufRead> TraceReader<R> {
    pub fn new(input: R) -> TraceReader<R> {
        TraceReader {
            input,
            line_number: 0,
            line: Vec::new(),
            held: None,
            done: false,
        }
    }

    /// The next non-blank line's entry, `None` at the end.
    fn next_line(&mut self) -> Result<Option<Entry>, String> {
        loop {
            self.line.clear();
            self.line_number += 1;
            let limit = MAX_LINE_BYTES as u64 + 1;
            let n = io::BufRead::read_until(
                &mut io::Read::take(&mut self.input, limit),
                b'\n',
                &mut self.line,
            )
            .map_err(|err| format!("line {}: cannot read: {err}", self.line_number))?;
            if n == 0 {
                return Ok(None);
            }
            if self.line.len() > MAX_LINE_BYTES {
                return Err(format!(
                    "line {} is longer than {} MiB: not a trace written by `lab <stage> --json`",
                    self.line_number,
                    MAX_LINE_BYTES >> 20
                ));
            }
            let text = std::str::from_utf8(&self.line).map_err(|_| {
                format!(
                    "line {} is not text; give a file written by `lab <stage> --json`",
                    self.line_number
                )
            })?;
            if text.trim().is_empty() {
                continue;
            }
            return parse_entry(text.trim_end_matches(['\n', '\r']))
                .map(Some)
                .map_err(|err| format!("line {}: {err}", self.line_number));
        }
    }
}

impl<R: io::BufRead> Iterator for TraceReader<R> {
    type Item = Result<Entry, String>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            let entry = match self.next_line() {
                Ok(Some(entry)) => entry,
                Ok(None) => {
                    self.done = true;
                    return self.held.take().map(Ok);
                }
                Err(err) => {
                    self.done = true;
                    return Some(Err(err));
                }
            };
            if let (
                Record::Note { text },
                Some(Entry {
                    t,
                    record: Record::Kevent(call),
                }),
            ) = (&entry.record, self.held.as_mut())
            {
                if *t == entry.t {
                    call.notes.push(text.clone());
                    continue;
                }
            }
            match self.held.replace(entry) {
                Some(ready) => return Some(Ok(ready)),
                None => continue,
            }
        }
    }
}

/// Parse a whole JSON-lines trace held in memory (see [`TraceReader`]).
pub fn parse_trace(text: &str) -> Result<Vec<Entry>, String> {
    let entries = TraceReader::new(text.as_bytes()).collect::<Result<Vec<Entry>, String>>()?;
    if entries.is_empty() {
        return Err("no trace records; give a file written by `lab <stage> --json`".to_string());
    }
    Ok(entries)
}

/// Parse one line of the trace into an entry.
pub fn parse_entry(text: &str) -> Result<Entry, String> {
    let line: Line = serde_json::from_str(text).map_err(|err| {
        let what = err.to_string();
        // serde_json says "at line 1 column N"; the caller names the line.
        let what = what
            .rsplit_once(" at line ")
            .map_or(what.as_str(), |(w, _)| w);
        if let Some(kind) = unknown_record_type(what) {
            format!("unknown record type \"{kind}\"")
        } else if err.is_data() {
            format!("{what} (column {})", err.column())
        } else {
            format!("expected valid JSON: {what} at column {}", err.column())
        }
    })?;
    Ok(Entry {
        t: line.t,
        record: from_wire(line.record)?,
    })
}

/// serde's words for a `type` that is not one of the records, turned back into the lab's.
fn unknown_record_type(what: &str) -> Option<&str> {
    let rest = what.strip_prefix("unknown variant `")?;
    let (kind, expected) = rest.split_once('`')?;
    expected.contains("`start`").then_some(kind)
}

fn from_wire_kevent(w: WireKevent) -> Result<LabeledKevent, String> {
    let mut flags = 0u16;
    for name in &w.flags {
        flags |= flag_value(name)?;
    }
    Ok(LabeledKevent {
        kevent: Kevent {
            ident: w.ident,
            filter: filter_value(&w.filter)?,
            flags,
            fflags: w.fflags,
            data: w.data,
            udata: w.udata,
        },
        label: Role::parse(&w.label),
    })
}

fn from_wire_kevents(list: Vec<WireKevent>) -> Result<Vec<LabeledKevent>, String> {
    list.into_iter().map(from_wire_kevent).collect()
}

fn from_wire(wire: Wire) -> Result<Record, String> {
    Ok(match wire {
        Wire::Start {
            stage,
            backend,
            os,
            addr,
        } => Record::Start {
            stage,
            backend,
            os,
            addr,
        },
        Wire::Kevent {
            call,
            changes,
            nevents,
            timeout_ms,
            events,
            repeat,
            blocked_s,
            os_calls,
        } => Record::Kevent(KeventCall {
            call,
            changes: from_wire_kevents(changes)?,
            nevents,
            timeout_ms,
            events: from_wire_kevents(events)?,
            repeat,
            blocked_s,
            os_calls: os_calls.iter().map(|c| parse_os_call(c)).collect(),
            notes: Vec::new(),
        }),
        Wire::Action {
            action,
            conn,
            bytes,
            ms,
        } => Record::Action {
            action,
            conn,
            bytes,
            ms,
        },
        Wire::Note { text } => Record::Note { text },
        Wire::Knotes { knotes } => Record::Knotes {
            knotes: knotes
                .into_iter()
                .map(|w| KnoteRow {
                    ident: w.ident,
                    label: Role::parse(&w.label),
                    filter: w.filter,
                    mode: w.mode,
                    state: match w.state {
                        WireState::Enabled => KnoteState::Enabled,
                        WireState::Disabled => KnoteState::Disabled,
                        WireState::Deleted => KnoteState::Deleted,
                    },
                    udata: w.udata,
                })
                .collect(),
        },
        Wire::Client {
            event,
            conn,
            reason,
        } => Record::Client {
            event,
            conn,
            reason: reason.map(close_reason),
        },
        Wire::Summary {
            kevent_calls,
            changes,
            events,
            by_label,
            by_label_others,
            server,
        } => Record::Summary(Summary {
            kevent_calls,
            changes,
            events,
            by_label: by_label.0,
            // The knotes the summary added up come back as one aggregate (shown the same way).
            untracked: by_label_others
                .map(|o| OtherKnotes {
                    knotes: o.knotes,
                    events: o.events,
                })
                .unwrap_or_default(),
            server: server.map(|w| ServerSummary {
                messages: w.messages,
                changes_per_call: w.changes_per_call,
                listener_disabled: w.listener_disabled,
                shed: w.shed,
                closed_by: w.closed_by.0,
                last_closed: w
                    .last_closed
                    .into_iter()
                    .map(|c| (c.conn, close_reason(c.reason)))
                    .collect(),
            }),
        }),
    })
}

/// `READ` → EVFILT_READ on this machine; `FILTER(-5)` (a filter the lab does not name) → -5.
fn filter_value(name: &str) -> Result<i16, String> {
    Ok(match name {
        "READ" => kq::EVFILT_READ,
        "WRITE" => kq::EVFILT_WRITE,
        "TIMER" => kq::EVFILT_TIMER,
        "USER" => kq::EVFILT_USER,
        other => other
            .strip_prefix("FILTER(")
            .and_then(|n| n.strip_suffix(')'))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("unknown filter \"{other}\""))?,
    })
}

/// `ONESHOT` → EV_ONESHOT on this machine; `0x4000` (a bit the lab does not name) → itself.
fn flag_value(name: &str) -> Result<u16, String> {
    Ok(match name {
        "ADD" => kq::EV_ADD,
        "DELETE" => kq::EV_DELETE,
        "ENABLE" => kq::EV_ENABLE,
        "DISABLE" => kq::EV_DISABLE,
        "ONESHOT" => kq::EV_ONESHOT,
        "CLEAR" => kq::EV_CLEAR,
        "RECEIPT" => kq::EV_RECEIPT,
        "DISPATCH" => kq::EV_DISPATCH,
        "EOF" => kq::EV_EOF,
        "ERROR" => kq::EV_ERROR,
        other => other
            .strip_prefix("0x")
            .and_then(|hex| u16::from_str_radix(hex, 16).ok())
            .ok_or_else(|| format!("unknown flag \"{other}\""))?,
    })
}

/// `epoll_ctl(MOD fd 7 IN) = 0` back into its three parts.
fn parse_os_call(text: &str) -> OsCall {
    let (call, ret) = text.rsplit_once(" = ").unwrap_or((text, ""));
    let (name, args) = call.split_once('(').unwrap_or((call, ""));
    OsCall {
        name: static_name(name),
        args: args.strip_suffix(')').unwrap_or(args).to_string(),
        ret: ret.to_string(),
    }
}

/// `OsCall::name` is `&'static str` because a live run only records names known at compile
/// time. A replay reads them from a file: the usual ones map to constants, and anything else is
/// leaked once per distinct name, which is harmless for a process that renders one file and ends.
fn static_name(name: &str) -> &'static str {
    const KNOWN: [&str; 12] = [
        "kevent",
        "epoll_wait",
        "epoll_pwait",
        "epoll_ctl",
        "ioctl",
        "getsockopt",
        "fstat",
        "read",
        "write",
        "timerfd_settime",
        "eventfd",
        "close",
    ];
    if let Some(known) = KNOWN.iter().find(|k| **k == name) {
        return known;
    }
    thread_local! {
        static LEAKED: std::cell::RefCell<Vec<&'static str>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    LEAKED.with(|leaked| {
        let mut leaked = leaked.borrow_mut();
        if let Some(found) = leaked.iter().find(|k| **k == name) {
            return *found;
        }
        let new: &'static str = Box::leak(name.to_string().into_boxed_str());
        leaked.push(new);
        new
    })
}

/// JSON lines on a writer (stdout). Each record is flushed as it is written, so a program
/// reading the trace live (a test waiting for the `start` record's port) sees it at once.
///
/// A collapsed run (`trace::collapse`) is written as the calls it showed in full, as they
/// happened (`repeat` 1, so a live reader is never kept waiting by a flood), and, when the run
/// ends, one record per result that repeated (`call` = its first repeat, `repeat` = how many).
pub struct JsonSink {
    out: Box<dyn Write + Send>,
    /// Interactive mode: the terminal is raw, so lines end with `\r\n`.
    raw: bool,
    /// stdout is a pipe behind a bounded queue: the records it dropped (`sink_output`).
    backlog: Option<Backlog>,
}

impl JsonSink {
    /// JSON on stdout; on a pipe, behind a bounded queue so the run never waits for its reader.
    pub fn stdout() -> JsonSink {
        let (out, backlog) = super::sink_output::stdout();
        JsonSink {
            backlog,
            ..JsonSink::new(out)
        }
    }

    pub fn new(out: Box<dyn Write + Send>) -> JsonSink {
        JsonSink {
            out,
            raw: false,
            backlog: None,
        }
    }

    /// `out` is a bounded queue (`sink_output::bounded`, the pager of `--pager`): report drops.
    pub fn with_backlog(mut self, backlog: Option<Backlog>) -> JsonSink {
        self.backlog = backlog;
        self
    }
}

impl JsonSink {
    /// Write one entry as one `write_all` (the bounded output takes or drops it whole),
    /// after the note that records were dropped, if they were.
    fn put(&mut self, entry: &Entry) -> io::Result<()> {
        let eol = if self.raw { "\r\n" } else { "\n" };
        let mut buf = String::new();
        let notice = self.backlog.as_ref().and_then(|b| b.notice(entry));
        for line in notice.iter().chain([entry]).flat_map(render) {
            buf.push_str(&line);
            buf.push_str(eol);
        }
        self.out.write_all(buf.as_bytes())?;
        self.out.flush()
    }
}

impl super::Sink for JsonSink {
    fn write(&mut self, entry: &Entry) -> io::Result<()> {
        self.put(entry)
    }

    fn repeats(&mut self, run: &super::Run, done: bool) -> io::Result<()> {
        if done {
            for entry in run.repeat_records() {
                self.put(&entry)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn set_footer(&mut self, footer: Option<String>) -> io::Result<()> {
        self.raw = footer.is_some();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kq::Kevent;
    use crate::trace::KeventCall;

    #[test]
    fn a_kevent_record_matches_the_contract() {
        let e = LabeledKevent {
            kevent: Kevent::new(7, kq::EVFILT_READ, kq::EV_ADD | kq::EV_ONESHOT)
                .with_fflags_data(0, 5)
                .with_udata(7),
            label: crate::trace::Role::Conn(1),
        };
        let entry = Entry {
            t: 0.25,
            record: Record::Kevent(KeventCall {
                call: 2,
                changes: vec![],
                nevents: 8,
                timeout_ms: None,
                events: vec![e],
                repeat: 3,
                blocked_s: 0.0,
                os_calls: vec![],
                notes: vec!["say \"hi\"".into()],
            }),
        };
        let lines = render(&entry);
        assert_eq!(
            lines[0],
            "{\"t\":0.25,\"type\":\"kevent\",\"call\":2,\"changes\":[],\"nevents\":8,\"timeout_ms\":null,\
             \"events\":[{\"ident\":7,\"label\":\"conn1\",\"filter\":\"READ\",\"flags\":[\"ADD\",\"ONESHOT\"],\
             \"fflags\":0,\"data\":5,\"udata\":7}],\"repeat\":3,\"blocked_s\":0,\"os_calls\":[]}"
        );
        assert_eq!(
            lines[1],
            "{\"t\":0.25,\"type\":\"note\",\"text\":\"say \\\"hi\\\"\"}"
        );
    }

    /// A `wait` action carries its duration as `ms` (a README changelog extension); other
    /// actions have none.
    #[test]
    fn a_wait_record_says_how_long() {
        let action = |action: &str, conn, bytes, ms| Entry {
            t: 0.5,
            record: Record::Action {
                action: action.into(),
                conn,
                bytes,
                ms,
            },
        };
        assert_eq!(
            render(&action("wait", None, None, Some(300)))[0],
            "{\"t\":0.5,\"type\":\"action\",\"action\":\"wait\",\"ms\":300}"
        );
        assert_eq!(
            render(&action("send", Some(1), Some(5), None))[0],
            "{\"t\":0.5,\"type\":\"action\",\"action\":\"send\",\"conn\":1,\"bytes\":5}"
        );
    }

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_flood_is_written_as_its_first_call_then_one_record_for_the_rest() {
        let out = Shared::default();
        let mut tracer = crate::trace::Tracer::new(Box::new(JsonSink::new(Box::new(out.clone()))));
        let event = LabeledKevent {
            kevent: Kevent::new(7, kq::EVFILT_READ, 0).with_fflags_data(0, 5),
            label: crate::trace::Role::Conn(1),
        };
        let call = |n: u64| {
            Record::Kevent(KeventCall {
                call: n,
                changes: vec![],
                nevents: 8,
                timeout_ms: Some(100),
                events: vec![event.clone()],
                repeat: 1,
                blocked_s: 0.0,
                os_calls: vec![],
                notes: vec![],
            })
        };
        tracer.emit(call(4)).unwrap();
        let first = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(
            first.contains("\"call\":4") && first.contains("\"repeat\":1"),
            "at once: {first}"
        );
        for n in 5..=9 {
            tracer.emit(call(n)).unwrap();
        }
        let summary = tracer.finish(None).unwrap();
        assert_eq!(summary.events, 6);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            lines[1].contains("\"call\":5") && lines[1].contains("\"repeat\":5"),
            "{text}"
        );
        assert!(lines[2].contains("\"type\":\"summary\"") && lines[2].contains("\"events\":6"));
    }

    #[test]
    fn strings_are_escaped() {
        let note = Entry {
            t: 0.0,
            record: Record::Note {
                text: "a\"b\\c\nd\u{1}".into(),
            },
        };
        assert_eq!(
            render(&note)[0],
            "{\"t\":0,\"type\":\"note\",\"text\":\"a\\\"b\\\\c\\nd\\u0001\"}"
        );
    }

    // ---- reading back ----

    #[test]
    fn every_record_the_json_renderer_writes_parses_back_to_the_same_entry() {
        let kev = |flags, data| LabeledKevent {
            kevent: Kevent::new(7, kq::EVFILT_READ, flags)
                .with_fflags_data(0, data)
                .with_udata(usize::MAX - 1),
            label: crate::trace::Role::Conn(1),
        };
        let entries = vec![
            Entry {
                t: 0.0,
                record: Record::Start {
                    stage: "oneshot".into(),
                    backend: "emulated".into(),
                    os: "Linux".into(),
                    addr: "127.0.0.1:5882".into(),
                },
            },
            Entry {
                t: 0.25,
                record: Record::Kevent(KeventCall {
                    call: 3,
                    changes: vec![kev(kq::EV_ADD | kq::EV_ONESHOT, 0)],
                    nevents: 16,
                    timeout_ms: Some(300),
                    events: vec![kev(kq::EV_ONESHOT | kq::EV_EOF, 5)],
                    repeat: 2,
                    blocked_s: 0.5,
                    os_calls: vec![OsCall {
                        name: "epoll_ctl",
                        args: "MOD fd 7 IN".into(),
                        ret: "0".into(),
                    }],
                    notes: vec!["the knote is deleted \"now\"".into()],
                }),
            },
            Entry {
                t: 0.25,
                record: Record::Action {
                    action: "send".into(),
                    conn: Some(1),
                    bytes: Some(5),
                    ms: None,
                },
            },
            Entry {
                t: 0.25,
                record: Record::Action {
                    action: "wait".into(),
                    conn: None,
                    bytes: None,
                    ms: Some(300),
                },
            },
            Entry {
                t: 0.5,
                record: Record::Knotes {
                    knotes: vec![KnoteRow {
                        ident: 7,
                        label: crate::trace::Role::Conn(1),
                        filter: "READ".into(),
                        mode: vec!["ONESHOT".into()],
                        state: KnoteState::Deleted,
                        udata: 7,
                    }],
                },
            },
            Entry {
                t: 0.75,
                record: Record::Client {
                    event: "closed".into(),
                    conn: 1,
                    reason: Some(CloseReason::Timeout),
                },
            },
            Entry {
                t: 1.0,
                record: Record::Summary(Summary {
                    kevent_calls: 4,
                    changes: 2,
                    events: 3,
                    by_label: vec![("conn1 READ".into(), 2), ("listener READ".into(), 1)],
                    untracked: Default::default(),
                    server: Some(ServerSummary {
                        messages: 5,
                        changes_per_call: 1.5,
                        listener_disabled: 0,
                        shed: 0,
                        closed_by: Vec::new(),
                        last_closed: Vec::new(),
                    }),
                }),
            },
        ];
        let mut text = String::new();
        for entry in &entries {
            for line in crate::trace::json::render(entry) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        assert_eq!(parse_trace(&text).unwrap(), entries);
    }

    /// A trace saved before `wait` records carried `ms` still replays: the wait is shown
    /// without its duration; a newer trace shows it.
    #[test]
    fn a_wait_replays_with_its_duration_and_without_it_in_older_traces() {
        let render = |line: &str| {
            let entries = parse_trace(line).unwrap();
            let mut renderer = crate::trace::text::TextRenderer::new(false, true);
            renderer.render(&entries[0]).join("\n")
        };
        let old = render("{\"t\":0.5,\"type\":\"action\",\"action\":\"wait\"}");
        assert!(old.ends_with("» wait"), "{old}");
        let new = render("{\"t\":0.5,\"type\":\"action\",\"action\":\"wait\",\"ms\":300}");
        assert!(new.ends_with("» wait 300 ms"), "{new}");
        assert!(
            parse_trace("{\"t\":0,\"type\":\"action\",\"action\":\"wait\",\"ms\":\"soon\"}")
                .is_err()
        );
    }

    #[test]
    fn a_broken_line_is_named_not_a_panic() {
        let err =
            parse_trace("{\"t\":0,\"type\":\"note\",\"text\":\"ok\"}\n{\"t\":1,").unwrap_err();
        assert!(err.starts_with("line 2: expected"), "{err}");
        assert!(parse_trace("").is_err());
        assert!(parse_trace("[1,2]").is_err());
        assert!(parse_trace("{\"t\":0,\"type\":\"mystery\"}").is_err());
        assert!(parse_entry(&"[".repeat(1000)).is_err());
    }

    /// A measured number in a report (`lab bench`, `check`, `selftest`) is rounded to three
    /// decimals, written without a fraction when it has none, and `null` when not finite.
    #[test]
    fn report_numbers_round_to_three_decimals() {
        let json = |x: f64| serde_json::to_string(&Num(x)).unwrap();
        assert_eq!(json(1.23456), "1.235");
        assert_eq!(json(1234.5), "1234.5");
        assert_eq!(json(2.0), "2");
        assert_eq!(json(f64::NAN), "null");
    }
}
