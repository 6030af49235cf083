//! The tutorial's `KQueue` struct: a kqueue with a staged `change_list`.
//!
//! Changes are not applied when the server asks for them. They are *staged* in `change_list`
//! and ride on the next `wait`, so one kevent call applies them and collects the eventlist
//! (Part 7: "applying the changes and waiting for readiness is done in a single system call").
//! When `change_list` is full it is flushed early by a kevent call with an empty eventlist,
//! which returns at once (B9). With `--no-batch` every change gets its own kevent call, the way
//! `epoll_ctl` would, for comparison.
//!
//! Fixed here, and kept by `--as-published`:
//! - **errata 8**: "no timeout" is a NULL timespec (block until an event). As published,
//!   `wait(-1)` is converted with `@divTrunc`/`@mod` into `{0 s, 999 ms}`: an idle server wakes
//!   about once a second.
//! - **errata 9**: a failed change comes back as an `EV_ERROR` entry in the eventlist carrying
//!   the change's udata (B7). It is decoded as [`Ready::ChangeFailed`], never as readiness.
//!   Staged changes for a client being closed are dropped, since `close()` removes its knotes
//!   anyway (B22); as published they stay staged and come back as receipts.
//! - **P7**: every change for a client carries its token as udata. As published, the DISABLE
//!   half of `readMode`/`writeMode` carries udata 0, which on FreeBSD overwrites the knote's
//!   udata (B4) and makes its receipt look like the listener's.

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::poller::{OsCallCounter, Poller, Ready, Waker, Words};
use super::recorder::{Counters, KnotePolicy, Recorder};
use super::token::Token;
use crate::kq::{
    self, Kevent, Kqueue, Timespec, EVFILT_READ, EVFILT_USER, EVFILT_WRITE, EV_ADD, EV_CLEAR,
    EV_DISABLE, EV_ENABLE, NOTE_TRIGGER,
};
use crate::trace::knotes::KnoteTable;
use crate::trace::{KeventCall, KnoteRow, LabeledKevent};

/// udata of the listener's knote (the tutorial's `0 => self.accept(listener)`).
pub const LISTENER_UDATA: usize = 0;
/// udata of the signal pipe's knote: a token never issued (its generation would be 0).
pub const INTERRUPT_UDATA: usize = 1;
/// udata of the EVFILT_USER knote: another token never issued.
pub const WAKE_UDATA: usize = 2;
/// ident of the EVFILT_USER knote that wakes the loop (its own namespace, B1).
const WAKE_IDENT: usize = 0;
/// udata of the interactive mode's `keys` EVFILT_USER knote: a token never issued either.
pub const KEYS_UDATA: usize = 3;
/// ident of the `keys` knote, which the key reader thread triggers (B24).
const KEYS_IDENT: usize = 1;

/// How the `change_list` is applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KQueueConfig {
    /// Staged changes before an early flush (the tutorial's 16).
    pub change_list: usize,
    /// Eventlist capacity (the tutorial's 128).
    pub event_list: usize,
    /// Apply every change with its own kevent call.
    pub no_batch: bool,
    /// Keep errata 8 and 9 (and udata 0 on the DISABLE changes).
    pub as_published: bool,
}

/// One staged change and the name of its ident at the time it was staged.
struct Staged {
    change: Kevent,
    label: String,
}

pub struct KQueue {
    kq: Arc<Kqueue>,
    config: KQueueConfig,
    change_list: Vec<Staged>,
    event_list: Vec<Kevent>,
    /// What each ident is, for the trace: `listener`, `connN`, `wake`.
    labels: HashMap<usize, String>,
    calls: u64,
    counters: Arc<Counters>,
    /// The knote table, kept only when a trace shows it (`None` on the bench path).
    knotes: Option<KnoteTable>,
    /// A change or a close moved the table since the last `knotes` record.
    knotes_changed: bool,
}

impl KQueue {
    /// `kqueue()`, plus the EVFILT_USER knote that [`Waker`] triggers (EV_CLEAR: one wake per
    /// trigger, B24). The knote is staged like any other change.
    pub fn new(
        config: KQueueConfig,
        counters: Arc<Counters>,
        rec: &mut Recorder,
    ) -> io::Result<KQueue> {
        let kq = Kqueue::new()?;
        kq.set_recording(rec.on() && rec.os_calls);
        let mut queue = KQueue {
            kq: Arc::new(kq),
            config: KQueueConfig {
                change_list: config.change_list.max(1),
                event_list: config.event_list.max(1),
                ..config
            },
            change_list: Vec::with_capacity(config.change_list.max(1)),
            event_list: vec![Kevent::default(); config.event_list.max(1)],
            labels: HashMap::new(),
            calls: 0,
            counters,
            knotes: (rec.on() && rec.knotes != KnotePolicy::Off).then(KnoteTable::default),
            knotes_changed: false,
        };
        queue.queue_change(
            Kevent::new(WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR).with_udata(WAKE_UDATA),
            "wake",
            rec,
        )?;
        Ok(queue)
    }

    /// The kqueue's words for the notes the shared loop writes (knotes, the changelist, kevent).
    pub fn words(config: &KQueueConfig) -> Words {
        Words {
            setup: format!(
                "change_list {} (flushed by the next wait, or early when full), eventlist {}",
                config.change_list, config.event_list
            ),
            no_batch: "--no-batch: every change is applied by its own kevent call, like one \
                       epoll_ctl each",
            as_published: "--as-published: the tutorial's bugs are kept: connected is never \
                           decremented (errata 4), the listener is never re-enabled (5), an idle \
                           wait is a 999 ms timeout (8); the trace points out where stale \
                           receipts (9) and PendingMessage (11) would strike",
            wait_call: "kevent",
            // As published, `wait` explains its 999 ms timeout itself (errata 8).
            no_deadline: (!config.as_published).then_some(
                "no client has a read deadline: NULL timeout, kevent blocks until an event \
                 (errata 8 fixed)",
            ),
            new_client: "READ added, WRITE added disabled, udata = token",
            token_field: "udata",
            read_mode: "WRITE disabled, READ enabled",
            write_mode: "READ disabled, WRITE enabled",
            listener_off: "EV_DISABLE",
            listener_on: "EV_ENABLE",
        }
    }

    /// Stage one change (the tutorial's `queueChange`): flush first if `change_list` is full.
    fn queue_change(&mut self, change: Kevent, label: &str, rec: &mut Recorder) -> io::Result<()> {
        let label = if rec.on() {
            label.to_string()
        } else {
            String::new()
        };
        if self.config.no_batch {
            // One kevent call per change, like one epoll_ctl per change.
            self.change_list.push(Staged { change, label });
            return self.flush(
                rec,
                "--no-batch: this change is applied by its own kevent call",
            );
        }
        if self.change_list.len() == self.config.change_list {
            self.flush(rec, "change_list full: applied early, by a kevent call with an empty eventlist that returns at once (B9)")?;
        }
        self.change_list.push(Staged { change, label });
        Ok(())
    }

    /// Apply the staged changes now, without collecting events.
    fn flush(&mut self, rec: &mut Recorder, why: &str) -> io::Result<()> {
        if self.change_list.is_empty() {
            return Ok(());
        }
        let staged = std::mem::take(&mut self.change_list);
        let changes: Vec<Kevent> = staged.iter().map(|s| s.change).collect();
        let started = Instant::now();
        let result = self.kq.kevent(&changes, &mut [], None);
        let mut notes = vec![why.to_string()];
        if let Err(err) = &result {
            notes.push(format!(
                "a change failed ({}) and kevent stopped there (B7): the changes after it were \
                 not applied, so each is applied alone",
                errno_text(err)
            ));
        }
        if result.is_ok() {
            self.learn(&staged, &[]);
        }
        self.record_call(&staged, 0, None, &[], started, notes, rec);
        if result.is_err() {
            self.apply_each_alone(staged, rec);
        }
        Ok(())
    }

    /// After a batch failed part-way (B7): apply every change of it with its own kevent call, so
    /// one stale change cannot take the others down. ADD, ENABLE and DISABLE are idempotent, so
    /// applying again the ones that had succeeded changes nothing.
    fn apply_each_alone(&mut self, staged: Vec<Staged>, rec: &mut Recorder) {
        for one in staged {
            let started = Instant::now();
            let mut notes = Vec::new();
            match self.kq.kevent(&[one.change], &mut [], None) {
                Ok(_) => self.learn(std::slice::from_ref(&one), &[]),
                Err(err) => {
                    Counters::add(&self.counters.change_errors, 1);
                    notes.push(format!("this change failed: {}", errno_text(&err)));
                }
            }
            self.record_call(
                std::slice::from_ref(&one),
                0,
                None,
                &[],
                started,
                notes,
                rec,
            );
        }
    }

    /// Count one kevent call and, when tracing, record it.
    #[allow(clippy::too_many_arguments)]
    fn record_call(
        &mut self,
        staged: &[Staged],
        nevents: usize,
        timeout: Option<Timespec>,
        events: &[Kevent],
        started: Instant,
        mut notes: Vec<String>,
        rec: &mut Recorder,
    ) {
        self.calls += 1;
        Counters::add(&self.counters.kevent_calls, 1);
        Counters::add(&self.counters.changes, staged.len() as u64);
        Counters::add(&self.counters.events, events.len() as u64);
        if !rec.on() {
            return;
        }
        let blocked_s = started.elapsed().as_secs_f64();
        let changes: Vec<LabeledKevent> = staged
            .iter()
            .map(|s| LabeledKevent {
                kevent: s.change,
                label: s.label.clone(),
            })
            .collect();
        let events: Vec<LabeledKevent> = events
            .iter()
            .map(|event| {
                // A receipt names the change that failed: label it as that change was labelled
                // (its fd may have been closed, or reused, since).
                let from_change = changes.iter().find(|c| {
                    event.is_error()
                        && c.kevent.ident == event.ident
                        && c.kevent.filter == event.filter
                        && c.kevent.udata == event.udata
                });
                LabeledKevent {
                    kevent: *event,
                    label: from_change
                        .map(|c| c.label.clone())
                        .unwrap_or_else(|| self.label_of(event.ident, event.filter)),
                }
            })
            .collect();
        let mut all_notes = rec.take_call_notes();
        all_notes.append(&mut notes);
        let os_calls = if rec.os_calls {
            self.kq.take_os_calls()
        } else {
            Vec::new()
        };
        rec.kevent(KeventCall {
            call: self.calls,
            changes,
            nevents,
            timeout_ms: timeout.map(|t| t.as_millis_ceil()),
            events,
            repeat: 1,
            blocked_s,
            os_calls,
            notes: all_notes,
        });
        if std::mem::take(&mut self.knotes_changed) && rec.knotes == KnotePolicy::EveryChange {
            if let Some(table) = &self.knotes {
                rec.knote_table(table.rows().to_vec());
            }
        }
    }

    /// Keep the knote table in step with a kevent call that returned: every staged change was
    /// applied except those that came back as EV_ERROR entries (B7; a receipt carries the
    /// change's ident, filter and udata).
    fn learn(&mut self, staged: &[Staged], events: &[Kevent]) {
        let Some(table) = self.knotes.as_mut() else {
            return;
        };
        for s in staged {
            let failed = events.iter().any(|e| {
                e.is_failure()
                    && e.ident == s.change.ident
                    && e.filter == s.change.filter
                    && e.udata == s.change.udata
            });
            // A bare NOTE_TRIGGER (never staged here) would change nothing either.
            if !failed {
                table.apply(&s.change, &s.label);
                self.knotes_changed = true;
            }
        }
    }

    fn label_of(&self, ident: usize, filter: i16) -> String {
        if filter == EVFILT_USER {
            return if ident == KEYS_IDENT { "keys" } else { "wake" }.into();
        }
        self.labels
            .get(&ident)
            .cloned()
            .unwrap_or_else(|| format!("fd{ident}"))
    }

    /// udata for the DISABLE half of a mode flip: the client's token, or 0 as published.
    fn disable_udata(&self, token: Token) -> usize {
        if self.config.as_published {
            0
        } else {
            token.to_udata()
        }
    }

    fn label_for_fd(&self, fd: RawFd) -> String {
        self.label_of(fd as usize, EVFILT_READ)
    }
}

impl Poller for KQueue {
    fn add_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.labels.insert(fd as usize, "listener".into());
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ADD).with_udata(LISTENER_UDATA),
            "listener",
            rec,
        )
    }

    fn watch_interrupts(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.labels.insert(fd as usize, "signal".into());
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ADD).with_udata(INTERRUPT_UDATA),
            "signal",
            rec,
        )
    }

    fn remove_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_DISABLE).with_udata(LISTENER_UDATA),
            "listener",
            rec,
        )
    }

    fn enable_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        // EV_ENABLE, not the tutorial's "EV_ADD re-enables": a modification does not clear the
        // disabled state without EV_ENABLE (B3).
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ENABLE).with_udata(LISTENER_UDATA),
            "listener",
            rec,
        )
    }

    fn new_client(
        &mut self,
        fd: RawFd,
        token: Token,
        label: &str,
        rec: &mut Recorder,
    ) -> io::Result<()> {
        // The fd number may be a reused one: it now names this client (B22).
        self.labels.insert(fd as usize, label.to_string());
        let udata = token.to_udata();
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ADD).with_udata(udata),
            label,
            rec,
        )?;
        // Registered now, disabled (EV_ADD|EV_DISABLE, B5): write mode only enables it (Part 7's
        // table).
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_WRITE, EV_ADD | EV_DISABLE).with_udata(udata),
            label,
            rec,
        )
    }

    fn read_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()> {
        let label = self.label_for_fd(fd);
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_WRITE, EV_DISABLE)
                .with_udata(self.disable_udata(token)),
            &label,
            rec,
        )?;
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ENABLE).with_udata(token.to_udata()),
            &label,
            rec,
        )
    }

    fn write_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()> {
        let label = self.label_for_fd(fd);
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_DISABLE).with_udata(self.disable_udata(token)),
            &label,
            rec,
        )?;
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_WRITE, EV_ENABLE).with_udata(token.to_udata()),
            &label,
            rec,
        )
    }

    fn forget_client(&mut self, fd: RawFd, label: &str, rec: &mut Recorder) {
        // close() is about to remove the client's knotes (B22): the table says so after the
        // next kevent call.
        if let Some(table) = self.knotes.as_mut() {
            self.knotes_changed |= table.close(fd as usize);
        }
        let staged = self
            .change_list
            .iter()
            .filter(|s| s.change.ident == fd as usize && s.change.filter != EVFILT_USER)
            .count();
        if staged == 0 {
            return;
        }
        if self.config.as_published {
            if rec.on() {
                rec.note(format!(
                    "{label} closed with {staged} change(s) for it still staged: the next kevent \
                     returns them as EV_ERROR receipts carrying its old udata (errata 9)"
                ));
            }
            return;
        }
        self.change_list
            .retain(|s| s.change.ident != fd as usize || s.change.filter == EVFILT_USER);
        if rec.on() {
            rec.note(format!(
                "{label} is closing: dropped its {staged} staged change(s). close() removes its \
                 knotes (B22); applied later they would only come back as EV_ERROR receipts \
                 (errata 9)"
            ));
        }
    }

    fn wait(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready>,
        rec: &mut Recorder,
    ) -> io::Result<()> {
        ready.clear();
        let timeout = match timeout {
            Some(d) => Some(Timespec::from_duration(d)),
            None if self.config.as_published => {
                // Errata 8: enforceTimeout's -1 ("forever", the epoll convention) converted
                // with @divTrunc and @mod: { 0 s, 999 ms }.
                rec.call_note(
                    "as published: no client has a deadline, so wait(-1) becomes a {0 s, 999 ms} \
                     timeout and the idle server wakes every second (errata 8)",
                );
                Some(Timespec::from_millis(999))
            }
            None => None,
        };
        let changes: Vec<Kevent> = self.change_list.iter().map(|s| s.change).collect();
        if changes.len() > 1 && rec.on() {
            rec.call_note(format!(
                "{} staged changes ride on this one kevent call, which then waits",
                changes.len()
            ));
        }
        let started = Instant::now();
        let result = self.kq.kevent(&changes, &mut self.event_list, timeout);
        let n = match result {
            Ok(n) => n,
            // A signal: the changes were applied, nothing was collected (B11).
            Err(err) if err.kind() == io::ErrorKind::Interrupted => 0,
            Err(err) if !changes.is_empty() => {
                // More failing changes than eventlist room (B7): the ones after the failure were
                // not applied. Apply each alone; the loop simply waits again.
                let staged = std::mem::take(&mut self.change_list);
                let why = format!(
                    "this kevent failed ({}) part-way through its changes (B7)",
                    errno_text(&err)
                );
                self.record_call(
                    &staged,
                    self.event_list.len(),
                    timeout,
                    &[],
                    started,
                    vec![why],
                    rec,
                );
                self.apply_each_alone(staged, rec);
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        let staged = std::mem::take(&mut self.change_list);
        let events: Vec<Kevent> = self.event_list[..n].to_vec();
        self.learn(&staged, &events);
        self.record_call(
            &staged,
            self.event_list.len(),
            timeout,
            &events,
            started,
            Vec::new(),
            rec,
        );
        // Keep the allocation for the next batch.
        self.change_list = staged;
        self.change_list.clear();
        ready.extend(events.iter().map(decode));
        Ok(())
    }

    fn waker(&self) -> io::Result<Waker> {
        let kq = Arc::clone(&self.kq);
        Ok(Waker::new(move || {
            // A bare NOTE_TRIGGER: kevent takes &self, so another thread may apply it while the
            // loop is blocked in kevent (spec §7, threads).
            let trigger = Kevent::new(WAKE_IDENT, EVFILT_USER, 0)
                .with_fflags_data(NOTE_TRIGGER, 0)
                .with_udata(WAKE_UDATA); // every change replaces udata (B4)
            kq.kevent(&[trigger], &mut [], None).map(|_| ())
        }))
    }

    fn watch_keys(&mut self, rec: &mut Recorder) -> io::Result<Waker> {
        // EV_CLEAR: one delivery per trigger, however many keys came in between (B24).
        self.queue_change(
            Kevent::new(KEYS_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR).with_udata(KEYS_UDATA),
            "keys",
            rec,
        )?;
        // Applied now, not with the first wait: the key reader starts next, and a NOTE_TRIGGER
        // on a knote not yet added fails with ENOENT, which would lose that key press.
        self.flush(
            rec,
            "the keys knote is applied at once, before the key reader thread starts: a \
             NOTE_TRIGGER on a knote not yet added would fail (ENOENT) and lose the key",
        )?;
        let kq = Arc::clone(&self.kq);
        Ok(Waker::new(move || {
            let trigger = Kevent::new(KEYS_IDENT, EVFILT_USER, 0)
                .with_fflags_data(NOTE_TRIGGER, 0)
                .with_udata(KEYS_UDATA); // every change replaces udata (B4)
            kq.kevent(&[trigger], &mut [], None).map(|_| ())
        }))
    }

    fn knotes(&self) -> Option<Vec<KnoteRow>> {
        self.knotes.as_ref().map(|table| table.rows().to_vec())
    }

    fn os_call_counter(&self) -> OsCallCounter {
        let kq = Arc::clone(&self.kq);
        OsCallCounter::new(move || kq.os_call_counts())
    }
    fn words(&self) -> Words {
        KQueue::words(&self.config)
    }
}

/// One eventlist entry as the server needs it. EV_ERROR is tested first, as a bit (P5).
fn decode(event: &Kevent) -> Ready {
    if event.is_error() {
        return Ready::ChangeFailed {
            ident: event.ident,
            filter: event.filter,
            udata: event.udata,
            errno: event.data,
        };
    }
    if event.filter == EVFILT_USER {
        return if event.ident == KEYS_IDENT {
            Ready::Keys
        } else {
            Ready::Wake
        };
    }
    if event.udata == INTERRUPT_UDATA {
        return Ready::Interrupt;
    }
    if event.udata == LISTENER_UDATA {
        return Ready::Listener { queued: event.data };
    }
    let token = Token::from_udata(event.udata);
    if event.filter == EVFILT_WRITE {
        Ready::Write {
            token,
            eof: event.is_eof(),
        }
    } else {
        Ready::Read {
            token,
            bytes: event.data,
            eof: event.is_eof(),
            error: event.fflags,
        }
    }
}

fn errno_text(err: &io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => kq::errno_name(code),
        None => err.to_string(),
    }
}
