//! Collecting: turning epoll's reports into knote activations, then filling the eventlist from
//! the ready queue (FreeBSD's `kqueue_scan`).

use std::os::fd::{AsRawFd, RawFd};

use super::consts::*;
use super::data::{self, Measure};
use super::knote::{Key, Source};
use super::os::{self, ERR, HUP, IN, OUT, RDHUP, WAKE_TOKEN};
use super::state::{FileKind, Os, Owner, State};
use crate::kq::Kevent;

/// Marks the knotes behind epoll's reports active, at the tail of the ready queue.
///
/// Reports for registrations deleted while this thread was waiting are ignored, and so are
/// those of an older registration of the same number (its token differs, see
/// `State::next_token`, B22). EOF and error bits are remembered on the file: they are sticky,
/// as the socket states they mirror (B21).
pub(super) fn intake(state: &mut State, os: &Os, reports: &[libc::epoll_event]) {
    for report in reports {
        let (token, bits) = (report.u64, report.events);
        if token == WAKE_TOKEN {
            let _ = os::eventfd_drain(os.rec, os.wakefd);
            state.poked = false;
            continue;
        }
        let fd = os::token_fd(token);
        if state.regs.get(&fd).is_none_or(|reg| reg.token != token) {
            continue;
        }
        let mut filters: [Option<Key>; 2] = [None, None];
        match state.regs.get_mut(&fd).map(|reg| &mut reg.owner) {
            None => continue,
            Some(Owner::Timer(ident)) => filters[0] = Some((*ident, EVFILT_TIMER)),
            Some(Owner::File(file)) => {
                if file.kind != FileKind::Listener {
                    if bits & (RDHUP | HUP | ERR) != 0 {
                        file.read_eof = true;
                    }
                    if bits & (HUP | ERR) != 0 {
                        file.write_eof = true;
                    }
                    if bits & ERR != 0 && file.error == 0 && file.kind == FileKind::Socket {
                        file.error = data::socket_error(os, fd);
                    }
                }
                if bits & (IN | RDHUP | HUP | ERR) != 0 {
                    filters[0] = Some((fd as usize, EVFILT_READ));
                }
                if bits & (OUT | HUP | ERR) != 0 {
                    filters[1] = Some((fd as usize, EVFILT_WRITE));
                }
            }
        }
        for key in filters.into_iter().flatten() {
            if state.knotes.get(&key).is_some_and(|knote| knote.enabled) {
                state.enqueue(key);
            }
        }
    }
}

/// One event ready to hand out, and whether the knote must stay in the ready queue because
/// nothing else will report it again (a level knote epoll does not re-report).
struct Delivery {
    event: Kevent,
    keep_queued: bool,
}

/// Fills `out` from the ready queue and returns how many entries were filled.
///
/// Each queued knote is re-checked first, as BSD runs the filter at retrieval (B12): a
/// disabled knote is skipped (B5), a READ knote whose bytes were read meanwhile is dropped.
/// A knote is handed out at most once per call: the ones that stay queued go back to the tail
/// only after the loop (B17, round-robin). Entries that do not fit stay queued for the next
/// call: no edge is ever lost (B17).
pub(super) fn collect(state: &mut State, os: &Os, out: &mut [Kevent]) -> usize {
    let mut filled = 0;
    let mut again = Vec::new();
    while filled < out.len() {
        let Some(key) = state.ready.pop_front() else {
            break;
        };
        let Some(knote) = state.knotes.get_mut(&key) else {
            continue;
        };
        knote.queued = false;
        if !knote.enabled {
            continue;
        }
        let delivery = match knote.source {
            Source::Fd { .. } => fd_event(state, os, key),
            Source::Timer(_) => timer_event(state, os, key),
            Source::User(_) => user_event(state, key),
        };
        let Some(delivery) = delivery else {
            continue;
        };
        out[filled] = delivery.event;
        filled += 1;
        after_delivery(state, os, key, delivery.keep_queued, &mut again);
    }
    for key in again {
        state.enqueue(key);
    }
    filled
}

/// READ or WRITE on a descriptor: measure `data` now (B13, B18, B19) and decide.
fn fd_event(state: &mut State, os: &Os, key: Key) -> Option<Delivery> {
    let fd = key.0 as RawFd;
    let file = state.file(fd)?;
    let (kind, read_eof, write_eof, error) = (file.kind, file.read_eof, file.write_eof, file.error);
    let knote = state.knotes.get(&key)?;
    let lowat = match knote.source {
        Source::Fd { lowat } => lowat,
        _ => 1,
    };
    let (measure, eof) = if key.1 == EVFILT_READ {
        (data::readable(os, fd, kind), read_eof)
    } else {
        (data::writable(os, fd, kind), write_eof)
    };
    let data = match measure {
        Measure::Count(count) => count,
        // A file that cannot be measured is reported on epoll's word alone, with data 0.
        Measure::Unknown => 0,
        // B22: closed behind the kqueue's back: nothing may be reported, the knotes go.
        Measure::Gone => {
            state.purge_fd(fd);
            return None;
        }
    };
    let measured = matches!(measure, Measure::Count(_));
    if measured && !eof {
        // B12: the condition no longer holds (bytes read meanwhile, connection accepted,
        // below NOTE_LOWAT): the event is silently dropped. A listener ignores NOTE_LOWAT.
        let threshold = if key.1 == EVFILT_READ && kind != FileKind::Listener {
            lowat
        } else {
            1
        };
        if data < threshold {
            return None;
        }
    }
    // B21: EV_EOF, with the socket error (0 after an orderly close) in fflags.
    let (flags, fflags) = if eof { (EV_EOF, error as u32) } else { (0, 0) };
    let event = knote.event(flags, fflags, data);
    // A level knote on an edge-triggered registration (its fd's other knote has EV_CLEAR) is
    // not re-reported by epoll: it stays queued and is re-checked at each collect. On a
    // level-triggered registration epoll re-reports it by itself. A file that cannot be
    // measured cannot be re-checked, so it is left to epoll.
    let keep_queued = !knote.is_clear() && measured && state.is_edge(fd);
    Some(Delivery { event, keep_queued })
}

/// B23: data is the number of expirations since the last delivery, read from the timerfd
/// (which resets it). None yet: nothing to report.
fn timer_event(state: &mut State, os: &Os, key: Key) -> Option<Delivery> {
    let knote = state.knotes.get(&key)?;
    let Source::Timer(timer) = &knote.source else {
        return None;
    };
    match os::timerfd_read(os.rec, timer.fd.as_raw_fd()) {
        Ok(expirations) if expirations > 0 => Some(Delivery {
            event: knote.event(0, 0, expirations.min(i64::MAX as u64) as i64),
            keep_queued: false,
        }),
        _ => None,
    }
}

/// B24: the stored user bits in fflags (control bits and NOTE_TRIGGER cleared) and the data of
/// the last change. Without EV_CLEAR the knote stays triggered and comes back every collect.
fn user_event(state: &mut State, key: Key) -> Option<Delivery> {
    let knote = state.knotes.get(&key)?;
    let Source::User(user) = &knote.source else {
        return None;
    };
    if !user.triggered {
        return None;
    }
    Some(Delivery {
        event: knote.event(0, user.fflags, user.data),
        keep_queued: !knote.is_clear(),
    })
}

/// What delivery does to the knote (FreeBSD `kqueue_scan`):
/// - EV_ONESHOT: deleted (B15); EV_DISPATCH|EV_ONESHOT is handled as ONESHOT (B16);
/// - EV_DISPATCH: disabled, kept (B16);
/// - EV_CLEAR: quiet until a new edge (B14); a user event's trigger is reset (B24);
/// - level: queued again at the tail if nothing else will report it (B12, B17).
fn after_delivery(state: &mut State, os: &Os, key: Key, keep_queued: bool, again: &mut Vec<Key>) {
    let Some(knote) = state.knotes.get_mut(&key) else {
        return;
    };
    if knote.has(EV_ONESHOT) {
        state.remove_knote(os, key);
        return;
    }
    if knote.is_clear() {
        if let Source::User(user) = &mut knote.source {
            user.triggered = false;
        }
    }
    if knote.has(EV_DISPATCH) {
        knote.enabled = false;
        let registration = match &knote.source {
            Source::Fd { .. } => Some(key.0 as RawFd),
            Source::Timer(timer) => Some(timer.fd.as_raw_fd()),
            Source::User(_) => None,
        };
        if let Some(fd) = registration {
            // Sent at the next sync: if the next changelist re-enables it, no epoll_ctl at all.
            state.mark_dirty(fd);
        }
        return;
    }
    if keep_queued {
        again.push(key);
    }
}
