//! Linux: kqueue emulated over epoll, with FreeBSD 14 semantics (spec §7).
//!
//! # How it works
//!
//! - The kqueue descriptor IS an epoll descriptor, so it can be polled like a real kqueue
//!   (B25). Inside its epoll set: one item per watched descriptor, one timerfd per timer, and
//!   one eventfd that wakes waiters (EVFILT_USER triggers, leftovers for pollers).
//! - Knotes live in user space (`knote.rs`), keyed by `(ident, filter)` (B1). The READ and WRITE
//!   knotes of one descriptor share its single epoll item; its mask is derived from the enabled
//!   knotes, and sent to epoll once per changelist, only when it really changes (`state.rs`).
//! - A ready queue of knotes sits between epoll and the eventlist (`scan.rs`): epoll's reports
//!   go in at the tail (a delivered level knote behind the ones still waiting, B17), the
//!   collect takes from the head, re-checks each knote with the BSD filter's rule (an
//!   EV_ONESHOT knote is delivered as it fired instead, B15), and applies ONESHOT/DISPATCH/CLEAR.
//! - Changes are applied one by one as FreeBSD's `kqueue_register` does (`register.rs`).
//! - `data` and the socket's state are measured with ioctl/getsockopt (`data.rs`), never by
//!   touching what the program itself would read (no SO_ERROR, no SO_RCVLOWAT); timers and
//!   user events have their own files (`timer.rs`, `user.rs`), regular files too (`vnode.rs`,
//!   epoll refuses them).
//! - Descriptors closed through the lab (`kq::close`, `kq::dup2`): `fdclose.rs` runs
//!   FreeBSD's `knote_fdclose` in every kqueue of the process; closed behind the kqueues' back:
//!   `closed.rs` (B22).
//! - Every system call goes through `os.rs`, which counts and, on request, records it
//!   (`record.rs`); the calls themselves, and their `unsafe`, are the crate's Linux module
//!   ([`crate::sys::linux`]), shared with the raw epoll server.
//!
//! # Where the emulation differs from FreeBSD (documented, not hidden)
//!
//! - B19: WRITE data on a socket is the send buffer's free memory from SO_MEMINFO (Linux
//!   counts buffer memory, not payload bytes), an approximation of BSD's `sbspace`; the
//!   2048-byte low-water mark is compared with it. It is Linux's own measure for refusing a
//!   write, so WRITE is never reported right after EAGAIN; but level-triggered epoll reports a
//!   socket writable only once about a third of its buffer is free, so after EAGAIN WRITE can
//!   come later than on FreeBSD (and for a send buffer under 6 KiB the 2048 threshold is
//!   lowered to a third of the buffer, where Linux calls it writable). Checking WRITE on a TCP
//!   socket costs SO_MEMINFO and TCP_INFO (the state shows a connection still in progress, a
//!   local shutdown(SHUT_WR) and a listen(), which epoll does not). On a pipe WRITE data is
//!   the capacity minus the queued bytes; a Linux pipe stores writes in whole pages, so after
//!   many small writes it can be full (no EPOLLOUT) while that count says otherwise.
//! - B20: NOTE_LOWAT lives in the knote, but epoll knows no threshold: a knote with one makes
//!   its descriptor's registration edge-triggered, and the threshold is checked at each epoll
//!   report and at each registration. A WRITE threshold reached without a new wakeup from
//!   Linux (after the socket was last reported writable) is noticed only at the next one.
//! - B21: a socket error is never read (SO_ERROR would clear it for the program): EPOLLERR says
//!   one is pending, and its value is inferred (ECONNREFUSED for a TCP connection that never
//!   completed and for a datagram socket, ETIMEDOUT after retransmissions, else ECONNRESET;
//!   FreeBSD's value also where Linux says EPIPE). On an edge-triggered registration the
//!   "pending" is as of epoll's last report. A local shutdown(SHUT_WR) is seen on TCP only
//!   (TCP_INFO): on a UDP or Unix socket WRITE shows no EV_EOF after it.
//! - B17: the level knotes that the emulation keeps queued itself (on an edge-triggered
//!   registration) go back to the tail at the end of a collect, the ones epoll reports again
//!   at the next one: between the two groups the order can differ from FreeBSD's single queue.
//! - B15: an EV_ONESHOT knote fires when the emulation sees it fire, at a kevent call (its
//!   epoll_wait or a registration), and keeps that event; bytes that arrive and are all read
//!   between two kevent calls leave no event, where FreeBSD would deliver one, and `data` is
//!   not updated by later arrivals before the collect. A knote collected by a later kevent
//!   call than the one it fired in costs one fstat, to make sure its descriptor was not closed
//!   in between by a close the emulation did not see (B22).
//! - B22: a close through the lab ([`crate::kq::close`], [`crate::kq::dup2`]) is exact:
//!   `fdclose.rs` drops the number's knotes and queued events in every kqueue of the process
//!   and removes its epoll item first, as FreeBSD's `knote_fdclose`. The one cost is an
//!   EPOLL_CTL_DEL per close of a number that has an epoll item, counted but shown in no
//!   kevent call's trace. Any other close (dropping a `TcpStream` or an `OwnedFd`, libc's
//!   close or dup2, a close by a library) is invisible, and its knotes are purged lazily: a
//!   change naming the number fails with EBADF, an EV_ADD on a reused number makes a fresh
//!   knote, and a measurement that finds the number closed drops its event. An epoll item whose
//!   file lives on after such a close (a dup, a child) is recognised by its token once the
//!   number is registered again, never delivered, and removed by rebuilding the epoll set
//!   (`closed.rs`); when epoll and the number disagree (a first EOF, or "readable" with
//!   nothing to read) one fstat checks that the number still names the registered file. What
//!   stays different after such a close only: a knote whose number now names another file
//!   (dup2 onto it, or a new socket) that has bytes of its own reports them when the old
//!   file's item fires, until the kqueue touches the number again; and a dup2 back to the same
//!   file revives the old knote. The lab's own programs close their watched descriptors through
//!   `kq::close`; the built-in clients' sockets, which no kqueue watches, are simply dropped.
//! - B14: epoll re-polls a descriptor when its mask is changed with MOD, so an EV_CLEAR knote
//!   whose condition still holds can be reported once more after the other knote on the same
//!   descriptor is enabled or disabled. Edge-triggered WRITE also fires on wakeups that BSD
//!   would not count as WRITE edges (data arrival on a socket with both knotes EV_CLEAR).
//! - Regular files are measured by the collect, not watched (epoll refuses them, `vnode.rs`):
//!   a thread blocked in kevent is not woken when the file grows, and an EV_CLEAR READ knote on
//!   a file fires at registration only. Directories are refused with EPERM (FreeBSD accepts
//!   them; a Linux directory offset is not a byte count).
//! - Filters other than READ, WRITE, TIMER and USER (VNODE, PROC, SIGNAL...) are not emulated:
//!   the emulation answers as a FreeBSD kernel built without them (EV_ADD: ENXIO, any other
//!   change: ENOENT). NOTE_ABSTIME timers are EINVAL.
//! - 0x100 (EV_FORCEONESHOT) and 0x200 (EV_KEEPUDATA) are not stored, as on FreeBSD, but do
//!   nothing else: every change replaces udata, and an existing knote is not made ONESHOT.
//! - B25: another emulated kqueue watched for READ reports the length of its ready queue as of
//!   its last kevent call, at least 1 (`nested.rs`): a lower bound of FreeBSD's `kq_count`. A
//!   raw epoll descriptor, or a kqueue of another process, reports data 0.
//! - B13: a datagram socket's READ data costs a peek per queued datagram (up to 1024; beyond,
//!   data is a lower bound).
//!
//! # Threads
//!
//! The state is behind a mutex that is never held across the blocking epoll_wait, so one thread
//! may wait in `kevent` while another applies changes, for example a NOTE_TRIGGER that wakes the
//! waiter through the eventfd (§7 Threads).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::{Backend, Kevent, OsCall, OsCallCounts, Timespec};

mod closed;
mod data;
mod fdclose;
mod knote;
mod nested;
mod os;
mod record;
mod register;
mod scan;
mod state;
mod timer;
mod user;
mod vnode;

/// An epoll mask in words (`IN|OUT`), for the raw epoll server's trace as well as this one's.
pub(crate) use os::mask_names as epoll_mask_names;

use record::Recorder;
use state::{Os, State};

pub const BACKEND: Backend = Backend::Emulated;

/// FreeBSD's values (spec §4 and §7): the emulation defines its own.
pub mod consts {
    pub const EVFILT_READ: i16 = -1;
    pub const EVFILT_WRITE: i16 = -2;
    pub const EVFILT_TIMER: i16 = -7;
    pub const EVFILT_USER: i16 = -11;

    pub const EV_ADD: u16 = 0x0001;
    pub const EV_DELETE: u16 = 0x0002;
    pub const EV_ENABLE: u16 = 0x0004;
    pub const EV_DISABLE: u16 = 0x0008;
    pub const EV_ONESHOT: u16 = 0x0010;
    pub const EV_CLEAR: u16 = 0x0020;
    pub const EV_RECEIPT: u16 = 0x0040;
    pub const EV_DISPATCH: u16 = 0x0080;
    /// FreeBSD's one-time request bits, never stored in a knote (B26); not emulated otherwise.
    pub(crate) const EV_FORCEONESHOT: u16 = 0x0100;
    pub(crate) const EV_KEEPUDATA: u16 = 0x0200;
    pub const EV_SYSFLAGS: u16 = 0xF000;
    pub const EV_ERROR: u16 = 0x4000;
    pub const EV_EOF: u16 = 0x8000;

    pub const NOTE_LOWAT: u32 = 0x0000_0001;
    pub const NOTE_TRIGGER: u32 = 0x0100_0000;
    pub const NOTE_FFNOP: u32 = 0x0000_0000;
    pub const NOTE_FFAND: u32 = 0x4000_0000;
    pub const NOTE_FFOR: u32 = 0x8000_0000;
    pub const NOTE_FFCOPY: u32 = 0xC000_0000;
    pub const NOTE_FFCTRLMASK: u32 = 0xC000_0000;
    pub const NOTE_FFLAGSMASK: u32 = 0x00FF_FFFF;

    pub const NOTE_SECONDS: u32 = 0x0000_0001;
    /// FreeBSD only (macOS has no NOTE_MSECONDS; its 0x2 means microseconds, spec §2).
    pub const NOTE_MSECONDS: u32 = 0x0000_0002;
    pub const NOTE_USECONDS: u32 = 0x0000_0004;
    pub const NOTE_NSECONDS: u32 = 0x0000_0008;
}

use consts::*;

/// How many epoll reports one epoll_wait takes in. More ready descriptors simply wait for the
/// next call: epoll itself rotates through its ready list.
const EPOLL_BATCH: usize = 64;

pub struct Kqueue {
    /// The queue itself, shared with the process's list of kqueues that a close through the
    /// lab reaches (`fdclose.rs`, B22).
    core: Arc<Core>,
    /// The ready queue's length, for a kqueue that watches this one (`nested.rs`, B25).
    published: nested::Published,
}

/// A kqueue's descriptors and state, reachable from `fdclose.rs` as well as from its owner.
struct Core {
    /// The epoll instance: the kqueue descriptor the caller sees (B25).
    epoll: OwnedFd,
    /// The eventfd in the epoll set that wakes a waiter.
    wake: OwnedFd,
    state: Mutex<State>,
    rec: Recorder,
}

impl Core {
    fn os(&self) -> Os<'_> {
        Os {
            rec: &self.rec,
            epfd: self.epoll.as_raw_fd(),
            wakefd: self.wake.as_raw_fd(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; carry on with it.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Kqueue {
    pub fn new() -> io::Result<Kqueue> {
        let rec = Recorder::default();
        let epoll = os::epoll_create(&rec)?;
        let wake = os::eventfd(&rec)?;
        os::epoll_ctl(
            &rec,
            epoll.as_raw_fd(),
            os::CtlOp::Add,
            wake.as_raw_fd(),
            os::IN,
            os::WAKE_TOKEN,
        )?;
        let published = nested::Published::new(epoll.as_raw_fd());
        let core = Arc::new(Core {
            epoll,
            wake,
            state: Mutex::new(State::default()),
            rec,
        });
        fdclose::register(&core);
        Ok(Kqueue { core, published })
    }

    fn os(&self) -> Os<'_> {
        self.core.os()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.core.lock()
    }

    pub fn kevent(
        &self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Timespec>,
    ) -> io::Result<usize> {
        let os = self.os();
        let mut state = self.lock();
        state.calls += 1;

        // 1. Apply every change in order (B9), FreeBSD's `kqueue_kevent` loop.
        let mut written = 0;
        for change in changes {
            // B7: FreeBSD skips entries whose filter is 0.
            if change.filter == 0 {
                continue;
            }
            let mut change = *change;
            // B9: stale EV_EOF/EV_ERROR bits of a reused entry are ignored.
            change.flags &= !EV_SYSFLAGS;
            // `register` edits the change as FreeBSD's `kqueue_register` edits the kevent
            // (fflags and data of a new knote zeroed, B8): the entry below shows the result.
            let errno = match register::register(&mut state, &os, &mut change) {
                Ok(()) => 0,
                Err(errno) => errno,
            };
            if errno == 0 && change.flags & EV_RECEIPT == 0 {
                continue;
            }
            if written == events.len() {
                // No room for the entry: FreeBSD stops at this change and returns its error
                // (B7), or, for a receipt of a success, 0 (B8). Earlier changes stay applied,
                // and entries already written are not reported.
                finish_changes(&mut state, &os);
                return if errno != 0 {
                    Err(io::Error::from_raw_os_error(errno))
                } else {
                    Ok(0)
                };
            }
            // B7/B8: flags are exactly EV_ERROR (FreeBSD overwrites them; macOS ORs), data is
            // the errno (0 for a successful receipt); the rest comes from the change.
            events[written] = Kevent {
                flags: EV_ERROR,
                data: i64::from(errno),
                ..change
            };
            written += 1;
        }
        finish_changes(&mut state, &os);
        self.published.set(state.ready.len());

        // B7/B8: once an error or receipt entry is written, return without collecting.
        if written > 0 {
            return Ok(written);
        }
        // B9: no room for events: return at once, whatever the timeout.
        if events.is_empty() {
            return Ok(0);
        }
        // B10: FreeBSD validates the timeout in `kqueue_scan`, after the changes.
        let wait = match timeout {
            None => None,
            Some(ts) => Some(
                ts.to_duration()
                    .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?,
            ),
        };
        drop(state);
        self.wait_and_collect(&os, events, wait)
    }

    /// 2. Wait (without the lock) and collect, until something is delivered or time is up.
    fn wait_and_collect(
        &self,
        os: &Os,
        events: &mut [Kevent],
        wait: Option<Duration>,
    ) -> io::Result<usize> {
        // `None`: block until an event arrives (B10), also for timeouts too big for an Instant.
        let deadline = wait.and_then(|wait| Instant::now().checked_add(wait));
        let mut reports = [libc::epoll_event { events: 0, u64: 0 }; EPOLL_BATCH];
        loop {
            let timeout_ms = {
                let mut state = self.lock();
                // A change applied by another thread while this one waited.
                state.sync(os);
                // Regular files are not in epoll: look at them before deciding to sleep.
                vnode::enqueue_ready_files(&mut state, os);
                state.waiters += 1;
                if !state.ready.is_empty() {
                    // Knotes already queued: only refresh from epoll, do not sleep. New reports
                    // join the tail, which keeps the round-robin of B17.
                    0
                } else {
                    match deadline {
                        None => -1,
                        Some(deadline) => epoll_timeout(deadline, Instant::now()),
                    }
                }
            };
            // No lock held here (§7 Threads).
            // B11: a signal ends the wait with EINTR (ErrorKind::Interrupted) and the call is
            // not restarted; the changes were applied and must not be resubmitted.
            let waited = os::epoll_wait(os.rec, os.epfd, &mut reports, timeout_ms);
            let mut state = self.lock();
            state.waiters -= 1;
            let ready = waited?;
            scan::intake(&mut state, os, &reports[..ready]);
            let filled = scan::collect(&mut state, os, events);
            self.published.set(state.ready.len());
            if filled > 0 {
                if !state.ready.is_empty() {
                    // Entries left behind (small eventlist, level knotes on an edge registration):
                    // keep the kqueue fd readable for anyone polling it (B25).
                    state.wake(os);
                }
                return Ok(filled);
            }
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                return Ok(0);
            }
        }
    }

    pub fn set_recording(&self, on: bool) {
        self.core.rec.set_recording(on)
    }

    pub fn take_os_calls(&self) -> Vec<OsCall> {
        self.core.rec.take()
    }

    pub fn os_call_counts(&self) -> OsCallCounts {
        self.core.rec.counts()
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.core.epoll.as_raw_fd()
    }
}

impl Drop for Kqueue {
    /// Dropping the kqueue closes its descriptor, a close like any other (B22): a kqueue that
    /// watches this one for READ (B25) loses that knote.
    fn drop(&mut self) {
        fdclose::unregister(&self.core);
        fdclose::knote_fdclose(self.core.epoll.as_raw_fd());
    }
}

/// FreeBSD's `knote_fdclose` for descriptor number `fd`, in every emulated kqueue of the
/// process: what [`crate::kq::close`] and [`crate::kq::dup2`] run before the system call.
pub use fdclose::knote_fdclose;

/// After a changelist: one epoll_ctl per descriptor whose interest changed, and a wake-up for
/// a thread blocked in epoll_wait if the changes queued a knote that epoll itself may not report
/// (a user event, a re-checked knote), as a BSD kernel wakes its sleepers when it queues a
/// knote (§7 Threads).
fn finish_changes(state: &mut State, os: &Os) {
    state.sync(os);
    if state.waiters > 0 && !state.ready.is_empty() {
        state.wake(os);
    }
}

/// The time left from `now` until `deadline` as epoll_wait wants it: milliseconds rounded UP (a
/// wait must never end early, B10), capped at i32::MAX (the loop simply waits again).
fn epoll_timeout(deadline: Instant, now: Instant) -> i32 {
    let left = deadline.saturating_duration_since(now);
    let ms = left.as_nanos().div_ceil(1_000_000);
    ms.min(i32::MAX as u128) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// §7 Threads: one thread may wait in kevent while another applies changes.
    #[test]
    fn kqueue_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Kqueue>();
    }

    /// B10: on fixed instants (no clock is read, so a preempted test thread cannot change the
    /// answer), a partial millisecond rounds up, a passed deadline is 0, never negative, and a
    /// deadline beyond i32::MAX ms is capped.
    #[test]
    fn epoll_timeouts_round_up_and_never_go_negative() {
        let now = Instant::now();
        let after = |d: Duration| epoll_timeout(now + d, now);
        assert_eq!(after(Duration::from_micros(1500)), 2);
        assert_eq!(after(Duration::from_nanos(1)), 1);
        assert_eq!(after(Duration::from_millis(7)), 7);
        assert_eq!(after(Duration::ZERO), 0);
        assert_eq!(epoll_timeout(now, now + Duration::from_secs(1)), 0);
        assert_eq!(after(Duration::from_secs(100 * 86_400)), i32::MAX);
    }
}
