//! `lab flood`: Part 7's dot demo. The client's READ knote is added with plain `EV_ADD`, so it
//! is level-triggered (B12): as long as bytes sit unread in the socket, *every* kevent call
//! reports them again. The tutorial printed a dot per event and the screen filled with dots;
//! here the trace collapses the identical calls into one live count. Reading the bytes ends it.

use super::{Rearm, Stage};
use crate::kq::{EVFILT_READ, EV_ADD};

pub const STAGE: Stage = Stage {
    name: "flood",
    teaches:
        "EVFILT_READ with plain EV_ADD: level-triggered, and the server never reads unless told",
    // The tutorial's `.flags = posix.system.EV.ADD` for each accepted client.
    filter: EVFILT_READ,
    flags: EV_ADD,
    tour: "send hello; wait 1000; read; wait 300",
    rearm,
    delivered,
};

/// Nothing to re-arm: a level-triggered knote stays enabled and keeps firing.
fn rearm(_fd: usize, _udata: usize) -> Rearm {
    Rearm::NotNeeded(
        "no re-arm needed: a level-triggered knote is never disabled or deleted by a delivery; \
         it fires on every kevent call while bytes are unread (B12)",
    )
}

/// Said once, at the first delivery of a flood: why the same event will keep coming.
pub(super) fn delivered(conn: &str, data: i64) -> Option<String> {
    Some(format!(
        "level-triggered (B12): {conn} has {data} unread byte{}, so every kevent call reports it \
         again, without waiting; the flood goes on because nobody reads (`read`, key r, ends it)",
        if data == 1 { "" } else { "s" }
    ))
}
