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

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use super::poller::{OsCallCounter, Poller, Ready, Waker, Words};
use super::recorder::{Counters, Recorder};
use super::token::Token;
use crate::kq::{
    self, Kevent, Kqueue, Timespec, EVFILT_READ, EVFILT_USER, EVFILT_WRITE, EV_ADD, EV_CLEAR,
    EV_DISABLE, EV_ENABLE, NOTE_TRIGGER,
};
use crate::trace::{CallError, KnoteRow, Role, Staged, TracedKqueue};

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

pub struct KQueue {
    /// The kqueue, traced: every kevent call is timed, labelled, learnt and recorded there.
    kq: TracedKqueue,
    config: KQueueConfig,
    /// Each staged change with the name its ident had when it was staged (errata 9).
    change_list: Vec<Staged>,
    event_list: Vec<Kevent>,
    counters: Arc<Counters>,
}

impl KQueue {
    /// `kqueue()`, plus the EVFILT_USER knote that [`Waker`] triggers (EV_CLEAR: one wake per
    /// trigger, B24). The knote is staged like any other change.
    pub fn new(
        config: KQueueConfig,
        counters: Arc<Counters>,
        rec: &mut Recorder,
    ) -> io::Result<KQueue> {
        let policy = if rec.on() {
            rec.knotes
        } else {
            crate::trace::KnotePolicy::Off
        };
        let mut kq = TracedKqueue::new(Kqueue::new()?, policy, rec.on() && rec.os_calls);
        kq.name(WAKE_IDENT, EVFILT_USER, Role::Wake);
        kq.name(KEYS_IDENT, EVFILT_USER, Role::Keys);
        let mut queue = KQueue {
            kq,
            config: KQueueConfig {
                change_list: config.change_list.max(1),
                event_list: config.event_list.max(1),
                ..config
            },
            change_list: Vec::with_capacity(config.change_list.max(1)),
            event_list: vec![Kevent::default(); config.event_list.max(1)],
            counters,
        };
        queue.queue_change(
            Kevent::new(WAKE_IDENT, EVFILT_USER, EV_ADD | EV_CLEAR).with_udata(WAKE_UDATA),
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
                           receipts (9) would strike",
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
    /// The change keeps the name its ident has now.
    fn queue_change(&mut self, change: Kevent, rec: &mut Recorder) -> io::Result<()> {
        let staged = self.kq.stage(change);
        if self.config.no_batch {
            // One kevent call per change, like one epoll_ctl per change.
            self.change_list.push(staged);
            return self.flush(
                rec,
                "--no-batch: this change is applied by its own kevent call",
            );
        }
        if self.change_list.len() == self.config.change_list {
            self.flush(rec, "change_list full: applied early, by a kevent call with an empty eventlist that returns at once (B9)")?;
        }
        self.change_list.push(staged);
        Ok(())
    }

    /// Apply the staged changes now, without collecting events.
    fn flush(&mut self, rec: &mut Recorder, why: &str) -> io::Result<()> {
        if self.change_list.is_empty() {
            return Ok(());
        }
        let staged = std::mem::take(&mut self.change_list);
        rec.call_note(why);
        if let Err(CallError::Kevent(err)) = self.kq.kevent_staged(&staged, &mut [], None, rec) {
            let _ = self.kq.record_failure(
                rec,
                false,
                Some(format!(
                    "a change failed ({}) and kevent stopped there (B7): the changes after it \
                     were not applied, so each is applied alone",
                    errno_text(&err)
                )),
            );
            self.apply_each_alone(staged, rec);
        }
        Ok(())
    }

    /// After a batch failed part-way (B7): apply every change of it with its own kevent call, so
    /// one stale change cannot take the others down. ADD, ENABLE and DISABLE are idempotent, so
    /// applying again the ones that had succeeded changes nothing.
    fn apply_each_alone(&mut self, staged: Vec<Staged>, rec: &mut Recorder) {
        for one in staged {
            let one = std::slice::from_ref(&one);
            if let Err(CallError::Kevent(err)) = self.kq.kevent_staged(one, &mut [], None, rec) {
                Counters::add(&self.counters.change_errors, 1);
                let note = format!("this change failed: {}", errno_text(&err));
                let _ = self.kq.record_failure(rec, false, Some(note));
            }
        }
    }

    /// udata for the DISABLE half of a mode flip: the client's token, or 0 as published.
    fn disable_udata(&self, token: Token) -> usize {
        if self.config.as_published {
            0
        } else {
            token.to_udata()
        }
    }
}

impl Poller for KQueue {
    fn add_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.kq.name(fd as usize, EVFILT_READ, Role::Listener);
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ADD).with_udata(LISTENER_UDATA),
            rec,
        )
    }

    fn watch_interrupts(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.kq.name(fd as usize, EVFILT_READ, Role::Signal);
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ADD).with_udata(INTERRUPT_UDATA),
            rec,
        )
    }

    fn remove_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_DISABLE).with_udata(LISTENER_UDATA),
            rec,
        )
    }

    fn enable_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        // EV_ENABLE, not the tutorial's "EV_ADD re-enables": a modification does not clear the
        // disabled state without EV_ENABLE (B3).
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ENABLE).with_udata(LISTENER_UDATA),
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
        self.kq.name(fd as usize, EVFILT_READ, Role::parse(label));
        let udata = token.to_udata();
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ADD).with_udata(udata),
            rec,
        )?;
        // Registered now, disabled (EV_ADD|EV_DISABLE, B5): write mode only enables it (Part 7's
        // table).
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_WRITE, EV_ADD | EV_DISABLE).with_udata(udata),
            rec,
        )
    }

    fn read_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()> {
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_WRITE, EV_DISABLE)
                .with_udata(self.disable_udata(token)),
            rec,
        )?;
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_ENABLE).with_udata(token.to_udata()),
            rec,
        )
    }

    fn write_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()> {
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_READ, EV_DISABLE).with_udata(self.disable_udata(token)),
            rec,
        )?;
        self.queue_change(
            Kevent::new(fd as usize, EVFILT_WRITE, EV_ENABLE).with_udata(token.to_udata()),
            rec,
        )
    }

    fn forget_client(&mut self, fd: RawFd, label: &str, rec: &mut Recorder) {
        // close() is about to remove the client's knotes (B22): the table says so after the
        // next kevent call.
        self.kq.closing(fd as usize);
        let staged = self
            .change_list
            .iter()
            .filter(|s| s.change.ident == fd as usize && s.change.filter != EVFILT_USER)
            .count();
        if staged == 0 {
            return;
        }
        if self.config.as_published {
            rec.note(format!(
                "{label} closed with {staged} change(s) for it still staged: the next kevent \
                 returns them as EV_ERROR receipts carrying its old udata (errata 9)"
            ));
            return;
        }
        self.change_list
            .retain(|s| s.change.ident != fd as usize || s.change.filter == EVFILT_USER);
        rec.note(format!(
            "{label} is closing: dropped its {staged} staged change(s). close() removes its \
             knotes (B22); applied later they would only come back as EV_ERROR receipts \
             (errata 9)"
        ));
    }

    /// The tutorial's `wait`: the staged changes ride on the kevent call that collects the
    /// eventlist.
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
        if self.change_list.len() > 1 {
            rec.call_note(format!(
                "{} staged changes ride on this one kevent call, which then waits",
                self.change_list.len()
            ));
        }
        let changes = std::mem::take(&mut self.change_list);
        let n = match self
            .kq
            .kevent_staged(&changes, &mut self.event_list, timeout, rec)
        {
            Ok(n) => n,
            // A signal: the changes were applied, nothing was collected (B11).
            Err(CallError::Kevent(err)) if err.kind() == io::ErrorKind::Interrupted => {
                let _ = self.kq.record_failure(rec, true, None);
                0
            }
            Err(CallError::Kevent(err)) if !changes.is_empty() => {
                // More failing changes than eventlist room (B7): the ones after the failure were
                // not applied. Apply each alone; the loop simply waits again.
                let why = format!(
                    "this kevent failed ({}) part-way through its changes (B7)",
                    errno_text(&err)
                );
                let _ = self.kq.record_failure(rec, false, Some(why));
                self.apply_each_alone(changes, rec);
                return Ok(());
            }
            Err(CallError::Kevent(err)) => return Err(err),
            // The recorder never fails: a broken trace only stops the tracing.
            Err(CallError::Trace(_)) => 0,
        };
        // Keep the allocation for the next batch.
        self.change_list = changes;
        self.change_list.clear();
        ready.extend(self.event_list[..n].iter().map(decode));
        Ok(())
    }

    fn waker(&self) -> io::Result<Waker> {
        let kq = Arc::clone(self.kq.kqueue());
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
            rec,
        )?;
        // Applied now, not with the first wait: the key reader starts next, and a NOTE_TRIGGER
        // on a knote not yet added fails with ENOENT, which would lose that key press.
        self.flush(
            rec,
            "the keys knote is applied at once, before the key reader thread starts: a \
             NOTE_TRIGGER on a knote not yet added would fail (ENOENT) and lose the key",
        )?;
        let kq = Arc::clone(self.kq.kqueue());
        Ok(Waker::new(move || {
            let trigger = Kevent::new(KEYS_IDENT, EVFILT_USER, 0)
                .with_fflags_data(NOTE_TRIGGER, 0)
                .with_udata(KEYS_UDATA); // every change replaces udata (B4)
            kq.kevent(&[trigger], &mut [], None).map(|_| ())
        }))
    }

    fn knotes(&self) -> Option<Vec<KnoteRow>> {
        self.kq.knotes().map(<[KnoteRow]>::to_vec)
    }

    fn os_call_counter(&self) -> OsCallCounter {
        let kq = Arc::clone(self.kq.kqueue());
        OsCallCounter::new(move || kq.os_call_counts())
    }
    fn words(&self) -> Words {
        KQueue::words(&self.config)
    }

    fn staged_changes(&self) -> Option<usize> {
        Some(self.change_list.len())
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
