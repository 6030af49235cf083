//! `lab clear`: `EV_ADD | EV_CLEAR`, the edge-triggered mode (epoll's `EPOLLET`). After each
//! delivery the knote's state is reset (B14): it fires again only when *new* bytes arrive,
//! and then `data` counts every unread byte, old and new. Reading part of the buffer does not
//! re-trigger it: a server that reads only part and waits for another event may wait forever.

use super::{Rearm, Stage};
use crate::kq::{EVFILT_READ, EV_ADD, EV_CLEAR};

pub const STAGE: Stage = Stage {
    name: "clear",
    teaches: "EV_ADD|EV_CLEAR: one event per arrival of new bytes, never again for old ones",
    filter: EVFILT_READ,
    flags: EV_ADD | EV_CLEAR,
    tour: "send abc; wait 300; send def; wait 300; read 2; wait 300; send g; wait 300",
    rearm,
    delivered,
};

fn rearm(_fd: usize, _udata: usize) -> Rearm {
    Rearm::NotNeeded(
        "no re-arm needed: an EV_CLEAR knote stays enabled; its state was reset at delivery \
         and the next arrival of new bytes triggers it again (B14)",
    )
}

/// Said at every delivery: CLEAR reset the knote's state; only a new arrival fires it again (B14).
pub(super) fn delivered(conn: &str, data: i64) -> Option<String> {
    Some(format!(
        "EV_CLEAR (B14): {conn}'s knote state was reset at delivery; it stays quiet, even with \
         {data} byte{} unread, until new bytes arrive (a partial read does not re-trigger it)",
        if data == 1 { "" } else { "s" }
    ))
}
