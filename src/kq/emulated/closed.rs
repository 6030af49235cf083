//! Descriptors closed behind the kqueue's back (B22).
//!
//! On FreeBSD, close() removes the knotes of that descriptor number at once (`knote_fdclose`),
//! even when the file lives on through a dup() or a child. A close through the lab
//! (`kq::close`, `kq::dup2`) does the same here (`fdclose.rs`); this module is for every other
//! close, which the emulation never sees (a dropped `TcpStream`, libc's close()). Epoll
//! registers the *open file*, under the number it had: after such a close(fd), an item
//! whose file lives on keeps reporting under the old number, and the number cannot remove it
//! any more (EPOLL_CTL_DEL needs the same file behind the same number).
//!
//! So every epoll item carries a token made of the descriptor number and a generation, new at
//! each registration. A report whose token matches no current registration comes from such an
//! orphaned item: it is never delivered. If the same token reports again (the orphan is alive
//! and level-triggered, so epoll_wait would return at once for ever), the epoll instance is
//! rebuilt without it: a fresh epoll set gets the current items, and `dup3` puts it under the
//! kqueue's own descriptor number, so the old set and its orphans go away. That costs a few
//! calls per live registration, once, and nothing while no descriptor is closed behind the
//! kqueue's back.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use super::os::{self, CtlOp, IN, WAKE_TOKEN};
use super::state::{Os, Owner, State};

/// How many unmatched tokens are remembered while waiting for a second report.
const SUSPECTS: usize = 64;

/// A token for a new registration of descriptor `fd`: the number in the low 32 bits, a fresh
/// generation above them.
pub(super) fn new_token(state: &mut State, fd: RawFd) -> u64 {
    state.generation = state.generation.wrapping_add(1);
    (u64::from(state.generation) << 32) | u64::from(fd as u32)
}

/// The descriptor number inside a token.
pub(super) fn fd_of(token: u64) -> RawFd {
    token as u32 as RawFd
}

/// Whether the first EOF reported for descriptor `fd` belongs to the file its knotes were
/// registered for. An orphaned item whose number was reused but not registered again still
/// has the current token; it is caught here, when it reports the old file's end, at the cost of
/// one fstat per file that reaches EOF (never per message). A number that was closed, or names
/// another file now, answers false.
pub(super) fn eof_is_this_files(state: &State, os: &Os, fd: RawFd) -> bool {
    if state.file(fd).is_some_and(|file| file.read_eof) {
        return true; // checked at the first EOF already
    }
    names_the_registered_file(state, os, fd)
}

/// Whether descriptor number `fd` still names the file its knotes were registered for (one
/// fstat). Asked only when epoll and the number disagree: a first EOF (above), or epoll saying
/// "readable" while the number's file has nothing to read. The second is how an orphan of a
/// reused number that stays readable is found, so it stops waking every wait.
pub(super) fn names_the_registered_file(state: &State, os: &Os, fd: RawFd) -> bool {
    let Some(file) = state.file(fd) else {
        return true;
    };
    let registered = (file.id.dev, file.id.ino);
    matches!(os::fstat(os.rec, fd), Ok(id) if (id.dev, id.ino) == registered)
}

/// `EPOLL_CTL_ADD`, or `EPOLL_CTL_MOD` when epoll already has an item for this file under this
/// number: an orphan whose number came back to the same file (a dup2 back). The new token
/// replaces the orphan's, so its old reports are no longer recognised.
pub(super) fn add_item(os: &Os, fd: RawFd, mask: u32, token: u64) -> io::Result<()> {
    match os::epoll_ctl(os.rec, os.epfd, CtlOp::Add, fd, mask, token) {
        Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {
            os::epoll_ctl(os.rec, os.epfd, CtlOp::Mod, fd, mask, token)
        }
        other => other,
    }
}

/// A report with a token no registration has: ignored the first time (the item may have been
/// deleted by another thread while this one waited); the second time, the orphan is alive and
/// the epoll set is rebuilt without it.
pub(super) fn stale_report(state: &mut State, os: &Os, token: u64) {
    if state.suspects.contains(&token) {
        state.suspects.clear();
        rebuild(state, os);
        return;
    }
    if state.suspects.len() == SUSPECTS {
        state.suspects.remove(0);
    }
    state.suspects.push(token);
}

/// A fresh epoll set with the wake-up eventfd and every current item (a caller's descriptor
/// only if its number still names the file it was registered with), put under the kqueue's
/// descriptor number with `dup3`. A thread blocked in the old set is woken through the
/// eventfd, which is in both, and waits again in the new one.
fn rebuild(state: &mut State, os: &Os) {
    let Ok(fresh) = os::epoll_create(os.rec) else {
        return;
    };
    let epfd = fresh.as_raw_fd();
    if os::epoll_ctl(os.rec, epfd, CtlOp::Add, os.wakefd, IN, WAKE_TOKEN).is_err() {
        os::close(os.rec, fresh);
        return;
    }
    let fds: Vec<RawFd> = state.regs.keys().copied().collect();
    for fd in fds {
        let Some(reg) = state.regs.get(&fd) else {
            continue;
        };
        let Some(mask) = reg.in_epoll else {
            continue;
        };
        let token = reg.token;
        if let Owner::File(file) = &reg.owner {
            let registered = (file.id.dev, file.id.ino);
            let same = matches!(os::fstat(os.rec, fd), Ok(id) if (id.dev, id.ino) == registered);
            if !same {
                state.purge_fd(fd);
                continue;
            }
        }
        if os::epoll_ctl(os.rec, epfd, CtlOp::Add, fd, mask, token).is_err() {
            state.purge_fd(fd);
        }
    }
    let _ = os::dup3(os.rec, epfd, os.epfd);
    os::close(os.rec, fresh);
    state.poked = false;
    state.wake(os);
}
