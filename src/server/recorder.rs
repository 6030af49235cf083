//! What the server tells the trace, and the counters it keeps whether or not anyone watches.
//!
//! The server only *emits* records (`crate::trace`); the renderers format them. With the trace
//! off (`spawn` for tests and `lab bench`) no record is even built, and the [`Counters`] alone
//! keep count.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::kq::Kevent;
use crate::kq::OsCallCounts;
use crate::trace::{
    CallSink, CloseReason, KnoteRow, Record, ServerSummary, Summary, Tracer, LAST_CLOSED,
};

/// When the trace shows the knote table (contract: the `knotes` record): `Off` under `spawn`,
/// `lab bench` and `--quiet`; `OnRequest` in the text trace, where a table after every changing
/// call would drown the calls (key `k`, and at the end); `EveryChange` with `--json`.
pub use crate::trace::KnotePolicy;

/// Running totals, readable from another thread while the server runs (`ServerHandle::stats`).
#[derive(Debug, Default)]
pub struct Counters {
    pub kevent_calls: AtomicU64,
    pub changes: AtomicU64,
    pub events: AtomicU64,
    pub messages: AtomicU64,
    pub listener_disabled: AtomicU64,
    pub accepted: AtomicU64,
    pub closed: AtomicU64,
    /// Clients connected now.
    pub connected: AtomicU64,
    /// Events and receipts whose udata named a client that no longer exists (errata 9).
    pub stale: AtomicU64,
    /// Changes that came back as EV_ERROR entries or failed a flush.
    pub change_errors: AtomicU64,
    /// The most bytes one client ever held in the server (unprocessed input + pending output).
    pub max_held_bytes: AtomicU64,
    /// Bytes all clients hold now.
    pub held_bytes: AtomicU64,
    /// Times a client went to write mode.
    pub write_mode_flips: AtomicU64,
    /// read(2) and write(2) calls the server made on client sockets.
    pub reads: AtomicU64,
    pub writes: AtomicU64,
    /// Closes by reason, in `CloseReason` order: eof, timeout, too_large, reset, error.
    pub closed_by: [AtomicU64; 5],
    /// Connections accepted and closed at once because the memory budget was full.
    pub shed: AtomicU64,
}

impl Counters {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub fn sub(counter: &AtomicU64, n: u64) {
        counter.fetch_sub(n, Ordering::Relaxed);
    }

    pub fn snapshot(&self, os_calls: OsCallCounts) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            kevent_calls: get(&self.kevent_calls),
            changes: get(&self.changes),
            events: get(&self.events),
            messages: get(&self.messages),
            listener_disabled: get(&self.listener_disabled),
            accepted: get(&self.accepted),
            closed: get(&self.closed),
            connected: get(&self.connected),
            stale: get(&self.stale),
            change_errors: get(&self.change_errors),
            max_held_bytes: get(&self.max_held_bytes),
            held_bytes: get(&self.held_bytes),
            write_mode_flips: get(&self.write_mode_flips),
            reads: get(&self.reads),
            writes: get(&self.writes),
            closed_eof: get(&self.closed_by[0]),
            closed_timeout: get(&self.closed_by[1]),
            closed_too_large: get(&self.closed_by[2]),
            closed_reset: get(&self.closed_by[3]),
            closed_error: get(&self.closed_by[4]),
            shed: get(&self.shed),
            os_calls,
        }
    }
}

/// A snapshot of the server's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// kevent calls the server made (waits, early flushes, and with `--no-batch` one per change).
    pub kevent_calls: u64,
    /// Changes applied.
    pub changes: u64,
    /// Entries returned in eventlists (readiness and EV_ERROR receipts).
    pub events: u64,
    /// Messages echoed.
    pub messages: u64,
    pub listener_disabled: u64,
    pub accepted: u64,
    pub closed: u64,
    pub connected: u64,
    pub stale: u64,
    pub change_errors: u64,
    pub max_held_bytes: u64,
    pub held_bytes: u64,
    pub write_mode_flips: u64,
    /// read(2) and write(2) calls on client sockets.
    pub reads: u64,
    pub writes: u64,
    pub closed_eof: u64,
    pub closed_timeout: u64,
    pub closed_too_large: u64,
    pub closed_reset: u64,
    pub closed_error: u64,
    /// Connections shed because the memory budget was full (`--memory-budget-mib`).
    pub shed: u64,
    /// The system calls the kqueue made underneath (epoll_wait, epoll_ctl, ioctl... on Linux).
    pub os_calls: OsCallCounts,
}

impl Stats {
    /// Every system call the loop made on client sockets and under its kevent calls, per echoed
    /// message (accept, setsockopt and close are not counted).
    pub fn syscalls_per_message(&self) -> f64 {
        let total = self.reads + self.writes + self.os_calls.total();
        total as f64 / self.messages.max(1) as f64
    }

    /// Mean changes applied per kevent call.
    pub fn changes_per_call(&self) -> f64 {
        if self.kevent_calls == 0 {
            0.0
        } else {
            self.changes as f64 / self.kevent_calls as f64
        }
    }
}

/// The server's kevent calls are traced through its recorder (`server::kqueue`): a failed
/// write marks the recorder broken and the server goes on untraced, and every call is counted.
impl CallSink for Recorder {
    fn tracing(&self) -> bool {
        self.on()
    }
    fn record(&mut self, record: Record) -> std::io::Result<()> {
        self.emit(record);
        Ok(())
    }
    fn repeat_if_same(&mut self, events: &[Kevent], blocked_s: f64) -> std::io::Result<bool> {
        let Some(tracer) = self.tracer.as_mut().filter(|_| !self.broken) else {
            return Ok(true);
        };
        match tracer.repeat_if_same(events, blocked_s) {
            Ok(same) => Ok(same),
            Err(_) => {
                self.broken = true;
                Ok(true)
            }
        }
    }
    fn count(&mut self, changes: usize, events: usize) {
        Counters::add(&self.counters.kevent_calls, 1);
        Counters::add(&self.counters.changes, changes as u64);
        Counters::add(&self.counters.events, events as u64);
    }
    fn take_call_notes(&mut self) -> Vec<String> {
        Recorder::take_call_notes(self)
    }
}

/// The server's side of the trace.
pub struct Recorder {
    tracer: Option<Tracer>,
    /// Notes for the next kevent record ("why this timeout").
    call_notes: Vec<String>,
    /// Whether the OS calls under each kevent are recorded.
    pub os_calls: bool,
    /// The sink failed (a closed pipe): stop quietly.
    pub broken: bool,
    pub counters: Arc<Counters>,
    /// When the knote table is shown ([`KnotePolicy::Off`] unless the caller asks).
    pub knotes: KnotePolicy,
    /// The last clients closed, for the summary: a few, never one entry per connection.
    last_closed: VecDeque<(usize, CloseReason)>,
}

impl Recorder {
    pub fn new(tracer: Option<Tracer>, os_calls: bool, counters: Arc<Counters>) -> Recorder {
        Recorder {
            tracer,
            call_notes: Vec::new(),
            os_calls,
            broken: false,
            counters,
            knotes: KnotePolicy::Off,
            last_closed: VecDeque::with_capacity(LAST_CLOSED),
        }
    }

    /// The knote table, as a `knotes` record.
    pub fn knote_table(&mut self, knotes: Vec<KnoteRow>) {
        if self.on() {
            self.emit(Record::Knotes { knotes });
        }
    }

    /// Interactive mode: keep this key footer under the trace (`None` takes it away).
    pub fn set_footer(&mut self, footer: Option<String>) {
        if self.broken {
            return;
        }
        if let Some(tracer) = self.tracer.as_mut() {
            if tracer.set_footer(footer).is_err() {
                self.broken = true;
            }
        }
    }

    /// The calls the trace has counted so far (`--step` names the next one in its prompt).
    pub fn calls_so_far(&self) -> u64 {
        self.tracer
            .as_ref()
            .map_or(0, |tracer| tracer.summary().kevent_calls)
    }

    /// Whether records are being built. Callers test this before formatting a note.
    pub fn on(&self) -> bool {
        self.tracer.is_some() && !self.broken
    }

    pub fn emit(&mut self, record: Record) {
        if self.broken {
            return;
        }
        if let Some(tracer) = self.tracer.as_mut() {
            if tracer.emit(record).is_err() {
                self.broken = true;
            }
        }
    }

    /// A line a person reads.
    pub fn note(&mut self, text: impl Into<String>) {
        if self.on() {
            self.emit(Record::Note { text: text.into() });
        }
    }

    /// A sentence attached to the next kevent record.
    pub fn call_note(&mut self, text: impl Into<String>) {
        if self.on() {
            self.call_notes.push(text.into());
        }
    }

    /// Take the notes waiting for a kevent record.
    pub fn take_call_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.call_notes)
    }

    /// Count calls the trace shows as notes (the raw epoll server's epoll_wait and epoll_ctl)
    /// into the summary, see [`Tracer::count_calls`].
    pub fn count_calls(&mut self, calls: u64, changes: u64, events: &[String]) {
        if let Some(tracer) = self.tracer.as_mut() {
            tracer.count_calls(calls, changes, events);
        }
    }

    pub fn accepted(&mut self, conn: usize) {
        if self.on() {
            self.emit(Record::Client {
                event: "accepted".into(),
                conn,
                reason: None,
            });
        }
    }

    pub fn closed(&mut self, conn: usize, reason: CloseReason) {
        let slot = match reason {
            CloseReason::Eof => 0,
            CloseReason::Timeout => 1,
            CloseReason::TooLarge => 2,
            CloseReason::Reset => 3,
            CloseReason::Error => 4,
        };
        Counters::add(&self.counters.closed_by[slot], 1);
        if self.tracer.is_some() {
            if self.last_closed.len() == LAST_CLOSED {
                self.last_closed.pop_front();
            }
            self.last_closed.push_back((conn, reason));
        }
        if self.on() {
            self.emit(Record::Client {
                event: "closed".into(),
                conn,
                reason: Some(reason),
            });
        }
    }

    /// End the trace with the summary record; `None` when there was no trace.
    ///
    /// `changes_per_call` is the ratio of the summary's own two counts: changes per kevent call
    /// on the kqueue (the same as `stats.changes_per_call()`), epoll_ctl per epoll_wait on raw
    /// epoll, whose calls `stats` counts only as OS calls.
    pub fn finish(self, stats: &Stats) -> Option<Summary> {
        let tracer = self.tracer?;
        let counted = tracer.summary();
        let changes_per_call = if counted.kevent_calls == 0 {
            0.0
        } else {
            counted.changes as f64 / counted.kevent_calls as f64
        };
        tracer
            .finish(Some(ServerSummary {
                messages: stats.messages,
                changes_per_call,
                listener_disabled: stats.listener_disabled,
                shed: stats.shed,
                closed_by: [
                    (CloseReason::Eof, stats.closed_eof),
                    (CloseReason::Timeout, stats.closed_timeout),
                    (CloseReason::TooLarge, stats.closed_too_large),
                    (CloseReason::Reset, stats.closed_reset),
                    (CloseReason::Error, stats.closed_error),
                ]
                .into_iter()
                .filter(|&(_, n)| n > 0)
                .collect(),
                last_closed: self.last_closed.into(),
            }))
            .ok()
    }
}
