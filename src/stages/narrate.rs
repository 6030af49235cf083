//! What a flag stage says about its kevent calls: the stage's trace, and the sentences it adds
//! to a call's record when an event is delivered (the stage's own words for its flag, the EOF,
//! an EV_ERROR entry, the key wake-up).

use std::io;

use super::Stage;
use crate::kq::{self, Kevent};
use crate::trace::knotes::Delivery;
use crate::trace::{CallSink, LabeledKevent, Record, Role, Tracer};

/// The stage's side of the trace: its tracer, and what it has already said.
pub(super) struct StageTrace {
    pub tracer: Tracer,
    stage: &'static Stage,
    /// Knotes (ident, filter) whose flood note was already said (cleared when the server
    /// reads or accepts).
    flood_noted: Vec<(usize, i16)>,
    /// Why the knote change in flight would fail, for its EV_ERROR entry (B7).
    pub failure_context: Option<String>,
    /// The key wake-up is explained once.
    keys_noted: bool,
}

impl StageTrace {
    pub fn new(tracer: Tracer, stage: &'static Stage) -> StageTrace {
        StageTrace {
            tracer,
            stage,
            flood_noted: Vec::new(),
            failure_context: None,
            keys_noted: false,
        }
    }

    /// The server read `fd`, or a new connection got it: a flood on it is news again.
    pub fn forget_flood(&mut self, fd: usize) {
        self.flood_noted.retain(|&(i, _)| i != fd);
    }

    pub fn emit(&mut self, record: Record) -> io::Result<()> {
        self.tracer.emit(record)
    }
}

/// The note for a delivery: the stage's own when it is the stage's knote, else the words of
/// the stage that teaches that mode.
fn delivered(stage: &Stage, filter: i16, delivery: Delivery) -> fn(&str, i64) -> Option<String> {
    let write = filter == kq::EVFILT_WRITE;
    let own = match stage.flags & (kq::EV_ONESHOT | kq::EV_DISPATCH | kq::EV_CLEAR) {
        0 => Delivery::Level,
        f if f & kq::EV_ONESHOT != 0 => Delivery::Deleted,
        f if f & kq::EV_DISPATCH != 0 => Delivery::Disabled,
        _ => Delivery::Reset,
    };
    if filter == stage.filter && delivery == own {
        return stage.delivered;
    }
    match delivery {
        Delivery::Level if write => super::write::delivered,
        Delivery::Level => super::flood::delivered,
        Delivery::Deleted => super::oneshot::delivered,
        Delivery::Disabled => super::dispatch::delivered,
        Delivery::Reset if write => |conn, _| {
            Some(format!(
                "EV_CLEAR (B14): {conn}'s WRITE knote state was reset at delivery; it fires \
                 again only when the send buffer's free space changes"
            ))
        },
        Delivery::Reset => super::clear::delivered,
    }
}

impl CallSink for StageTrace {
    fn tracing(&self) -> bool {
        true
    }

    fn record(&mut self, record: Record) -> io::Result<()> {
        self.tracer.emit(record)
    }

    fn repeat_if_same(&mut self, events: &[Kevent], blocked_s: f64) -> io::Result<bool> {
        self.tracer.repeat_if_same(events, blocked_s)
    }

    fn narrate(
        &mut self,
        event: &LabeledKevent,
        delivery: Option<Delivery>,
        notes: &mut Vec<String>,
    ) {
        let label = &event.label;
        let k = &event.kevent;
        if k.is_error() {
            if k.is_failure() {
                notes.push(format!(
                    "{label} {} failed with {}: an EV_ERROR entry in the eventlist (B7)",
                    kq::filter_name(k.filter),
                    kq::errno_name(k.data as i32)
                ));
                notes.extend(self.failure_context.take());
            } else {
                notes.push(format!(
                    "EV_RECEIPT (B8): {label}'s {} change succeeded, and its receipt is this \
                     EV_ERROR entry with data 0; because the call wrote an entry, it collected \
                     no events (B7)",
                    kq::filter_name(k.filter)
                ));
            }
            return;
        }
        let Some(delivery) = delivery else {
            return;
        };
        if label.is_conn() && k.is_eof() {
            let unread = if k.data > 0 {
                format!(" with {} byte(s) still unread", k.data)
            } else {
                String::new()
            };
            notes.push(format!(
                "EV_EOF (B21): the client closed {label}{unread}; the server deletes the \
                 knote, then closes its socket (EV_DELETE before close, B22)"
            ));
        } else if label.is_conn() && (k.filter == kq::EVFILT_READ || k.filter == kq::EVFILT_WRITE) {
            // Words for what the delivery did; for a level-triggered flood, once until the next
            // read. A knote added by `add` may differ from the stage's own.
            let level = delivery == Delivery::Level;
            let key = (k.ident, k.filter);
            if !level || !self.flood_noted.contains(&key) {
                if level {
                    self.flood_noted.push(key);
                }
                notes.extend(delivered(self.stage, k.filter, delivery)(
                    &label.to_string(),
                    k.data,
                ));
            }
        } else if *label == Role::Keys && !self.keys_noted {
            self.keys_noted = true;
            notes.push(
                "the key reader thread NOTE_TRIGGERed the `keys` EVFILT_USER knote (B24): \
                 that is how a key press wakes kevent"
                    .to_string(),
            );
        }
    }
}
