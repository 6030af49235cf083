//! The trace: what happened in a run, as records (the JSON contract's `type`s), and the
//! renderers that turn records into annotated text or JSON lines.
//!
//! Stages and the server only *emit* records; they never format or colour anything. The
//! renderers are the only place that colours (STYLE.md layout).

use crate::kq::{Kevent, OsCall};

pub mod collapse;
pub mod json;
pub mod knotes;
pub mod palette;
pub mod role;
pub mod sink_output;
pub mod text;
pub mod traced;
pub mod words;

pub use collapse::{Collapse, Offer, Run};
pub use json::JsonSink;
pub use role::Role;
pub use traced::{CallError, CallSink, KnotePolicy, Staged, TracedKqueue};

/// A kevent entry with the names a person needs: what its ident is (`listener`, `conn1`).
#[derive(Clone, Debug, PartialEq)]
pub struct LabeledKevent {
    pub kevent: Kevent,
    /// What the ident is: `listener`, `connN`, `keys` (the key reader's USER knote), ...
    pub label: Role,
}

/// One row of the knote table (contract: `knotes` record).
#[derive(Clone, Debug, PartialEq)]
pub struct KnoteRow {
    pub ident: usize,
    pub label: Role,
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
    /// How many calls with these events this record stands for (1 unless collapsed, see
    /// `trace::collapse`).
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
    /// `"<label> <FILTER>"` → number of events delivered, in first-seen order: at most
    /// [`BY_LABEL_TRACKED`] knotes, one by one.
    pub by_label: Vec<(String, u64)>,
    /// The knotes a long run stopped counting one by one, added up: when [`BY_LABEL_TRACKED`]
    /// knotes are tracked and a new one delivers, the one with the fewest events is folded in
    /// here, so a server that has made 100,000 connections keeps a bounded table (issue 14).
    pub untracked: OtherKnotes,
    /// Server only: echoed messages, mean changes per call, times the listener was disabled.
    pub server: Option<ServerSummary>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerSummary {
    pub messages: u64,
    pub changes_per_call: f64,
    pub listener_disabled: u64,
    /// Connections closed at once because the memory budget was full (`--memory-budget-mib`);
    /// written only when not 0 (an extension of the contract).
    pub shed: u64,
    /// Clients closed, by reason (`eof`, `timeout`, `too_large`, `reset`, `error`), in that
    /// order, reasons that never happened left out: the aggregate a long run keeps instead of
    /// one entry per connection (an extension of the contract).
    pub closed_by: Vec<(CloseReason, u64)>,
    /// The last [`LAST_CLOSED`] clients closed, oldest first: `(N of connN, reason)` (an
    /// extension of the contract).
    pub last_closed: Vec<(usize, CloseReason)>,
}

/// How many of the last closed clients the server's summary names.
pub const LAST_CLOSED: usize = 8;

/// The most knotes the summary lists in `by_label`: a long-running server makes thousands of
/// connections, and one `connN READ` entry each would make the summary grow without bound.
pub const BY_LABEL_SHOWN: usize = 32;

/// The most knotes the tracer counts one by one (see [`Summary::untracked`]).
pub const BY_LABEL_TRACKED: usize = 1024;

/// The knotes the summary leaves out of `by_label`, added up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OtherKnotes {
    pub knotes: u64,
    pub events: u64,
}

impl Summary {
    /// `by_label` as the summary shows it: the [`BY_LABEL_SHOWN`] knotes that delivered the
    /// most events, in first-seen order, and the rest added up (`None` when nothing was left out).
    pub fn shown_by_label(&self) -> (Vec<(String, u64)>, Option<OtherKnotes>) {
        let untracked = (self.untracked.knotes > 0).then_some(self.untracked);
        if self.by_label.len() <= BY_LABEL_SHOWN {
            return (self.by_label.clone(), untracked);
        }
        // The most events first; among equals, the first seen.
        let mut order: Vec<usize> = (0..self.by_label.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(self.by_label[i].1), i));
        let mut kept = order[..BY_LABEL_SHOWN].to_vec();
        kept.sort_unstable();
        let others = OtherKnotes {
            knotes: order[BY_LABEL_SHOWN..].len() as u64 + self.untracked.knotes,
            events: order[BY_LABEL_SHOWN..]
                .iter()
                .map(|&i| self.by_label[i].1)
                .sum::<u64>()
                + self.untracked.events,
        };
        let shown = kept.iter().map(|&i| self.by_label[i].clone()).collect();
        (shown, Some(others))
    }
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
        /// How long a `wait` lets the event loop run, in milliseconds (README changelog: an
        /// extension of the contract, so a trace says how long each wait was). `None` for the
        /// other actions, and in traces written before the field existed.
        ms: Option<u64>,
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
    /// A collapsed run's count (`collapse`): while it grows (`done` false; at once, then at
    /// most every [`PROGRESS_EVERY_S`]) and once when it ends (`done` true). Only called for a
    /// run with repeats; its calls shown in full came through `write` already. The text
    /// renderer keeps a live count line; the JSON renderer writes the run's repeat records
    /// when it ends.
    fn repeats(&mut self, _run: &Run, _done: bool) -> std::io::Result<()> {
        Ok(())
    }
    /// Interactive mode: the key footer to keep visible under the trace (and the terminal is in
    /// raw mode, so lines end with `\r\n`); `None` when not interactive.
    fn set_footer(&mut self, _footer: Option<String>) -> std::io::Result<()> {
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
///
/// Collapsing (contract: `repeat`) is [`Collapse`]'s decision: every change-free kevent call is
/// offered to it; one it counts as a repeat is not written, and the sink hears the run's count
/// through [`Sink::repeats`] (at once, then at most every [`PROGRESS_EVERY_S`], and when the run
/// ends: when anything else is emitted, on `flush` and at `finish`).
pub struct Tracer {
    start: std::time::Instant,
    sink: Box<dyn Sink>,
    summary: Summary,
    collapse: Collapse,
    /// When the sink last heard about the run's count (seconds since the start).
    last_progress: f64,
    /// Where each key of `summary.by_label` is (a lookup per event, not a scan).
    slots: std::collections::HashMap<String, usize>,
    /// A slot of `summary.by_label` was given to a new key since the last look (see `add_to`).
    evicted: bool,
}

/// How often a growing collapsed run is reported to the sink: a few times a second is enough
/// for a live count, and keeps a flat-out flood cheap (display at most a few dozen lines/s).
pub const PROGRESS_EVERY_S: f64 = 0.1;

impl Tracer {
    pub fn new(sink: Box<dyn Sink>) -> Tracer {
        Tracer {
            start: std::time::Instant::now(),
            sink,
            summary: Summary::default(),
            collapse: Collapse::default(),
            last_progress: 0.0,
            slots: std::collections::HashMap::new(),
            evicted: false,
        }
    }

    /// Seconds since the tracer was made (the `t` of every record).
    pub fn elapsed(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The instant the run started (the zero of every `t`).
    pub fn start_instant(&self) -> std::time::Instant {
        self.start
    }

    /// Record one entry, counting it into the summary.
    pub fn emit(&mut self, record: Record) -> std::io::Result<()> {
        let t = self.elapsed();
        if let Record::Kevent(call) = &record {
            self.count(call);
            if std::mem::take(&mut self.evicted) {
                // The run's remembered slots may name a knote that was just folded away.
                self.end_run()?;
            }
            if call.changes.is_empty() {
                return match self.collapse.offer(t, call) {
                    Offer::Repeat => self.report_run(false),
                    Offer::Show { ended } => {
                        if let Some(run) = ended {
                            self.sink.repeats(&run, true)?;
                        }
                        // Remember where this result's events are counted, for the fast path.
                        let counted = self.label_indices(call);
                        if let Some(shape) = self
                            .collapse
                            .run_mut()
                            .and_then(|run| run.shapes.last_mut())
                        {
                            shape.counted = counted;
                        }
                        self.last_progress = t;
                        self.sink.write(&Entry { t, record })
                    }
                };
            }
        }
        self.end_run()?;
        self.sink.write(&Entry { t, record })
    }

    /// Each event's index in `summary.by_label` (`count` has just made sure it exists).
    fn label_indices(&self, call: &KeventCall) -> Vec<usize> {
        call.events
            .iter()
            .map(|e| {
                let key = format!("{} {}", e.label, crate::kq::filter_name(e.kevent.filter));
                self.slots.get(&key).copied().unwrap_or(0)
            })
            .collect()
    }

    /// The fast path for a flat-out loop: if a kevent call with no changes returned the
    /// events of a result the current run has shown, count it as one more repeat and return
    /// true (nothing is allocated or formatted). Otherwise return false, and the caller emits
    /// the call in full with [`Tracer::emit`].
    pub fn repeat_if_same(&mut self, events: &[Kevent], blocked_s: f64) -> std::io::Result<bool> {
        let t = self.elapsed();
        let Some(i) = self.collapse.repeat_raw(events, blocked_s, t) else {
            return Ok(false);
        };
        // Count exactly as `count` would for a call with these events and no changes.
        self.summary.kevent_calls += 1;
        self.summary.events += events.len() as u64;
        if let Some(shape) = self.collapse.run().map(|run| &run.shapes[i]) {
            for &k in &shape.counted {
                self.summary.by_label[k].1 += 1;
            }
        }
        self.report_run(false)?;
        Ok(true)
    }

    /// Tell the sink the run's count: `force`, or when [`PROGRESS_EVERY_S`] has passed.
    fn report_run(&mut self, force: bool) -> std::io::Result<()> {
        let now = self.elapsed();
        let first = self.collapse.run().is_some_and(|run| run.repeats() == 1);
        if !(force || first || now - self.last_progress >= PROGRESS_EVERY_S) {
            return Ok(());
        }
        self.last_progress = now;
        match self.collapse.run() {
            Some(run) if run.repeats() > 0 => self.sink.repeats(run, false),
            _ => Ok(()),
        }
    }

    /// End the collapsed run, if any: the sink writes its final count.
    fn end_run(&mut self) -> std::io::Result<()> {
        match self.collapse.end() {
            Some(run) => self.sink.repeats(&run, true),
            None => Ok(()),
        }
    }

    /// Write everything held back and flush the sink (before a long blocking wait, say).
    pub fn flush(&mut self) -> std::io::Result<()> {
        self.end_run()?;
        self.sink.flush()
    }

    /// Show the live count of the collapsed run now, whatever the time since the last report
    /// (the stage calls this when a wait ends, so the screen shows the final count).
    pub fn show_progress(&mut self) -> std::io::Result<()> {
        self.report_run(true)
    }

    /// Interactive mode: keep this key footer visible under the trace (see [`Sink::set_footer`]).
    pub fn set_footer(&mut self, footer: Option<String>) -> std::io::Result<()> {
        self.sink.set_footer(footer)
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
            self.add_to(key, call.repeat);
        }
    }

    /// Count `n` events for `key` in `summary.by_label`. A new key when [`BY_LABEL_TRACKED`]
    /// keys are tracked takes the slot of the one with the fewest events, which is added up
    /// in `summary.untracked`; the collapsed run, which remembers slots, starts afresh then
    /// (a new knote's first event is never a repeat, so nothing is lost).
    fn add_to(&mut self, key: String, n: u64) {
        if let Some(&slot) = self.slots.get(&key) {
            self.summary.by_label[slot].1 += n;
            return;
        }
        if self.summary.by_label.len() < BY_LABEL_TRACKED {
            self.slots.insert(key.clone(), self.summary.by_label.len());
            self.summary.by_label.push((key, n));
            return;
        }
        let slot = (0..self.summary.by_label.len())
            .min_by_key(|&i| self.summary.by_label[i].1)
            .unwrap_or(0);
        let (old, events) = std::mem::replace(&mut self.summary.by_label[slot], (key.clone(), n));
        self.slots.remove(&old);
        self.slots.insert(key, slot);
        self.summary.untracked.knotes += 1;
        self.summary.untracked.events += events;
        self.evicted = true;
    }

    /// Count calls that the trace shows as notes, not as kevent records, into the summary: the
    /// raw epoll server (`lab server --backend epoll`, start record `"backend":"epoll"`) counts
    /// each epoll_wait as a call, each epoll_ctl as a change, and each reported item as an event
    /// under `"<label> <MASK>"` (`conn2 OUT`). The JSON summary keeps the contract's field names
    /// for these counts; the text renderer names them after the start record's backend.
    pub fn count_calls(&mut self, calls: u64, changes: u64, events: &[String]) {
        self.summary.kevent_calls += calls;
        self.summary.changes += changes;
        self.summary.events += events.len() as u64;
        for key in events {
            self.add_to(key.clone(), 1);
        }
        if std::mem::take(&mut self.evicted) {
            // No kevent records here (the raw epoll server), so no run to report.
            let _ = self.collapse.end();
        }
    }

    /// The counts so far.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// End the run: write the summary record (with the server's extra counts, if any) and flush.
    pub fn finish(mut self, server: Option<ServerSummary>) -> std::io::Result<Summary> {
        self.end_run()?;
        self.summary.server = server;
        let summary = self.summary.clone();
        self.emit(Record::Summary(summary.clone()))?;
        self.sink.flush()?;
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kq;
    use std::sync::{Arc, Mutex};

    /// A sink that keeps what it was given, for inspection.
    struct Keep(Arc<Mutex<Vec<(bool, Entry)>>>);

    impl Sink for Keep {
        fn write(&mut self, entry: &Entry) -> std::io::Result<()> {
            self.0.lock().unwrap().push((true, entry.clone()));
            Ok(())
        }
        fn repeats(&mut self, run: &Run, done: bool) -> std::io::Result<()> {
            let mut kept = self.0.lock().unwrap();
            for entry in run.repeat_records() {
                kept.push((done, entry));
            }
            Ok(())
        }
    }

    fn call(n: u64, changes: usize, data: &[i64]) -> KeventCall {
        let ev = |d: i64| LabeledKevent {
            kevent: Kevent::new(7, kq::EVFILT_READ, 0).with_fflags_data(0, d),
            label: Role::Conn(1),
        };
        KeventCall {
            call: n,
            changes: (0..changes).map(|_| ev(0)).collect(),
            nevents: 8,
            timeout_ms: None,
            events: data.iter().map(|&d| ev(d)).collect(),
            repeat: 1,
            blocked_s: 0.0,
            os_calls: vec![],
            notes: vec![],
        }
    }

    /// A long-running server: more knotes deliver than the tracer counts one by one. The table
    /// stays at [`BY_LABEL_TRACKED`], the ones with the fewest events are added up, and every
    /// event is still counted exactly once (issue 14: nothing grows per connection).
    #[test]
    fn the_knote_table_stays_bounded_and_every_event_is_counted() {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let mut tracer = Tracer::new(Box::new(Keep(Arc::clone(&kept))));
        let extra = 100;
        for n in 0..BY_LABEL_TRACKED + extra {
            let mut one = call(n as u64 + 1, 0, &[1]);
            one.events[0].label = Role::Conn(n + 1);
            // conn1 delivers twice, so it is never the one folded away.
            one.repeat = if n == 0 { 2 } else { 1 };
            tracer.emit(Record::Kevent(one)).unwrap();
        }
        let summary = tracer.finish(None).unwrap();
        assert_eq!(summary.by_label.len(), BY_LABEL_TRACKED);
        assert_eq!(summary.untracked.knotes, extra as u64);
        let tracked: u64 = summary.by_label.iter().map(|(_, n)| n).sum();
        assert_eq!(tracked + summary.untracked.events, summary.events);
        assert_eq!(summary.by_label[0], ("conn1 READ".to_string(), 2));
        let (shown, others) = summary.shown_by_label();
        assert_eq!(shown.len(), BY_LABEL_SHOWN);
        let others = others.expect("the rest, added up");
        assert_eq!(
            others.knotes,
            (BY_LABEL_TRACKED + extra - BY_LABEL_SHOWN) as u64
        );
    }

    #[test]
    fn identical_calls_collapse_into_one_record_and_the_counts_stay_exact() {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let mut tracer = Tracer::new(Box::new(Keep(Arc::clone(&kept))));
        tracer.emit(Record::Kevent(call(1, 1, &[]))).unwrap();
        tracer.emit(Record::Kevent(call(2, 0, &[5]))).unwrap();
        tracer.emit(Record::Kevent(call(3, 0, &[5]))).unwrap();
        let raw = [Kevent::new(7, kq::EVFILT_READ, 0).with_fflags_data(0, 5)];
        assert!(tracer.repeat_if_same(&raw, 0.0).unwrap());
        let other = [Kevent::new(7, kq::EVFILT_READ, 0).with_fflags_data(0, 6)];
        assert!(!tracer.repeat_if_same(&other, 0.0).unwrap());
        tracer.emit(Record::Kevent(call(5, 0, &[6]))).unwrap();
        let summary = tracer.finish(None).unwrap();
        assert_eq!(summary.kevent_calls, 5);
        assert_eq!(summary.changes, 1);
        assert_eq!(summary.events, 4);
        assert_eq!(summary.by_label, vec![("conn1 READ".to_string(), 4)]);
        let written: Vec<(u64, u64)> = kept
            .lock()
            .unwrap()
            .iter()
            .filter(|(final_, _)| *final_)
            .filter_map(|(_, e)| match &e.record {
                Record::Kevent(c) => Some((c.call, c.repeat)),
                _ => None,
            })
            .collect();
        assert_eq!(written, vec![(1, 1), (2, 1), (3, 2), (5, 1)]);
    }

    /// The end-of-run summary's knote list: a short run lists every knote and says nothing of
    /// "others"; knotes the tracer stopped counting one by one are the others; past
    /// [`BY_LABEL_SHOWN`] the busiest knotes stay, in first-seen order, and the rest are added
    /// to the others.
    #[test]
    fn the_summary_shows_the_busiest_knotes_and_adds_up_the_rest() {
        let knote = |n: usize, events: u64| (format!("conn{n} READ"), events);
        let few = Summary {
            by_label: vec![knote(1, 4), knote(2, 1)],
            ..Summary::default()
        };
        assert_eq!(few.shown_by_label(), (few.by_label.clone(), None));

        let untracked = OtherKnotes {
            knotes: 3,
            events: 4,
        };
        let folded = Summary {
            untracked,
            ..few.clone()
        };
        assert_eq!(
            folded.shown_by_label(),
            (few.by_label.clone(), Some(untracked))
        );

        // conn1 and the last knote delivered 1 event each, every other knote 2: those two are
        // left out, and the rest keep their first-seen order.
        let last = BY_LABEL_SHOWN + 2;
        let many = Summary {
            by_label: (1..=last)
                .map(|n| knote(n, if n == 1 || n == last { 1 } else { 2 }))
                .collect(),
            untracked,
            ..Summary::default()
        };
        let (shown, others) = many.shown_by_label();
        assert_eq!(shown, many.by_label[1..last - 1].to_vec());
        assert_eq!(
            others,
            Some(OtherKnotes {
                knotes: 2 + 3,
                events: 2 + 4,
            })
        );
    }

    /// Every record carries `t`, the seconds since the run started (contract): a record
    /// written once a millisecond has passed says so, and a later one is not earlier.
    #[test]
    fn records_carry_the_time_since_the_start() {
        let kept = Arc::new(Mutex::new(Vec::new()));
        let mut tracer = Tracer::new(Box::new(Keep(Arc::clone(&kept))));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tracer.start_instant().elapsed() < std::time::Duration::from_millis(1) {
            assert!(
                std::time::Instant::now() < deadline,
                "the clock does not move"
            );
            std::thread::yield_now();
        }
        tracer.emit(Record::Kevent(call(1, 1, &[]))).unwrap();
        tracer.emit(Record::Kevent(call(2, 1, &[]))).unwrap();
        let times: Vec<f64> = kept.lock().unwrap().iter().map(|(_, e)| e.t).collect();
        assert_eq!(times.len(), 2);
        assert!(times[0] >= 0.001, "{times:?}");
        assert!(times[1] >= times[0], "{times:?}");
    }

    /// A sink hears of a collapsed run only once it has repeats (the [`Sink::repeats`]
    /// promise): a stage that shows the live count when its wait ends, before anything
    /// repeated, makes the sink write no count line.
    #[test]
    fn the_sink_hears_of_a_run_only_once_it_has_repeats() {
        struct Counts(Arc<Mutex<Vec<u64>>>);
        impl Sink for Counts {
            fn write(&mut self, _entry: &Entry) -> std::io::Result<()> {
                Ok(())
            }
            fn repeats(&mut self, run: &Run, _done: bool) -> std::io::Result<()> {
                self.0.lock().unwrap().push(run.repeats());
                Ok(())
            }
        }
        let heard = Arc::new(Mutex::new(Vec::new()));
        let mut tracer = Tracer::new(Box::new(Counts(Arc::clone(&heard))));
        tracer.emit(Record::Kevent(call(1, 0, &[5]))).unwrap();
        tracer.show_progress().unwrap();
        assert!(heard.lock().unwrap().is_empty(), "nothing repeated yet");
        let raw = [Kevent::new(7, kq::EVFILT_READ, 0).with_fflags_data(0, 5)];
        assert!(tracer.repeat_if_same(&raw, 0.0).unwrap());
        tracer.show_progress().unwrap();
        let heard = heard.lock().unwrap().clone();
        assert!(
            !heard.is_empty() && heard.iter().all(|&n| n == 1),
            "{heard:?}"
        );
    }

    /// The raw epoll server counts its epoll_wait and epoll_ctl calls into the summary: each
    /// wait is a call, each epoll_ctl a change, each reported item an event under its label.
    #[test]
    fn epoll_calls_add_up_in_the_summary() {
        let mut tracer = Tracer::new(Box::new(Keep(Arc::new(Mutex::new(Vec::new())))));
        tracer.count_calls(0, 1, &[]);
        tracer.count_calls(1, 0, &["conn1 IN".to_string()]);
        tracer.count_calls(1, 2, &["conn1 IN".to_string(), "conn2 OUT".to_string()]);
        let summary = tracer.finish(None).unwrap();
        assert_eq!(
            (summary.kevent_calls, summary.changes, summary.events),
            (2, 3, 3)
        );
        assert_eq!(
            summary.by_label,
            vec![("conn1 IN".to_string(), 2), ("conn2 OUT".to_string(), 1)]
        );
    }
}
