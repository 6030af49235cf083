//! Regular files: FreeBSD's vnode filters (`filt_vfsread`, `filt_vfswrite` in
//! `sys/kern/vfs_subr.c`) over a kernel that cannot watch them.
//!
//! On FreeBSD a regular file is always "ready" in its own way: READ reports the bytes from the
//! file offset to the end and fires while that is not 0; WRITE fires every time, with data 0.
//! epoll refuses regular files (EPERM), so their knotes never enter the epoll set and nothing
//! ever reports them: the emulation looks at them itself. Registration queues them for a check
//! as every knote (`register.rs`), a level knote that is delivered stays queued (`scan.rs`),
//! and before each wait the level READ knotes that left the queue are measured again
//! (`enqueue_ready_files`), so a file that grew, or whose offset moved back, is reported.
//!
//! What the emulation cannot do: wake a thread blocked in kevent when another process writes
//! to the file (FreeBSD's VOP_WRITE activates the knote), nor give an EV_CLEAR READ knote a new
//! edge when the file grows: it fires at registration only.

use std::os::fd::RawFd;

use super::consts::*;
use super::data::{self, Measure};
use super::state::{File, FileKind, Os, Owner, Registration, State};

/// Before a wait: queues every enabled level READ knote on a regular file that has bytes to
/// report again (data ≠ 0), as `filt_vfsread` would find. The WRITE knotes never leave the
/// queue while they are level. Costs nothing unless a regular file was ever registered.
pub(super) fn enqueue_ready_files(state: &mut State, os: &Os) {
    if !state.has_files {
        return;
    }
    let files: Vec<RawFd> = state
        .regs
        .iter()
        .filter(|(_, reg)| {
            matches!(
                reg,
                Registration {
                    owner: Owner::File(File {
                        kind: FileKind::RegularFile,
                        ..
                    }),
                    ..
                }
            )
        })
        .map(|(fd, _)| *fd)
        .collect();
    for fd in files {
        let key = (fd as usize, EVFILT_READ);
        let waiting = state
            .knotes
            .get(&key)
            .is_some_and(|knote| knote.enabled && !knote.queued && !knote.is_clear());
        if !waiting {
            continue;
        }
        match data::readable(os, fd, FileKind::RegularFile) {
            Measure::Count(0) | Measure::Unknown | Measure::Listening => {}
            Measure::Count(_) => state.enqueue(key),
            Measure::Gone => state.purge_fd(fd),
        }
    }
}
