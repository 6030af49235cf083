//! `lab replay FILE`: redraw a saved `--json` trace as the annotated text, so that a facilitator
//! can show a macOS trace (native kqueue) to a Linux room, or the other way round.
//!
//! The file is parsed back into [`trace::Entry`](crate::trace::Entry) values and handed to the
//! same [`TextRenderer`] a live run uses. The JSON parser is a small one written here, because
//! the lab depends on no serialisation crate: it reads exactly the JSON the lab writes (and any
//! other valid JSON), and says where a line is broken instead of panicking.
//!
//! Names travel, numbers do not: a trace stores filters and flags by name (`READ`, `ONESHOT`),
//! and replay maps them to this machine's constants, so a macOS trace redraws correctly on Linux
//! even where the numeric values differ (pitfall P8).

use std::io::Write;

use crate::cli::ReplayArgs;
use crate::kq::{self, Kevent, OsCall};
use crate::trace::text::TextRenderer;
use crate::trace::{
    CloseReason, Entry, KeventCall, KnoteRow, KnoteState, LabeledKevent, Record, ServerSummary,
    Summary,
};

/// `lab replay FILE`.
pub fn run(args: &ReplayArgs) -> crate::Result<()> {
    let path = &args.file;
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

    let color = crate::term::use_color(args.color);
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

/// Parse a whole JSON-lines trace. Blank lines are skipped. A `note` that follows a `kevent`
/// record at the same time is that call's note (the JSON renderer writes a call's notes as
/// `note` records right after it), so it is put back inside the call.
///
/// The error names the line: `line 3: expected ',' or '}' at column 17`.
pub fn parse_trace(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries: Vec<Entry> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let entry = parse_entry(line).map_err(|err| format!("line {}: {err}", i + 1))?;
        if let (
            Record::Note { text },
            Some(Entry {
                t,
                record: Record::Kevent(call),
            }),
        ) = (&entry.record, entries.last_mut())
        {
            if *t == entry.t {
                call.notes.push(text.clone());
                continue;
            }
        }
        entries.push(entry);
    }
    if entries.is_empty() {
        return Err("no trace records; give a file written by `lab <stage> --json`".to_string());
    }
    Ok(entries)
}

/// Parse one line of the trace into an entry.
pub fn parse_entry(line: &str) -> Result<Entry, String> {
    let value = Json::parse(line)?;
    let obj = Obj(value.as_object().ok_or("a record must be a JSON object")?);
    let t = obj.f64("t")?;
    let kind = obj.str("type")?;
    let record = match kind {
        "start" => Record::Start {
            stage: obj.str("stage")?.to_string(),
            backend: obj.str("backend")?.to_string(),
            os: obj.str("os")?.to_string(),
            addr: obj.str("addr")?.to_string(),
        },
        "kevent" => Record::Kevent(KeventCall {
            call: obj.u64("call")?,
            changes: obj.kevents("changes")?,
            nevents: obj.u64("nevents")? as usize,
            timeout_ms: match obj.get("timeout_ms") {
                None | Some(Json::Null) => None,
                Some(v) => Some(v.as_u64().ok_or("timeout_ms must be a number or null")?),
            },
            events: obj.kevents("events")?,
            repeat: obj.opt_u64("repeat")?.unwrap_or(1),
            blocked_s: match obj.get("blocked_s") {
                None | Some(Json::Null) => 0.0,
                Some(_) => obj.f64("blocked_s")?,
            },
            os_calls: match obj.get("os_calls") {
                None => Vec::new(),
                Some(v) => v
                    .as_array()
                    .ok_or("os_calls must be a list")?
                    .iter()
                    .map(|c| {
                        c.as_str()
                            .map(parse_os_call)
                            .ok_or("os_calls must be strings")
                    })
                    .collect::<Result<_, _>>()?,
            },
            notes: Vec::new(),
        }),
        "action" => Record::Action {
            action: obj.str("action")?.to_string(),
            conn: obj.opt_u64("conn")?.map(|n| n as usize),
            bytes: obj.opt_u64("bytes")?.map(|n| n as usize),
            // Traces written before `ms` existed have none: their waits replay as `» wait`.
            ms: obj.opt_u64("ms")?,
        },
        "note" => Record::Note {
            text: obj.str("text")?.to_string(),
        },
        "knotes" => Record::Knotes {
            knotes: obj
                .array("knotes")?
                .iter()
                .map(knote_row)
                .collect::<Result<_, _>>()?,
        },
        "client" => Record::Client {
            event: obj.str("event")?.to_string(),
            conn: obj.u64("conn")? as usize,
            reason: match obj.get("reason") {
                None | Some(Json::Null) => None,
                Some(v) => Some(close_reason(v.as_str().ok_or("reason must be a string")?)?),
            },
        },
        "summary" => Record::Summary(Summary {
            kevent_calls: obj.u64("kevent_calls")?,
            changes: obj.u64("changes")?,
            events: obj.u64("events")?,
            by_label: match obj.get("by_label") {
                Some(Json::Object(fields)) => fields
                    .iter()
                    .map(|(k, v)| {
                        v.as_u64()
                            .map(|n| (k.clone(), n))
                            .ok_or_else(|| format!("by_label \"{k}\" must be a count"))
                    })
                    .collect::<Result<_, _>>()?,
                _ => return Err("summary needs a by_label object".to_string()),
            },
            server: match obj.get("messages") {
                None => None,
                Some(_) => Some(ServerSummary {
                    messages: obj.u64("messages")?,
                    changes_per_call: obj.f64("changes_per_call")?,
                    listener_disabled: obj.u64("listener_disabled")?,
                }),
            },
        }),
        other => return Err(format!("unknown record type \"{other}\"")),
    };
    Ok(Entry { t, record })
}

fn knote_row(value: &Json) -> Result<KnoteRow, String> {
    let obj = Obj(value.as_object().ok_or("a knote must be an object")?);
    Ok(KnoteRow {
        ident: obj.u64("ident")? as usize,
        label: crate::trace::Role::parse(obj.str("label")?),
        filter: obj.str("filter")?.to_string(),
        mode: obj
            .array("mode")?
            .iter()
            .map(|m| m.as_str().map(str::to_string).ok_or("mode must be names"))
            .collect::<Result<_, _>>()?,
        state: match obj.str("state")? {
            "enabled" => KnoteState::Enabled,
            "disabled" => KnoteState::Disabled,
            "deleted" => KnoteState::Deleted,
            other => return Err(format!("unknown knote state \"{other}\"")),
        },
        udata: obj.u64("udata")? as usize,
    })
}

fn close_reason(name: &str) -> Result<CloseReason, String> {
    Ok(match name {
        "eof" => CloseReason::Eof,
        "timeout" => CloseReason::Timeout,
        "too_large" => CloseReason::TooLarge,
        "reset" => CloseReason::Reset,
        "error" => CloseReason::Error,
        other => return Err(format!("unknown close reason \"{other}\"")),
    })
}

/// A kevent object: `{"ident", "label", "filter": "READ", "flags": ["ADD"], "fflags", "data",
/// "udata"}`, with the names mapped to this machine's constants.
fn labeled_kevent(value: &Json) -> Result<LabeledKevent, String> {
    let obj = Obj(value.as_object().ok_or("a kevent must be an object")?);
    let mut flags = 0u16;
    for name in obj.array("flags")? {
        let name = name.as_str().ok_or("flags must be names")?;
        flags |= flag_value(name)?;
    }
    let data = match obj.get("data") {
        Some(Json::Number(n)) => n
            .parse::<i64>()
            .map_err(|_| format!("data must be an integer, not {n}"))?,
        _ => return Err("a kevent needs a numeric data".to_string()),
    };
    Ok(LabeledKevent {
        kevent: Kevent {
            ident: obj.u64("ident")? as usize,
            filter: filter_value(obj.str("filter")?)?,
            flags,
            fflags: obj.u64("fflags")? as u32,
            data,
            udata: obj.u64("udata")? as usize,
        },
        label: crate::trace::Role::parse(obj.str("label")?),
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

/// A JSON value. Numbers keep their text, so that a 64-bit udata survives exactly (an f64 would
/// round pointers above 2^53).
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    /// Fields in file order (the summary's `by_label` keeps its first-seen order).
    Object(Vec<(String, Json)>),
}

impl Json {
    /// Parse one complete JSON value; anything after it but whitespace is an error.
    pub fn parse(text: &str) -> Result<Json, String> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        let value = parser.value(0)?;
        parser.skip_ws();
        if parser.pos < parser.chars.len() {
            return Err(parser.error("end of line after the object"));
        }
        Ok(value)
    }

    pub fn as_object(&self) -> Option<&[(String, Json)]> {
        match self {
            Json::Object(fields) => Some(fields),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Json]> {
        match self {
            Json::Array(items) => Some(items),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Json::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Json::Number(n) => n.parse().ok(),
            _ => None,
        }
    }

    /// A field of an object.
    pub fn get(&self, key: &str) -> Option<&Json> {
        self.as_object()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

/// Field access with errors that name the field.
struct Obj<'a>(&'a [(String, Json)]);

impl<'a> Obj<'a> {
    fn get(&self, key: &str) -> Option<&'a Json> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    fn need(&self, key: &str) -> Result<&'a Json, String> {
        self.get(key)
            .ok_or_else(|| format!("missing field \"{key}\""))
    }

    fn str(&self, key: &str) -> Result<&'a str, String> {
        self.need(key)?
            .as_str()
            .ok_or_else(|| format!("field \"{key}\" must be a string"))
    }

    fn u64(&self, key: &str) -> Result<u64, String> {
        self.need(key)?
            .as_u64()
            .ok_or_else(|| format!("field \"{key}\" must be a whole number"))
    }

    fn opt_u64(&self, key: &str) -> Result<Option<u64>, String> {
        match self.get(key) {
            None | Some(Json::Null) => Ok(None),
            Some(_) => self.u64(key).map(Some),
        }
    }

    fn f64(&self, key: &str) -> Result<f64, String> {
        self.need(key)?
            .as_f64()
            .ok_or_else(|| format!("field \"{key}\" must be a number"))
    }

    fn array(&self, key: &str) -> Result<&'a [Json], String> {
        self.need(key)?
            .as_array()
            .ok_or_else(|| format!("field \"{key}\" must be a list"))
    }

    fn kevents(&self, key: &str) -> Result<Vec<LabeledKevent>, String> {
        self.array(key)?.iter().map(labeled_kevent).collect()
    }
}

/// A recursive-descent parser over the characters of one line.
struct Parser {
    chars: Vec<char>,
    pos: usize,
}

/// Deeper nesting than any trace has is refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

impl Parser {
    fn error(&self, expected: &str) -> String {
        match self.chars.get(self.pos) {
            Some(c) => format!(
                "expected {expected} at column {}, found '{c}'",
                self.pos + 1
            ),
            None => format!(
                "expected {expected} at column {}, found the end",
                self.pos + 1
            ),
        }
    }

    fn skip_ws(&mut self) {
        while self.chars.get(self.pos).is_some_and(|c| c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.chars.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err("JSON nested too deeply".to_string());
        }
        self.skip_ws();
        match self.chars.get(self.pos) {
            Some('{') => self.object(depth),
            Some('[') => self.array(depth),
            Some('"') => self.string().map(Json::String),
            Some('t') => self.word("true", Json::Bool(true)),
            Some('f') => self.word("false", Json::Bool(false)),
            Some('n') => self.word("null", Json::Null),
            Some(c) if *c == '-' || c.is_ascii_digit() => self.number(),
            _ => Err(self.error("a JSON value")),
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Result<Json, String> {
        let end = self.pos + word.chars().count();
        if end <= self.chars.len() && self.chars[self.pos..end].iter().copied().eq(word.chars()) {
            self.pos = end;
            Ok(value)
        } else {
            Err(self.error(word))
        }
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        while self
            .chars
            .get(self.pos)
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if text.parse::<f64>().is_err() {
            self.pos = start;
            return Err(self.error("a number"));
        }
        Ok(Json::Number(text))
    }

    fn string(&mut self) -> Result<String, String> {
        if !self.eat('"') {
            return Err(self.error("'\"'"));
        }
        let mut out = String::new();
        loop {
            let Some(&c) = self.chars.get(self.pos) else {
                return Err(self.error("the closing '\"'"));
            };
            self.pos += 1;
            match c {
                '"' => return Ok(out),
                '\\' => {
                    let Some(&e) = self.chars.get(self.pos) else {
                        return Err(self.error("an escape"));
                    };
                    self.pos += 1;
                    match e {
                        '"' | '\\' | '/' => out.push(e),
                        'n' => out.push('\n'),
                        't' => out.push('\t'),
                        'r' => out.push('\r'),
                        'b' => out.push('\u{8}'),
                        'f' => out.push('\u{c}'),
                        'u' => {
                            let hex: String = self.chars.iter().skip(self.pos).take(4).collect();
                            let code = u32::from_str_radix(&hex, 16)
                                .map_err(|_| self.error("four hex digits after \\u"))?;
                            self.pos += 4;
                            // Surrogate pairs are not in any lab trace; show them as U+FFFD.
                            out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                        }
                        _ => {
                            self.pos -= 1;
                            return Err(self.error("a valid escape"));
                        }
                    }
                }
                c => out.push(c),
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.eat('[');
        let mut items = Vec::new();
        if self.eat(']') {
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            if self.eat(']') {
                return Ok(Json::Array(items));
            }
            if !self.eat(',') {
                return Err(self.error("',' or ']'"));
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.eat('{');
        let mut fields = Vec::new();
        if self.eat('}') {
            return Ok(Json::Object(fields));
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            if !self.eat(':') {
                return Err(self.error("':'"));
            }
            let value = self.value(depth + 1)?;
            fields.push((key, value));
            if self.eat('}') {
                return Ok(Json::Object(fields));
            }
            if !self.eat(',') {
                return Err(self.error("',' or '}'"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
                    server: Some(ServerSummary {
                        messages: 5,
                        changes_per_call: 1.5,
                        listener_disabled: 0,
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
            let mut renderer = TextRenderer::new(false, true);
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
        assert!(Json::parse(&"[".repeat(1000)).is_err());
    }
}
