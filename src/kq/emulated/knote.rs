//! Knotes: one registration each, keyed by `(ident, filter)` (B1), kept in user space.

use std::os::fd::OwnedFd;
use std::time::Duration;

use super::consts::*;
use crate::kq::Kevent;

/// A knote's identity within one kqueue (B1): fd 5's READ, fd 5's WRITE, timer 5 and user
/// event 5 are four different knotes.
pub(super) type Key = (usize, i16);

/// The flags a knote does not keep from the change that created it: FreeBSD stores the
/// creation flags minus the actions ADD/DELETE/ENABLE/DISABLE and the one-time requests 0x100
/// (EV_FORCEONESHOT) and 0x200 (EV_KEEPUDATA) (`kqueue_register`), so ONESHOT, DISPATCH, CLEAR
/// and RECEIPT stay for every later delivery (B3, B8, B26).
pub(super) const ACTION_FLAGS: u16 =
    EV_ADD | EV_DELETE | EV_ENABLE | EV_DISABLE | EV_FORCEONESHOT | EV_KEEPUDATA;

pub(super) struct Knote {
    pub ident: usize,
    pub filter: i16,
    /// Creation flags without the actions (B26). Never changed by a modification (B3).
    pub flags: u16,
    /// Replaced by every non-delete change (B4).
    pub udata: usize,
    /// EV_DISABLE clears it, EV_ENABLE sets it; a modification alone never does (B3, B5).
    pub enabled: bool,
    /// True while the knote's key sits in the ready queue (never twice, B17).
    pub queued: bool,
    pub source: Source,
}

/// What a knote watches.
pub(super) enum Source {
    /// EVFILT_READ / EVFILT_WRITE on a descriptor. `lowat` is the NOTE_LOWAT threshold of a
    /// READ knote (1 when none was given, B20).
    Fd {
        lowat: i64,
    },
    Timer(Timer),
    User(User),
}

/// EVFILT_TIMER state (B23): a timerfd armed with the period.
pub(super) struct Timer {
    pub fd: OwnedFd,
    pub period: Duration,
    /// False for a timer created with EV_ONESHOT.
    pub periodic: bool,
    /// The errno of a re-add with bad parameters, waiting to be delivered as the event's data
    /// (FreeBSD `filt_timertouch`: the timer stops, `kn_data` = the error, B23). 0: none.
    pub error: i32,
}

/// EVFILT_USER state (B24), entirely in user space.
pub(super) struct User {
    /// FreeBSD's `kn_hookid`: set by NOTE_TRIGGER, cleared after delivery only with EV_CLEAR.
    pub triggered: bool,
    /// The stored fflags (`kn_sfflags`): those of the EV_ADD as given, then combined with the 24
    /// user bits of each later change.
    pub fflags: u32,
    /// The data of the last change (`kn_sdata`).
    pub data: i64,
}

impl Knote {
    pub fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// Edge mode: EV_CLEAR (B14). Timers are always edge (EV_CLEAR forced on, B23).
    pub fn is_clear(&self) -> bool {
        self.has(EV_CLEAR)
    }

    /// The event handed to the caller: stored flags (B26) plus `extra` (EV_EOF), the
    /// filter's fflags and data, and the knote's udata (B4).
    pub fn event(&self, extra_flags: u16, fflags: u32, data: i64) -> Kevent {
        Kevent {
            ident: self.ident,
            filter: self.filter,
            flags: self.flags | extra_flags,
            fflags,
            data,
            udata: self.udata,
        }
    }
}
