//! `lab oneshot`: `EV_ADD | EV_ONESHOT`. The knote is delivered once and **deleted** at delivery
//! (B15): however many bytes arrive afterwards, nothing more is reported. Re-arming means adding
//! the knote again with `EV_ADD`, exactly as the tutorial says ("re-added using the EV.ADD flag").

use super::{Rearm, Stage};
use crate::kq::{Kevent, EVFILT_READ, EV_ADD, EV_ONESHOT};

pub const STAGE: Stage = Stage {
    name: "oneshot",
    teaches: "EV_ADD|EV_ONESHOT: one event, then the knote is deleted; `rearm` adds it again",
    filter: EVFILT_READ,
    flags: EV_ADD | EV_ONESHOT,
    tour: "send hello; wait 300; send again; wait 300; rearm; wait 300",
    rearm,
    delivered,
};

/// The knote no longer exists: add it again, with the same flags and udata.
fn rearm(fd: usize, udata: usize) -> Rearm {
    Rearm::Change(
        Kevent::new(fd, EVFILT_READ, EV_ADD | EV_ONESHOT).with_udata(udata),
        "EV_ONESHOT deleted the knote, so re-arming is a new EV_ADD (B15); if bytes are \
         already waiting, the next kevent call reports them at once",
    )
}

/// Said at every delivery: ONESHOT deleted the knote as it handed over this event (B15).
pub(super) fn delivered(conn: &str, _data: i64) -> Option<String> {
    Some(format!(
        "EV_ONESHOT (B15): {conn}'s knote was deleted as this event was delivered; nothing more \
         is reported for {conn}, whatever arrives, until `rearm` (key a) adds it again"
    ))
}
