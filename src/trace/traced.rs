//! One traced kqueue: [`TracedKqueue`] wraps `kq::Kqueue` and turns every kevent call into a
//! trace record. The flag stages (`stages::event_loop`) and the server (`server::kqueue`) both
//! call kqueue through it, so a call is timed, labelled, learnt and recorded in one place:
//!
//! - **timed**: the seconds spent inside the call (`blocked_s`);
//! - **labelled**: each change and event gets the [`Role`] of its ident (`listener`, `conn1`,
//!   `keys`...), from the names the caller gave with [`TracedKqueue::name`]; an EV_ERROR receipt
//!   is labelled as the change it answers was (B7: it carries the change's ident, filter and
//!   udata, and the fd may have been closed or reused since);
//! - **learnt**: the shadow knote table moves as kqueue did (`trace::knotes`): the changes the
//!   call applied, the deliveries it made (ONESHOT deletes, B15; DISPATCH disables, B16);
//! - **recorded**: with the operating-system calls the emulation made underneath, as a
//!   `kevent` record, followed by a `knotes` record when the table changed.
//!
//! Where the records go, and what the caller wants to say about a delivery, is the
//! [`CallSink`]'s business: the stages write to their tracer and phrase the deliveries in the
//! stage's words; the server writes through its recorder and counts every call.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use super::knotes::{Delivery, KnoteTable};
use super::{KeventCall, KnoteRow, LabeledKevent, Record, Role, Tracer};
use crate::kq::{Kevent, Kqueue, Timespec, EVFILT_USER};

/// Where a traced call's records go.
pub trait CallSink {
    /// Whether records are built at all; when false a call is only counted.
    fn tracing(&self) -> bool;
    /// Write one record (a `kevent` record, or the `knotes` record after it).
    fn record(&mut self, record: Record) -> io::Result<()>;
    /// The flood's fast path ([`Tracer::repeat_if_same`]): count a change-free call that
    /// returned the same events as the call being collapsed, and say whether it did.
    fn repeat_if_same(&mut self, events: &[Kevent], blocked_s: f64) -> io::Result<bool>;
    /// Count one kevent call, traced or not (the server's running counters).
    fn count(&mut self, _changes: usize, _events: usize) {}
    /// Sentences the caller wants on the next `kevent` record ("why this timeout").
    fn take_call_notes(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// What to say about one returned entry; `delivery` is what the delivery did to its
    /// knote (`None` for an EV_ERROR entry, or a knote the table does not know).
    fn narrate(
        &mut self,
        _event: &LabeledKevent,
        _delivery: Option<Delivery>,
        _notes: &mut Vec<String>,
    ) {
    }
}

impl CallSink for Tracer {
    fn tracing(&self) -> bool {
        true
    }
    fn record(&mut self, record: Record) -> io::Result<()> {
        self.emit(record)
    }
    fn repeat_if_same(&mut self, events: &[Kevent], blocked_s: f64) -> io::Result<bool> {
        Tracer::repeat_if_same(self, events, blocked_s)
    }
}

/// A kevent call that failed: the operating system's error, or the trace could not be written.
#[derive(Debug)]
pub enum CallError {
    /// kevent returned -1; the caller decides what it means and then calls
    /// [`TracedKqueue::record_failure`] (or gives up).
    Kevent(io::Error),
    /// The sink failed (a closed pipe).
    Trace(io::Error),
}

/// A change and the role of its ident when it was made: a change staged for a client that
/// then closes keeps its client's name even if the fd is reused before it is applied (errata 9).
#[derive(Clone, Debug)]
pub struct Staged {
    pub change: Kevent,
    pub role: Role,
}

/// When the knote table is kept, and when it is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnotePolicy {
    /// No table is kept (the server under `spawn` and `lab bench`): not a row is built.
    Off,
    /// The table is kept and shown when asked (the server's text trace: key `k`, the end).
    OnRequest,
    /// The table is kept and written after every kevent call that changed it.
    EveryChange,
}

/// What a failed call leaves behind until [`TracedKqueue::record_failure`] writes it.
struct Failed {
    changes: Vec<Staged>,
    nevents: usize,
    timeout: Option<Timespec>,
    blocked_s: f64,
}

/// A kqueue whose every kevent call is traced (see the module docs).
pub struct TracedKqueue {
    kq: Arc<Kqueue>,
    /// What each descriptor is.
    fds: HashMap<usize, Role>,
    /// What each EVFILT_USER ident is: USER idents are plain numbers in their own namespace (B1).
    users: HashMap<usize, Role>,
    knotes: Option<KnoteTable>,
    policy: KnotePolicy,
    /// A change, a delivery or a close moved the table since the last `knotes` record.
    knotes_changed: bool,
    calls: u64,
    os_calls: bool,
    failed: Option<Failed>,
}

impl TracedKqueue {
    /// Wrap `kq`. `os_calls`: record the system calls the emulation makes under each call.
    pub fn new(kq: Kqueue, policy: KnotePolicy, os_calls: bool) -> TracedKqueue {
        kq.set_recording(os_calls);
        TracedKqueue {
            kq: Arc::new(kq),
            fds: HashMap::new(),
            users: HashMap::new(),
            knotes: (policy != KnotePolicy::Off).then(KnoteTable::default),
            policy,
            knotes_changed: false,
            calls: 0,
            os_calls,
            failed: None,
        }
    }

    /// The kqueue itself, for another thread's NOTE_TRIGGER (a waker, the key reader).
    pub fn kqueue(&self) -> &Arc<Kqueue> {
        &self.kq
    }

    /// Name an ident: from now on its changes and events carry this role. A descriptor number
    /// reused by a new connection takes the new name (B22).
    pub fn name(&mut self, ident: usize, filter: i16, role: Role) {
        if filter == EVFILT_USER {
            self.users.insert(ident, role);
        } else {
            self.fds.insert(ident, role);
        }
    }

    /// The role of (ident, filter): its name, or `fdN`/`userN` when it has none.
    pub fn role(&self, ident: usize, filter: i16) -> Role {
        if filter == EVFILT_USER {
            self.users.get(&ident).cloned().unwrap_or(Role::User(ident))
        } else {
            self.fds.get(&ident).cloned().unwrap_or(Role::Fd(ident))
        }
    }

    /// A change with the role its ident has now, to apply later ([`TracedKqueue::kevent_staged`]).
    pub fn stage(&self, change: Kevent) -> Staged {
        Staged {
            role: self.role(change.ident, change.filter),
            change,
        }
    }

    /// kevent calls made so far (the `call` number of the last record).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The knote table, when one is kept.
    pub fn knotes(&self) -> Option<&[KnoteRow]> {
        self.knotes.as_ref().map(KnoteTable::rows)
    }

    /// True when (ident, filter) has a knote that was not deleted.
    pub fn is_live(&self, ident: usize, filter: i16) -> bool {
        self.knotes
            .as_ref()
            .is_some_and(|t| t.is_live(ident, filter))
    }

    /// The descriptor `fd` is about to be closed: close() removes its knotes (B22), and the
    /// table says so with the next call's record.
    pub fn closing(&mut self, fd: usize) {
        if let Some(table) = self.knotes.as_mut() {
            self.knotes_changed |= table.close(fd);
        }
    }

    /// One kevent call, traced: apply `changes`, collect into `events` (an empty eventlist
    /// returns at once, B9), wait at most `timeout` (`None`: block). Returns how many events
    /// arrived.
    pub fn kevent(
        &mut self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Timespec>,
        sink: &mut impl CallSink,
    ) -> Result<usize, CallError> {
        let staged: Vec<Staged> = if sink.tracing() {
            changes.iter().map(|c| self.stage(*c)).collect()
        } else {
            Vec::new()
        };
        self.call(changes, staged, events, timeout, sink)
    }

    /// [`TracedKqueue::kevent`] for changes staged earlier, labelled as they were then.
    pub fn kevent_staged(
        &mut self,
        staged: &[Staged],
        events: &mut [Kevent],
        timeout: Option<Timespec>,
        sink: &mut impl CallSink,
    ) -> Result<usize, CallError> {
        let changes: Vec<Kevent> = staged.iter().map(|s| s.change).collect();
        // Untraced (the bench), the roles are not needed: nothing is cloned for them.
        let staged = if sink.tracing() {
            staged.to_vec()
        } else {
            Vec::new()
        };
        self.call(&changes, staged, events, timeout, sink)
    }

    fn call(
        &mut self,
        changes: &[Kevent],
        staged: Vec<Staged>,
        events: &mut [Kevent],
        timeout: Option<Timespec>,
        sink: &mut impl CallSink,
    ) -> Result<usize, CallError> {
        let started = Instant::now();
        let result = self.kq.kevent(changes, events, timeout);
        let blocked_s = started.elapsed().as_secs_f64();
        self.calls += 1;
        let n = match result {
            Ok(n) => n,
            Err(err) => {
                sink.count(changes.len(), 0);
                self.failed = Some(Failed {
                    changes: staged,
                    nevents: events.len(),
                    timeout,
                    blocked_s,
                });
                return Err(CallError::Kevent(err));
            }
        };
        sink.count(changes.len(), n);
        if !sink.tracing() {
            return Ok(n);
        }
        let notes = sink.take_call_notes();
        // The flood's hot path: same events as the call before, nothing to build or say.
        if changes.is_empty()
            && notes.is_empty()
            && !self.knotes_changed
            && sink
                .repeat_if_same(&events[..n], blocked_s)
                .map_err(CallError::Trace)?
        {
            if self.os_calls {
                drop(self.kq.take_os_calls());
            }
            return Ok(n);
        }
        let returned = &events[..n];
        self.learn_changes(&staged, returned);
        let labelled = self.label_events(&staged, returned);
        let mut notes = notes;
        for event in &labelled {
            let delivery = self.learn_delivery(event);
            sink.narrate(event, delivery, &mut notes);
        }
        self.write(
            sink,
            staged,
            events.len(),
            timeout,
            labelled,
            blocked_s,
            notes,
        )
        .map_err(CallError::Trace)?;
        Ok(n)
    }

    /// Write the record of the call that just failed with [`CallError::Kevent`]. `applied`:
    /// whether its changes took effect (after EINTR they did, B11; after -1/errno nobody can
    /// tell which did, B7, so the table is left be). `note` says what the failure means.
    pub fn record_failure(
        &mut self,
        sink: &mut impl CallSink,
        applied: bool,
        note: Option<String>,
    ) -> io::Result<()> {
        let Some(failed) = self.failed.take() else {
            return Ok(());
        };
        if !sink.tracing() {
            return Ok(());
        }
        if applied {
            self.learn_changes(&failed.changes, &[]);
        }
        let mut notes = sink.take_call_notes();
        notes.extend(note);
        self.write(
            sink,
            failed.changes,
            failed.nevents,
            failed.timeout,
            Vec::new(),
            failed.blocked_s,
            notes,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn write(
        &mut self,
        sink: &mut impl CallSink,
        staged: Vec<Staged>,
        nevents: usize,
        timeout: Option<Timespec>,
        events: Vec<LabeledKevent>,
        blocked_s: f64,
        notes: Vec<String>,
    ) -> io::Result<()> {
        let call = KeventCall {
            call: self.calls,
            changes: staged
                .into_iter()
                .map(|s| LabeledKevent {
                    kevent: s.change,
                    label: s.role,
                })
                .collect(),
            nevents,
            timeout_ms: timeout.map(|t| t.as_millis_ceil()),
            events,
            repeat: 1,
            blocked_s,
            os_calls: if self.os_calls {
                self.kq.take_os_calls()
            } else {
                Vec::new()
            },
            notes,
        };
        sink.record(Record::Kevent(call))?;
        if std::mem::take(&mut self.knotes_changed) && self.policy == KnotePolicy::EveryChange {
            if let Some(table) = &self.knotes {
                sink.record(Record::Knotes {
                    knotes: table.rows().to_vec(),
                })?;
            }
        }
        Ok(())
    }

    /// Every change of a call that returned was applied, except those that came back as
    /// EV_ERROR entries (B7: a receipt carries the change's ident, filter and udata).
    fn learn_changes(&mut self, staged: &[Staged], events: &[Kevent]) {
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
            if !failed {
                table.apply(&s.change, &s.role);
                self.knotes_changed = true;
            }
        }
    }

    /// What a delivery did to its knote; a deletion, a disabling or a connection's reset
    /// moves the table (B14–B16).
    fn learn_delivery(&mut self, event: &LabeledKevent) -> Option<Delivery> {
        if event.kevent.is_error() {
            return None;
        }
        let delivery = self.knotes.as_mut()?.deliver(&event.kevent)?;
        self.knotes_changed |= match delivery {
            Delivery::Deleted | Delivery::Disabled => true,
            Delivery::Reset => event.label.is_conn(),
            Delivery::Level => false,
        };
        Some(delivery)
    }

    /// Each returned entry with its role. A receipt names the change that failed: it is
    /// labelled as that change was.
    fn label_events(&self, staged: &[Staged], events: &[Kevent]) -> Vec<LabeledKevent> {
        events
            .iter()
            .map(|event| {
                let from_change = staged.iter().find(|s| {
                    event.is_error()
                        && s.change.ident == event.ident
                        && s.change.filter == event.filter
                        && s.change.udata == event.udata
                });
                LabeledKevent {
                    kevent: *event,
                    label: match from_change {
                        Some(s) => s.role.clone(),
                        None => self.role(event.ident, event.filter),
                    },
                }
            })
            .collect()
    }
}
