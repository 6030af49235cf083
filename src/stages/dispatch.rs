//! `lab dispatch`: `EV_ADD | EV_DISPATCH`. The knote is delivered once and then **disabled**, not
//! deleted (B16): it stays in the kqueue (still tracking the socket) and costs a little memory,
//! but re-arming is a cheap `EV_ENABLE`. This is epoll's `EPOLLONESHOT`.

use super::{Rearm, Stage};
use crate::kq::{Kevent, EVFILT_READ, EV_ADD, EV_DISPATCH, EV_ENABLE};

pub const STAGE: Stage = Stage {
    name: "dispatch",
    teaches: "EV_ADD|EV_DISPATCH: one event, then the knote is disabled; `rearm` enables it",
    filter: EVFILT_READ,
    flags: EV_ADD | EV_DISPATCH,
    tour: "send hello; wait 300; send again; wait 300; rearm; wait 300",
    rearm,
    delivered,
};

/// The knote is still there, disabled: enable it. The udata goes with the change because
/// FreeBSD stores the udata of every change, EV_ENABLE included (B4); EV_ADD alone would not
/// re-enable it (B3).
fn rearm(fd: usize, udata: usize) -> Rearm {
    Rearm::Change(
        Kevent::new(fd, EVFILT_READ, EV_ENABLE).with_udata(udata),
        "EV_DISPATCH only disabled the knote, so re-arming is EV_ENABLE (B16); it kept \
         tracking the socket, so bytes already waiting are reported by the next kevent call",
    )
}

/// Said at every delivery: DISPATCH disabled the knote as it handed over this event (B16).
pub(super) fn delivered(conn: &str, _data: i64) -> Option<String> {
    Some(format!(
        "EV_DISPATCH (B16): {conn}'s knote is now disabled, not deleted; it keeps tracking \
         the socket but reports nothing until `rearm` (key a) sends EV_ENABLE"
    ))
}
