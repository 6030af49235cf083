//! The trace: what happened in a run, as records (the JSON contract's `type`s), and the
//! renderers that turn records into annotated text or JSON lines.
//!
//! Stages and the server only *emit* records; they never format or colour anything. The
//! renderers are the only place that colours (STYLE.md layout).

use crate::kq::{Kevent, OsCall};

/// A kevent entry with the names a person needs: what its ident is (`listener`, `conn1`).
#[derive(Clone, Debug, PartialEq)]
pub struct LabeledKevent {
    pub kevent: Kevent,
    /// What the ident is: `listener`, `connN`, `keys` (the key reader's USER knote), ...
    pub label: String,
}

/// One row of the knote table (contract: `knotes` record).
#[derive(Clone, Debug, PartialEq)]
pub struct KnoteRow {
    pub ident: usize,
    pub label: String,
    /// `READ`, `WRITE`, `TIMER`, `USER`.
    pub filter: String,
    /// Flag names among ONESHOT, DISPATCH, CLEAR.
    pub mode: Vec<String>,
    pub state: KnoteState,
    pub udata: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnoteState {
    Enabled,
    Disabled,
    Deleted,
}

impl KnoteState {
    pub fn as_str(self) -> &'static str {
        match self {
            KnoteState::Enabled => "enabled",
            KnoteState::Disabled => "disabled",
            KnoteState::Deleted => "deleted",
        }
    }
}

/// One kevent call: changes in, events out.
#[derive(Clone, Debug, PartialEq)]
pub struct KeventCall {
    /// 1-based count of kevent calls.
    pub call: u64,
    pub changes: Vec<LabeledKevent>,
    /// Eventlist capacity.
    pub nevents: usize,
    /// `None` is a NULL timeout (block until an event).
    pub timeout_ms: Option<u64>,
    pub events: Vec<LabeledKevent>,
    /// How many identical consecutive calls this record stands for (1 unless collapsed).
    pub repeat: u64,
    /// Seconds spent inside the call (mostly blocked waiting).
    pub blocked_s: f64,
    /// The system calls the emulation made underneath (empty on the native backend).
    pub os_calls: Vec<OsCall>,
    /// What a person should notice about this call, one sentence each.
    pub notes: Vec<String>,
}

/// Why the server closed a client (contract: server `client` record).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Eof,
    Timeout,
    TooLarge,
    Reset,
    Error,
}

impl CloseReason {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::Eof => "eof",
            CloseReason::Timeout => "timeout",
            CloseReason::TooLarge => "too_large",
            CloseReason::Reset => "reset",
            CloseReason::Error => "error",
        }
    }
}

/// The end-of-run counts (contract: `summary`). The counts are exact, whatever was collapsed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Summary {
    pub kevent_calls: u64,
    pub changes: u64,
    pub events: u64,
    /// `"<label> <FILTER>"` → number of events delivered, in first-seen order.
    pub by_label: Vec<(String, u64)>,
    /// Server only: echoed messages, mean changes per call, times the listener was disabled.
    pub server: Option<ServerSummary>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerSummary {
    pub messages: u64,
    pub changes_per_call: f64,
    pub listener_disabled: u64,
}

/// One trace record (contract: "JSON trace", one object a line).
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Start {
        stage: String,
        /// `native` or `emulated`.
        backend: String,
        os: String,
        addr: String,
    },
    Kevent(KeventCall),
    Action {
        action: String,
        conn: Option<usize>,
        bytes: Option<usize>,
    },
    Note {
        text: String,
    },
    Knotes {
        knotes: Vec<KnoteRow>,
    },
    Client {
        /// `accepted` or `closed`.
        event: String,
        conn: usize,
        reason: Option<CloseReason>,
    },
    Summary(Summary),
}

/// A record with its time: seconds since the start of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub t: f64,
    pub record: Record,
}

/// Where trace entries go: the text renderer, the JSON renderer, or nowhere (`--quiet`).
pub trait Sink {
    /// Write one entry. A broken pipe is reported as an error and ends the run quietly.
    fn write(&mut self, entry: &Entry) -> std::io::Result<()>;
    /// Flush whatever is buffered (called at the end of the run and before blocking waits).
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sink that drops everything (`--quiet`, benchmarks). The summary is still counted.
pub struct NullSink;

impl Sink for NullSink {
    fn write(&mut self, _entry: &Entry) -> std::io::Result<()> {
        Ok(())
    }
}

/// The recorder every stage and the server write to.
///
/// It stamps each record with the time since the start, keeps the summary's counts exact
/// (every kevent call, change and event is counted, including collapsed repeats), and hands
/// entries to its sink.
pub struct Tracer {
    start: std::time::Instant,
    sink: Box<dyn Sink>,
    summary: Summary,
}

impl Tracer {
    pub fn new(sink: Box<dyn Sink>) -> Tracer {
        Tracer {
            start: std::time::Instant::now(),
            sink,
            summary: Summary::default(),
        }
    }

    /// Seconds since the tracer was made (the `t` of every record).
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// Record one entry, counting it into the summary.
    pub fn emit(&mut self, record: Record) -> std::io::Result<()> {
        if let Record::Kevent(call) = &record {
            self.count(call);
        }
        let entry = Entry {
            t: self.elapsed(),
            record,
        };
        self.sink.write(&entry)
    }

    fn count(&mut self, call: &KeventCall) {
        self.summary.kevent_calls += call.repeat;
        self.summary.changes += call.changes.len() as u64 * call.repeat;
        self.summary.events += call.events.len() as u64 * call.repeat;
        for event in &call.events {
            let key = format!(
                "{} {}",
                event.label,
                crate::kq::filter_name(event.kevent.filter)
            );
            match self.summary.by_label.iter_mut().find(|(k, _)| *k == key) {
                Some((_, n)) => *n += call.repeat,
                None => self.summary.by_label.push((key, call.repeat)),
            }
        }
    }

    /// The counts so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// End the run: write the summary record (with the server's extra counts, if any) and flush.
    pub fn finish(mut self, server: Option<ServerSummary>) -> std::io::Result<Summary> {
        self.summary.server = server;
        let summary = self.summary.clone();
        self.emit(Record::Summary(summary.clone()))?;
        self.sink.flush()?;
        Ok(summary)
    }
}
