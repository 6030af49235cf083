//! Collecting: turning epoll's reports into knote activations, then filling the eventlist from
//! the ready queue (FreeBSD's `kqueue_scan`).

use std::os::fd::{AsRawFd, RawFd};

use super::closed;
use super::consts::*;
use super::data::{self, Measure};
use super::knote::{Key, Source};
use super::os::{self, ERR, HUP, IN, OUT, RDHUP, WAKE_TOKEN};
use super::state::{FileKind, Os, Owner, State};
use crate::kq::Kevent;

/// Marks the knotes behind epoll's reports active, at the tail of the ready queue.
///
/// Reports for registrations deleted while this thread was waiting are ignored. EOF and error
/// bits are remembered on the file: they are sticky, as the socket states they mirror (B21).
pub(super) fn intake(state: &mut State, os: &Os, reports: &[libc::epoll_event]) {
    for report in reports {
        let (token, bits) = (report.u64, report.events);
        if token == WAKE_TOKEN {
            let _ = os::eventfd_drain(os.rec, os.wakefd);
            state.poked = false;
            continue;
        }
        let fd = closed::fd_of(token);
        if state.regs.get(&fd).is_none_or(|reg| reg.token != token) {
            // An item of a descriptor closed behind the kqueue's back (B22).
            closed::stale_report(state, os, token);
            continue;
        }
        if bits & (RDHUP | HUP | ERR) != 0 && !closed::eof_is_this_files(state, os, fd) {
            // The number was closed and now names another file (B22): that EOF is not its own.
            state.purge_fd(fd);
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
                file.reported_readable |= bits & IN != 0;
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
    let (measure, kind) = data::measure(state, os, fd, key.1, kind);
    let eof = if key.1 == EVFILT_READ {
        read_eof
    } else {
        write_eof
    };
    let data = match measure {
        Measure::Count(count) => count,
        // A file that cannot be measured is reported on epoll's word alone, with data 0.
        Measure::Unknown | Measure::Listening => 0,
        // B22: closed behind the kqueue's back: nothing may be reported, the knotes go.
        Measure::Gone => {
            state.purge_fd(fd);
            return None;
        }
    };
    let measured = matches!(measure, Measure::Count(_));
    let reported = key.1 == EVFILT_READ
        && state
            .file_mut(fd)
            .is_some_and(|file| std::mem::take(&mut file.reported_readable));
    let streams = matches!(kind, FileKind::Socket | FileKind::Datagram | FileKind::Pipe);
    if reported && streams && measured && data == 0 && !eof {
        // epoll said readable, the number's file has nothing: has the number changed (B22)?
        if !closed::names_the_registered_file(state, os, fd) {
            state.purge_fd(fd);
            return None;
        }
    }
    let knote = state.knotes.get(&key)?;
    if kind == FileKind::RegularFile {
        // `filt_vfsread` fires while data ≠ 0 (negative past the end); `filt_vfswrite` always.
        if key.1 == EVFILT_READ && data == 0 {
            return None;
        }
    } else if measured && !eof {
        // B12: the condition no longer holds (bytes read meanwhile, connection accepted,
        // below NOTE_LOWAT): the event is silently dropped. A listener ignores NOTE_LOWAT.
        let threshold = match (key.1, kind) {
            (EVFILT_READ, FileKind::Socket | FileKind::Datagram) => lowat,
            // FreeBSD `filt_pipewrite`: a pipe is writable from PIPE_BUF free bytes (B19);
            // `filt_piperead` ignores NOTE_LOWAT.
            (EVFILT_WRITE, FileKind::Pipe) => PIPE_BUF,
            _ => 1,
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
    // A regular file is never in epoll: a level knote on it stays queued (`vnode.rs`).
    let keep_queued =
        !knote.is_clear() && measured && (state.is_edge(fd) || kind == FileKind::RegularFile);
    Some(Delivery { event, keep_queued })
}

/// POSIX's PIPE_BUF on FreeBSD: the free space a pipe needs to be reported writable.
const PIPE_BUF: i64 = 512;

/// B23: data is the number of expirations since the last delivery, read from the timerfd
/// (which resets it). None yet: nothing to report. After a re-add with bad parameters, data is
/// that errno instead, once (FreeBSD `filt_timertouch` puts it in `kn_data`; EV_CLEAR clears it).
fn timer_event(state: &mut State, os: &Os, key: Key) -> Option<Delivery> {
    let knote = state.knotes.get_mut(&key)?;
    let Source::Timer(timer) = &mut knote.source else {
        return None;
    };
    if timer.error != 0 {
        let error = std::mem::take(&mut timer.error);
        return Some(Delivery {
            event: knote.event(0, 0, i64::from(error)),
            keep_queued: false,
        });
    }
    match os::timerfd_read(os.rec, timer.fd.as_raw_fd()) {
        Ok(expirations) if expirations > 0 => Some(Delivery {
            event: knote.event(0, 0, expirations.min(i64::MAX as u64) as i64),
            keep_queued: false,
        }),
        _ => None,
    }
}

/// B24: the stored fflags and the data of the last change. Without EV_CLEAR the knote stays
/// triggered and comes back every collect. An EV_ONESHOT user event is delivered as the knote
/// stands, fflags 0 and data 0: FreeBSD's `kqueue_scan` copies a ONESHOT knote's own kevent
/// without calling the filter's `filt_usertouch`, which is what fills them in.
fn user_event(state: &mut State, key: Key) -> Option<Delivery> {
    let knote = state.knotes.get(&key)?;
    let Source::User(user) = &knote.source else {
        return None;
    };
    if !user.triggered {
        return None;
    }
    let event = if knote.has(EV_ONESHOT) {
        knote.event(0, 0, 0)
    } else {
        knote.event(0, user.fflags, user.data)
    };
    Some(Delivery {
        event,
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
