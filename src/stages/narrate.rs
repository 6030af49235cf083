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
    /// Idents whose flood note was already said (cleared when the server reads or accepts).
    flood_noted: Vec<usize>,
    /// The key wake-up is explained once.
    keys_noted: bool,
}

impl StageTrace {
    pub fn new(tracer: Tracer, stage: &'static Stage) -> StageTrace {
        StageTrace {
            tracer,
            stage,
            flood_noted: Vec::new(),
            keys_noted: false,
        }
    }

    /// The server read `fd`, or a new connection got it: a flood on it is news again.
    pub fn forget_flood(&mut self, fd: usize) {
        self.flood_noted.retain(|&i| i != fd);
    }

    pub fn emit(&mut self, record: Record) -> io::Result<()> {
        self.tracer.emit(record)
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
        } else if label.is_conn() && k.filter == kq::EVFILT_READ {
            // The stage's own words; for a level-triggered flood, once until the next read.
            let level = delivery == Delivery::Level;
            if !level || !self.flood_noted.contains(&k.ident) {
                if level {
                    self.flood_noted.push(k.ident);
                }
                notes.extend((self.stage.delivered)(&label.to_string(), k.data));
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
