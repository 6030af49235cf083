//! Collecting: turning epoll's reports into knote activations, then filling the eventlist from
//! the ready queue (FreeBSD's `kqueue_scan`).

use std::os::fd::{AsRawFd, RawFd};

use super::closed;
use super::consts::*;
use super::data::Connection;
use super::data::{self, Measure};
use super::knote::{Key, Source};
use super::os::{self, ERR, HUP, IN, OUT, RDHUP, WAKE_TOKEN};
use super::state::{File, FileKind, Os, Owner, State};
use crate::kq::Kevent;

/// Marks the knotes behind epoll's reports active, at the tail of the ready queue.
///
/// Reports for registrations deleted while this thread was waiting are ignored. What the bits
/// say about the file (EOF, a pending error) is noted first (`note_bits`).
///
/// B17, FreeBSD's round-robin: `kqueue_scan` puts a delivered level knote back at the tail of
/// its queue, behind the knotes still waiting. Epoll reports the descriptors in its own order,
/// so the level knotes the last collect delivered that epoll reports still ready join the tail
/// first, in the order they were delivered; the other reports follow in epoll's order.
pub(super) fn intake(state: &mut State, os: &Os, reports: &[libc::epoll_event]) {
    let mut reported: Vec<Key> = Vec::with_capacity(reports.len());
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
        match state.regs.get(&fd).map(|reg| &reg.owner) {
            None => continue,
            Some(Owner::Timer(ident)) => reported.push((*ident, EVFILT_TIMER)),
            Some(Owner::File(_)) => {
                note_bits(state, os, fd, bits);
                if bits & (IN | RDHUP | HUP | ERR) != 0 {
                    reported.push((fd as usize, EVFILT_READ));
                }
                if let Some(file) = state.file_mut(fd) {
                    file.reported_readable |= bits & IN != 0;
                }
                if bits & (OUT | HUP | ERR) != 0 {
                    reported.push((fd as usize, EVFILT_WRITE));
                }
            }
        }
    }
    for key in std::mem::take(&mut state.delivered) {
        if reported.contains(&key) {
            activate(state, os, key);
        }
    }
    for key in reported {
        activate(state, os, key);
    }
}

/// What epoll's bits say about a watched file, kept on the file for its filters.
///
/// A socket (B21, FreeBSD's socket buffer states):
/// - EPOLLRDHUP: nothing more to receive (SBS_CANTRCVMORE), sticky. Epoll reports it only to
///   a registration that asks for it (one with a READ knote); for a WRITE-only one, a hang-up
///   is followed by one poll() that asks;
/// - EPOLLHUP with EPOLLRDHUP: both directions shut, so nothing more to send either
///   (SBS_CANTSENDMORE), sticky;
/// - EPOLLHUP without EPOLLRDHUP: a stream socket that was never connected; FreeBSD reports
///   nothing for it, so its registration turns edge-triggered (level-triggered, epoll would
///   wake every wait for it);
/// - EPOLLERR: an error is pending (so_error), for as long as epoll says so. An error is not
///   an EOF: a UDP socket's ICMP error goes away when the program's recv() takes it.
///
/// A pipe or other file: EPOLLRDHUP, EPOLLHUP or EPOLLERR end the reading side, EPOLLHUP or
/// EPOLLERR the writing side.
fn note_bits(state: &mut State, os: &Os, fd: RawFd, bits: u32) {
    let Some(kind) = state.file(fd).map(|file| file.kind) else {
        return;
    };
    match kind {
        FileKind::Listener => {}
        FileKind::Socket | FileKind::Datagram => {
            let asked_rdhup = state
                .regs
                .get(&fd)
                .is_some_and(|reg| reg.in_epoll.unwrap_or(0) & RDHUP != 0);
            let write_eof = state.file(fd).is_some_and(|file| file.write_eof);
            let bits = if bits & HUP != 0 && !asked_rdhup && !write_eof {
                // Epoll reports EPOLLRDHUP only to a registration that asks for it, and a
                // WRITE-only one does not: one poll() tells a connection that was closed
                // (or refused) from one never made.
                bits | os::poll_bits(os.rec, fd).unwrap_or(0) & RDHUP
            } else {
                bits
            };
            let Some(file) = state.file_mut(fd) else {
                return;
            };
            if bits & RDHUP != 0 {
                file.read_eof = true;
                if bits & HUP != 0 {
                    file.write_eof = true;
                }
            }
            let hung_up_unconnected = bits & HUP != 0 && bits & RDHUP == 0 && !file.edge;
            if hung_up_unconnected && kind == FileKind::Socket {
                file.edge = true;
                state.mark_dirty(fd);
            }
            note_error(state, os, fd, bits & ERR != 0);
        }
        FileKind::Pipe | FileKind::Kqueue | FileKind::RegularFile | FileKind::Other => {
            let Some(file) = state.file_mut(fd) else {
                return;
            };
            if bits & (RDHUP | HUP | ERR) != 0 {
                file.read_eof = true;
            }
            if bits & (HUP | ERR) != 0 {
                file.write_eof = true;
            }
        }
    }
}

/// Keeps a socket's pending error as epoll reports it; its value is inferred once, when it
/// first appears, never read (B21).
fn note_error(state: &mut State, os: &Os, fd: RawFd, pending: bool) {
    let Some(known) = state.file(fd).map(|file| file.error) else {
        return;
    };
    let error = match (pending, known) {
        (false, _) => 0,
        (true, 0) => {
            let stream = state
                .file(fd)
                .is_some_and(|file| file.kind == FileKind::Socket);
            data::inferred_error(os, fd, stream)
        }
        (true, known) => known,
    };
    if let Some(file) = state.file_mut(fd) {
        file.error_pending = pending;
        file.error = error;
    }
}

/// Activates a knote: queues it at the tail (B17), unless it is queued already.
///
/// An EV_ONESHOT knote on a descriptor runs its filter here, at activation, and keeps the
/// event it fired with: FreeBSD's `kqueue_scan` delivers an activated ONESHOT knote as it is,
/// without running the filter again, so bytes the program read before collecting do not
/// cancel the event nor change its `data` (B15). A knote that does not fire is not queued.
pub(super) fn activate(state: &mut State, os: &Os, key: Key) {
    let Some(knote) = state.knotes.get(&key) else {
        return;
    };
    if !knote.enabled {
        return;
    }
    // Already fired: it stays active with the event it fired with, whatever happens next.
    let oneshot = knote.has(EV_ONESHOT) && matches!(knote.source, Source::Fd { .. });
    if oneshot && knote.fired.is_none() {
        match fd_filter(state, os, key) {
            Filter::Fires(event) => {
                let calls = state.calls;
                if let Some(knote) = state.knotes.get_mut(&key) {
                    knote.fired = Some(event);
                    knote.fired_in = calls;
                }
            }
            Filter::Quiet => return,
            Filter::Gone => {
                state.purge_fd(key.0 as RawFd);
                return;
            }
        }
    }
    state.enqueue(key);
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
/// disabled knote is skipped (B5), a READ knote whose bytes were read meanwhile is dropped. An
/// EV_ONESHOT knote is the exception: it is delivered as it fired (B15). A knote is handed out
/// at most once per call: the ones that stay queued go back to the tail only after the loop
/// (B17, round-robin). Entries that do not fit stay queued for the next call: no edge is ever
/// lost (B17).
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
        if let Some(event) = knote.fired.take() {
            // B15: an activated ONESHOT knote, handed over without running its filter again,
            // with the udata of the last change (B4). Fired in an earlier call, its descriptor
            // may have been closed since (FreeBSD's close() drops the knote, B22): one fstat.
            let udata = knote.udata;
            let earlier = knote.fired_in != state.calls;
            if earlier && !still_open(state, os, key.0 as RawFd) {
                state.purge_fd(key.0 as RawFd);
                continue;
            }
            out[filled] = Kevent { udata, ..event };
            filled += 1;
            state.remove_knote(os, key);
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

/// True while descriptor `fd` still names the file its knotes were registered on (B22).
fn still_open(state: &State, os: &Os, fd: RawFd) -> bool {
    let Some(file) = state.file(fd) else {
        return false;
    };
    os::fstat(os.rec, fd).is_ok_and(|id| (id.dev, id.ino) == (file.id.dev, file.id.ino))
}

/// What running a READ or WRITE filter found.
enum Filter {
    Fires(Kevent),
    Quiet,
    /// The descriptor is closed (B22): its knotes must go and nothing may be reported.
    Gone,
}

/// READ or WRITE on a descriptor, at collect: run the filter (B13, B18, B19) and decide.
fn fd_event(state: &mut State, os: &Os, key: Key) -> Option<Delivery> {
    let fd = key.0 as RawFd;
    let event = match fd_filter(state, os, key) {
        Filter::Fires(event) => event,
        Filter::Quiet => return None,
        Filter::Gone => {
            state.purge_fd(fd);
            return None;
        }
    };
    let knote = state.knotes.get(&key)?;
    let kind = state.file(fd)?.kind;
    let measured = !matches!(kind, FileKind::Other | FileKind::Kqueue);
    // A level knote on an edge-triggered registration (its fd's other knote has EV_CLEAR) is
    // not re-reported by epoll: it stays queued and is re-checked at each collect. On a
    // level-triggered registration epoll re-reports it by itself. A file that cannot be
    // measured cannot be re-checked, so it is left to epoll.
    // A regular file is never in epoll: a level knote on it stays queued (`vnode.rs`).
    let keep_queued =
        !knote.is_clear() && measured && (state.is_edge(fd) || kind == FileKind::RegularFile);
    Some(Delivery { event, keep_queued })
}

/// The emulated `filt_soread`/`filt_sowrite` (and the pipe and vnode filters): `data` measured
/// now, then the filter's rule. The knote's own NOTE_LOWAT threshold replaces the file's
/// default (B20).
fn fd_filter(state: &mut State, os: &Os, key: Key) -> Filter {
    let fd = key.0 as RawFd;
    let (Some(file), Some(knote)) = (state.file(fd), state.knotes.get(&key)) else {
        return Filter::Quiet;
    };
    let lowat = match knote.source {
        Source::Fd { lowat } => lowat,
        _ => None,
    };
    let (kind, error_pending) = (file.kind, file.error_pending);
    let rule = if key.1 == EVFILT_READ {
        let (measure, kind) = if kind == FileKind::Datagram && error_pending {
            // Peeking at the datagrams would take the pending error (Linux's datagram recv
            // returns it first, MSG_PEEK or not): while it lasts, FIONREAD's first datagram.
            (data::readable(os, fd, FileKind::Other), kind)
        } else {
            data::measure(state, os, fd, key.1, kind)
        };
        let data = match measure {
            Measure::Gone => return Filter::Gone,
            // A file that cannot be measured is reported on epoll's word alone, with data 0.
            Measure::Unknown | Measure::Listening => None,
            Measure::Count(count) => Some(count),
        };
        if !readable_report_is_this_files(state, os, fd, kind, data) {
            return Filter::Gone;
        }
        let Some(file) = state.file(fd) else {
            return Filter::Quiet;
        };
        read_rule(file, data, lowat)
    } else {
        write_rule(state, os, fd, lowat)
    };
    let (fired, flags, fflags) = rule;
    match (fired, state.knotes.get(&key)) {
        (Some(data), Some(knote)) => Filter::Fires(knote.event(flags, fflags, data)),
        (Some(_), None) => Filter::Quiet,
        (None, _) if state.file(fd).is_none() => Filter::Gone,
        (None, _) => Filter::Quiet,
    }
}

/// Epoll said readable and the number's file has nothing to read, no EOF, no error: has the
/// number changed (B22, `closed.rs`)? False when it now names another file.
fn readable_report_is_this_files(
    state: &mut State,
    os: &Os,
    fd: RawFd,
    kind: FileKind,
    data: Option<i64>,
) -> bool {
    let reported = state
        .file_mut(fd)
        .is_some_and(|file| std::mem::take(&mut file.reported_readable));
    let quiet = state
        .file(fd)
        .is_some_and(|file| !file.read_eof && !file.error_pending);
    let streams = matches!(kind, FileKind::Socket | FileKind::Datagram | FileKind::Pipe);
    if reported && streams && quiet && data == Some(0) {
        return closed::names_the_registered_file(state, os, fd);
    }
    true
}

/// What a filter rule decided: `Some(data)` if the knote fires, with the extra flags
/// (EV_EOF) and fflags (the socket error).
type Rule = (Option<i64>, u16, u32);

/// `filt_soread` (FreeBSD `uipc_socket.c`), the pipe's and the vnode's READ, on `data` unread
/// bytes (`None`: a file that cannot be measured):
/// - a regular file: fires while data ≠ 0 (`filt_vfsread`; negative past the end);
/// - receive side shut (B21): fires with EV_EOF, fflags = the pending error (0 if none);
/// - a socket error pending: fires, without EV_EOF (a temporary error, the program's recv()
///   takes it);
/// - otherwise: at least the knote's NOTE_LOWAT bytes on a socket, or 1 (a listener: at least
///   one connection, B18; `filt_piperead` ignores NOTE_LOWAT).
fn read_rule(file: &File, data: Option<i64>, lowat: Option<i64>) -> Rule {
    let Some(data) = data else {
        let flags = if file.read_eof { EV_EOF } else { 0 };
        return (Some(0), flags, 0);
    };
    match file.kind {
        FileKind::RegularFile => return ((data != 0).then_some(data), 0, 0),
        FileKind::Listener => return ((data >= 1).then_some(data), 0, 0),
        _ => {}
    }
    if file.read_eof {
        return (Some(data), EV_EOF, pending_error(file));
    }
    if file.error_pending {
        return (Some(data), 0, 0);
    }
    let threshold = match file.kind {
        FileKind::Socket | FileKind::Datagram => lowat.unwrap_or(1),
        _ => 1,
    };
    ((data >= threshold).then_some(data), 0, 0)
}

/// POSIX's PIPE_BUF on FreeBSD: the free space a pipe needs to be reported writable.
const PIPE_BUF: i64 = 512;

/// `filt_sowrite` (FreeBSD `uipc_socket.c`), the pipe's and the vnode's WRITE:
/// - a listener never fires;
/// - send side shut (a local shutdown(SHUT_WR), a reset, B21): fires with EV_EOF;
/// - a socket error pending: fires (temporary error);
/// - a connection-oriented socket that is not connected yet never fires: WRITE means
///   connected (B19);
/// - otherwise: free space ≥ the knote's NOTE_LOWAT, or ≥ the send low-water mark (2048 on a
///   socket, capped for tiny buffers, `data::send_space`, B19; PIPE_BUF on a pipe,
///   `filt_pipewrite`); a regular file always (`filt_vfswrite`).
fn write_rule(state: &mut State, os: &Os, fd: RawFd, lowat: Option<i64>) -> Rule {
    let Some(file) = state.file(fd) else {
        return (None, 0, 0);
    };
    let kind = file.kind;
    let socket = matches!(kind, FileKind::Socket | FileKind::Datagram);
    let measured = if socket {
        let stream = kind == FileKind::Socket;
        data::send_space(os, fd, stream).map(|space| (space.free, space.lowat))
    } else {
        match data::writable(os, fd, kind) {
            Measure::Count(count) if kind == FileKind::Pipe => Ok((count, PIPE_BUF)),
            Measure::Count(count) => Ok((count, 1)),
            other => Err(other),
        }
    };
    let (data, default_lowat) = match measured {
        Ok((free, lowat)) => (Some(free), lowat),
        Err(Measure::Gone) => {
            state.purge_fd(fd);
            return (None, 0, 0);
        }
        Err(_) => (None, 1),
    };
    let mut connected = true;
    if kind == FileKind::Socket && !state.file(fd).is_some_and(|file| file.write_eof) {
        // The second call of a WRITE check on a TCP socket (SO_MEMINFO was the first): epoll
        // shows neither a local shutdown(SHUT_WR) nor a connection still in progress (for the
        // latter it only stays silent), nor a listen() since the registration.
        match data::connection(os, fd) {
            Some(Connection::SendShut) => {
                if let Some(file) = state.file_mut(fd) {
                    file.write_eof = true;
                }
            }
            Some(Connection::NotConnected) => connected = false,
            Some(Connection::Listening) => {
                // FreeBSD switches it to `filt_solisten` in `solisten`: WRITE never fires.
                if let Some(file) = state.file_mut(fd) {
                    file.kind = FileKind::Listener;
                    file.read_eof = false;
                    file.write_eof = false;
                }
                return (None, 0, 0);
            }
            Some(Connection::Open) | None => {}
        }
    }
    let Some(file) = state.file(fd) else {
        return (None, 0, 0);
    };
    let Some(data) = data else {
        let flags = if file.write_eof { EV_EOF } else { 0 };
        return (Some(0), flags, 0);
    };
    match kind {
        FileKind::Listener => (None, 0, 0),
        FileKind::RegularFile => (Some(data), 0, 0),
        FileKind::Socket | FileKind::Datagram => {
            if file.write_eof {
                (Some(data), EV_EOF, pending_error(file))
            } else if file.error_pending {
                (Some(data), 0, 0)
            } else if !connected {
                (None, 0, 0)
            } else {
                let threshold = lowat.unwrap_or(default_lowat);
                ((data >= threshold).then_some(data), 0, 0)
            }
        }
        FileKind::Pipe | FileKind::Kqueue | FileKind::Other => {
            if file.write_eof {
                (Some(data), EV_EOF, 0)
            } else {
                (
                    (data >= lowat.unwrap_or(default_lowat)).then_some(data),
                    0,
                    0,
                )
            }
        }
    }
}

/// The fflags of an EV_EOF report: FreeBSD copies `so_error`, 0 once the program took it.
fn pending_error(file: &File) -> u32 {
    if file.error_pending {
        file.error as u32
    } else {
        0
    }
}

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
/// - level: queued again at the tail if nothing else will report it, else remembered for the
///   next intake's round-robin (B12, B17).
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
    } else if !knote.is_clear() {
        // Left to epoll, which reports it again while it is ready; the next intake keeps its
        // place in the round-robin (B17).
        state.delivered.push(key);
    }
}
