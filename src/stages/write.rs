//! `lab write`: EVFILT_WRITE on its own. The tutorial's server adds a WRITE knote for a client
//! whose echo did not fit; here the knote is added with plain `EV_ADD` on an idle connection, and
//! it floods just as an unread READ knote does (B12): a socket with room in its send buffer is
//! writable, so every kevent call reports it, `data` = the free space (B19). `fill` makes the
//! server write until the send buffer is full, and the flood stops (a second `fill` takes the
//! room the client's kernel makes in its receive buffer after the first); the client's `read` drains
//! it, and once the low-water mark's worth (2048 bytes) is free again, the flood is back.

use super::{Rearm, Stage};
use crate::kq::{EVFILT_WRITE, EV_ADD};

/// SO_SNDBUF of the server's side and SO_RCVBUF of the client's in this stage: small, so that
/// one `fill` fills both and the WRITE knote falls silent (Linux grows loopback buffers to
/// megabytes otherwise; it doubles the value asked for, for its own bookkeeping).
pub const BUFFER: usize = 8192;

pub const STAGE: Stage = Stage {
    name: "write",
    teaches: "EVFILT_WRITE with plain EV_ADD: an idle connection is writable, so it floods too",
    filter: EVFILT_WRITE,
    // The tutorial adds its WRITE knotes with EV_ADD (disabled until an echo does not fit);
    // here it is enabled from the start, to watch it alone.
    flags: EV_ADD,
    // Two fills: after the first, the client's kernel may still take a few more kilobytes into
    // its receive buffer (Linux sends a window update with its delayed ACK), and the flood
    // comes back smaller; the second fill takes that room too.
    tour: "wait 300; fill 1000000; wait 300; fill 1000000; wait 300; read; wait 300",
    rearm,
    delivered,
};

/// Nothing to re-arm: a level-triggered knote stays enabled.
fn rearm(_fd: usize, _udata: usize) -> Rearm {
    Rearm::NotNeeded(
        "no re-arm needed: a level-triggered WRITE knote is never disabled or deleted by a \
         delivery; it fires on every kevent call while the send buffer has room (B12, B19)",
    )
}

/// Said once, at the first delivery of a flood: why the same event keeps coming.
pub(super) fn delivered(conn: &str, data: i64) -> Option<String> {
    Some(format!(
        "level-triggered WRITE (B19): {conn}'s send buffer has {data} bytes free, so every \
         kevent call reports it again, without waiting; a server watches WRITE only while it \
         has something to send (`fill` fills the buffer and the flood stops)"
    ))
}
