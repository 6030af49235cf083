//! The JSON renderer: one object a line, each with `t` and `type` (contract: "JSON trace").
//!
//! Written by hand (the lab depends on no serialisation crate): the records are flat and the
//! only strings that need escaping are labels, notes and OS call arguments.
//!
//! Beyond the contract's fields, a `kevent` record also carries `blocked_s` (seconds inside the
//! call, summed over a collapsed run) and `os_calls` (the epoll twin, as text), so that
//! `lab replay` can redraw the annotated text. The call's notes follow it as `note` records.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::{Entry, KnoteRow, LabeledKevent, Record, Summary};
use crate::kq;

/// Append `s` as a JSON string literal.
pub fn push_str_literal(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A finite float as JSON (NaN and infinities have no JSON form: null).
fn push_f64(out: &mut String, x: f64) {
    if x.is_finite() {
        let _ = write!(out, "{x}");
    } else {
        out.push_str("null");
    }
}

fn push_kevent(out: &mut String, e: &LabeledKevent) {
    let k = e.kevent;
    let _ = write!(out, "{{\"ident\":{},\"label\":", k.ident);
    push_str_literal(out, &e.label.to_string());
    out.push_str(",\"filter\":");
    push_str_literal(out, &kq::filter_name(k.filter));
    out.push_str(",\"flags\":[");
    for (i, name) in kq::flag_names(k.flags).iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str_literal(out, name);
    }
    let _ = write!(
        out,
        "],\"fflags\":{},\"data\":{},\"udata\":{}}}",
        k.fflags, k.data, k.udata
    );
}

fn push_kevents(out: &mut String, list: &[LabeledKevent]) {
    out.push('[');
    for (i, e) in list.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_kevent(out, e);
    }
    out.push(']');
}

fn push_knote(out: &mut String, row: &KnoteRow) {
    let _ = write!(out, "{{\"ident\":{},\"label\":", row.ident);
    push_str_literal(out, &row.label.to_string());
    out.push_str(",\"filter\":");
    push_str_literal(out, &row.filter);
    out.push_str(",\"mode\":[");
    for (i, m) in row.mode.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str_literal(out, m);
    }
    out.push_str("],\"state\":");
    push_str_literal(out, row.state.as_str());
    let _ = write!(out, ",\"udata\":{}}}", row.udata);
}

fn push_summary(out: &mut String, s: &Summary) {
    let _ = write!(
        out,
        ",\"kevent_calls\":{},\"changes\":{},\"events\":{},\"by_label\":{{",
        s.kevent_calls, s.changes, s.events
    );
    for (i, (k, n)) in s.by_label.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_str_literal(out, k);
        let _ = write!(out, ":{n}");
    }
    out.push('}');
    if let Some(server) = &s.server {
        let _ = write!(
            out,
            ",\"messages\":{},\"changes_per_call\":",
            server.messages
        );
        push_f64(out, server.changes_per_call);
        let _ = write!(out, ",\"listener_disabled\":{}", server.listener_disabled);
    }
}

/// The JSON lines for one entry: usually one, plus one `note` line per note of a kevent call.
pub fn render(entry: &Entry) -> Vec<String> {
    let mut out = String::with_capacity(160);
    out.push_str("{\"t\":");
    push_f64(&mut out, (entry.t * 1e6).round() / 1e6);
    let mut extra = Vec::new();
    match &entry.record {
        Record::Start {
            stage,
            backend,
            os,
            addr,
        } => {
            out.push_str(",\"type\":\"start\",\"stage\":");
            push_str_literal(&mut out, stage);
            out.push_str(",\"backend\":");
            push_str_literal(&mut out, backend);
            out.push_str(",\"os\":");
            push_str_literal(&mut out, os);
            out.push_str(",\"addr\":");
            push_str_literal(&mut out, addr);
        }
        Record::Kevent(call) => {
            let _ = write!(
                out,
                ",\"type\":\"kevent\",\"call\":{},\"changes\":",
                call.call
            );
            push_kevents(&mut out, &call.changes);
            let _ = write!(out, ",\"nevents\":{},\"timeout_ms\":", call.nevents);
            match call.timeout_ms {
                Some(ms) => {
                    let _ = write!(out, "{ms}");
                }
                None => out.push_str("null"),
            }
            out.push_str(",\"events\":");
            push_kevents(&mut out, &call.events);
            let _ = write!(out, ",\"repeat\":{},\"blocked_s\":", call.repeat);
            push_f64(&mut out, (call.blocked_s * 1e6).round() / 1e6);
            out.push_str(",\"os_calls\":[");
            for (i, c) in call.os_calls.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_str_literal(&mut out, &c.to_string());
            }
            out.push(']');
            for note in &call.notes {
                extra.push(render(&Entry {
                    t: entry.t,
                    record: Record::Note { text: note.clone() },
                }));
            }
        }
        Record::Action {
            action,
            conn,
            bytes,
            ms,
        } => {
            out.push_str(",\"type\":\"action\",\"action\":");
            push_str_literal(&mut out, action);
            if let Some(c) = conn {
                let _ = write!(out, ",\"conn\":{c}");
            }
            if let Some(b) = bytes {
                let _ = write!(out, ",\"bytes\":{b}");
            }
            if let Some(ms) = ms {
                let _ = write!(out, ",\"ms\":{ms}");
            }
        }
        Record::Note { text } => {
            out.push_str(",\"type\":\"note\",\"text\":");
            push_str_literal(&mut out, text);
        }
        Record::Knotes { knotes } => {
            out.push_str(",\"type\":\"knotes\",\"knotes\":[");
            for (i, row) in knotes.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_knote(&mut out, row);
            }
            out.push(']');
        }
        Record::Client {
            event,
            conn,
            reason,
        } => {
            out.push_str(",\"type\":\"client\",\"event\":");
            push_str_literal(&mut out, event);
            let _ = write!(out, ",\"conn\":{conn}");
            if let Some(r) = reason {
                out.push_str(",\"reason\":");
                push_str_literal(&mut out, r.as_str());
            }
        }
        Record::Summary(summary) => {
            out.push_str(",\"type\":\"summary\"");
            push_summary(&mut out, summary);
        }
    }
    out.push('}');
    let mut lines = vec![out];
    lines.extend(extra.into_iter().flatten());
    lines
}

/// JSON lines on a writer (stdout). Each record is flushed as it is written, so a program
/// reading the trace live (a test waiting for the `start` record's port) sees it at once.
///
/// A collapsed run is written as two records: its first call at once (`repeat` 1, so a live
/// reader is never kept waiting by a flood), and, when the run ends, one record for all the
/// identical calls that followed (`call` = the second call's number, `repeat` = their count).
pub struct JsonSink {
    out: Box<dyn Write + Send>,
    /// Interactive mode: the terminal is raw, so lines end with `\r\n`.
    raw: bool,
    /// The collapsed run whose first call was written early: its call number and blocked time.
    early: Option<(u64, f64)>,
}

impl JsonSink {
    pub fn stdout() -> JsonSink {
        JsonSink::new(Box::new(io::stdout()))
    }

    pub fn new(out: Box<dyn Write + Send>) -> JsonSink {
        JsonSink {
            out,
            raw: false,
            early: None,
        }
    }
}

impl JsonSink {
    fn put(&mut self, entry: &Entry) -> io::Result<()> {
        let eol = if self.raw { "\r\n" } else { "\n" };
        let mut buf = String::new();
        for line in render(entry) {
            buf.push_str(&line);
            buf.push_str(eol);
        }
        self.out.write_all(buf.as_bytes())?;
        self.out.flush()
    }
}

impl super::Sink for JsonSink {
    fn write(&mut self, entry: &Entry) -> io::Result<()> {
        if let (Record::Kevent(call), Some((first, first_blocked))) = (&entry.record, self.early) {
            if call.call == first {
                // The end of a run whose first call is already out: write the rest, if any.
                self.early = None;
                if call.repeat <= 1 {
                    return Ok(());
                }
                let mut rest = call.clone();
                rest.call += 1;
                rest.repeat -= 1;
                rest.blocked_s = (rest.blocked_s - first_blocked).max(0.0);
                rest.notes.clear();
                return self.put(&Entry {
                    t: entry.t,
                    record: Record::Kevent(rest),
                });
            }
        }
        self.put(entry)
    }

    fn progress(&mut self, entry: &Entry, _now: f64) -> io::Result<()> {
        if let Record::Kevent(call) = &entry.record {
            if self.early.map(|(c, _)| c) != Some(call.call) {
                self.early = Some((call.call, call.blocked_s));
                let mut first = call.clone();
                first.repeat = 1;
                return self.put(&Entry {
                    t: entry.t,
                    record: Record::Kevent(first),
                });
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
        let mut s = String::new();
        push_str_literal(&mut s, "a\"b\\c\nd\u{1}");
        assert_eq!(s, "\"a\\\"b\\\\c\\nd\\u0001\"");
    }
}
