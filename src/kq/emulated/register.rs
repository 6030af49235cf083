//! Applying one change to the kqueue: FreeBSD's `kqueue_register`, step by step.

use std::io;
use std::os::fd::{AsRawFd, RawFd};

use super::consts::*;
use super::knote::{Knote, Source, Timer, ACTION_FLAGS};
use super::os::{self, CtlOp, FileId, IN};
use super::state::{File, FileKind, Os, Owner, Registration, State};
use super::{timer, user};
use crate::kq::Kevent;

fn errno(err: io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}

/// Applies one change (its EV_SYSFLAGS already masked off, B9). `Err(errno)` becomes the
/// change's EV_ERROR entry (B7).
pub(super) fn register(state: &mut State, os: &Os, change: &Kevent) -> Result<(), i32> {
    // B5: FreeBSD refuses both at once (macOS lets disable win).
    if change.flags & (EV_ENABLE | EV_DISABLE) == EV_ENABLE | EV_DISABLE {
        return Err(libc::EINVAL);
    }
    match change.filter {
        EVFILT_READ | EVFILT_WRITE => register_fd(state, os, change),
        EVFILT_TIMER => register_timer(state, os, change),
        EVFILT_USER => register_user(state, os, change),
        // Filters the lab does not emulate (VNODE, PROC, SIGNAL...) are unknown here.
        _ => Err(libc::EINVAL),
    }
}

/// What every change that finds an existing knote does, whatever the filter: EV_ENABLE /
/// EV_DISABLE (B5) and the new udata (B4, FreeBSD: every non-delete change, so a NULL udata
/// wipes the old one, pitfall P7). The ONESHOT/DISPATCH/CLEAR mode is NOT touched (B3).
fn modify(knote: &mut Knote, change: &Kevent) {
    if change.flags & EV_ENABLE != 0 {
        knote.enabled = true;
    } else if change.flags & EV_DISABLE != 0 {
        knote.enabled = false;
    }
    knote.udata = change.udata;
}

/// A new knote from its creating change: the mode flags are stored for good (B3, B26).
fn new_knote(change: &Kevent, source: Source) -> Knote {
    Knote {
        ident: change.ident,
        filter: change.filter,
        flags: change.flags & !ACTION_FLAGS,
        udata: change.udata,
        enabled: change.flags & EV_DISABLE == 0,
        queued: false,
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// EVFILT_READ / EVFILT_WRITE

fn register_fd(state: &mut State, os: &Os, change: &Kevent) -> Result<(), i32> {
    if change.ident > i32::MAX as usize {
        return Err(libc::EBADF);
    }
    let fd = change.ident as RawFd;
    // B25: "a kqueue cannot watch itself" (FreeBSD EINVAL). Another kqueue's fd is fine.
    if fd == os.epfd {
        return Err(libc::EINVAL);
    }
    // The kqueue's own eventfd and timerfds are not the caller's descriptors: on BSD that
    // number could not name them, so it names no open file of the caller.
    let internal = fd == os.wakefd
        || matches!(
            state.regs.get(&fd),
            Some(Registration {
                owner: Owner::Timer(_),
                ..
            })
        );
    if internal {
        return Err(libc::EBADF);
    }

    // B6/B22: BSD looks the descriptor up before the knote (`fget`), so a closed number gives
    // EBADF. The emulation never sees close(), so it checks here, lazily.
    let id = match os::fstat(os.rec, fd) {
        Ok(id) => id,
        Err(err) => {
            let errno = errno(err);
            if errno == libc::EBADF {
                state.purge_fd(fd);
            }
            return Err(errno);
        }
    };
    // B22: the same number now names another file: the old one was closed (and the kernel
    // dropped its epoll item then), so its knotes are gone; EV_ADD makes a fresh knote below
    // and any other change finds nothing (ENOENT).
    if state
        .file(fd)
        .is_some_and(|file| (file.id.dev, file.id.ino) != (id.dev, id.ino))
    {
        state.purge_fd(fd);
    }

    let key = (change.ident, change.filter);
    let Some(knote) = state.knotes.get(&key) else {
        if change.flags & EV_ADD == 0 {
            return Err(libc::ENOENT); // B6
        }
        return add_fd_knote(state, os, change, fd, id);
    };
    let old_lowat = match knote.source {
        Source::Fd { lowat } => lowat,
        _ => 1,
    };

    if change.flags & EV_DELETE != 0 {
        state.remove_knote(os, key);
        if old_lowat > 1 {
            // B20: SO_RCVLOWAT is per socket; deleting the knote puts the default back.
            let _ = os::setsockopt_int(
                os.rec,
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVLOWAT,
                "SO_RCVLOWAT",
                1,
            );
        }
        return Ok(());
    }

    // A modification (B3): new fflags/data (NOTE_LOWAT), udata, enable/disable.
    let lowat = note_lowat(os, fd, change, old_lowat)?;
    if let Some(knote) = state.knotes.get_mut(&key) {
        modify(knote, change);
        knote.source = Source::Fd { lowat };
        let enabled = knote.enabled;
        state.mark_dirty(fd);
        if enabled {
            enqueue_for_check(state, fd, key);
        }
    }
    Ok(())
}

/// How the emulation sorts a descriptor at its first registration.
fn classify(os: &Os, fd: RawFd, id: FileId) -> Result<FileKind, i32> {
    match id.mode & libc::S_IFMT {
        // epoll refuses files that are always ready (it would answer EPERM). FreeBSD reports a
        // regular file readable; the emulation does not emulate that and says EPERM up front,
        // even for a knote added disabled.
        libc::S_IFREG | libc::S_IFDIR => Err(libc::EPERM),
        libc::S_IFSOCK => {
            let listening = os::getsockopt_int(
                os.rec,
                fd,
                libc::SOL_SOCKET,
                libc::SO_ACCEPTCONN,
                "SO_ACCEPTCONN",
            );
            Ok(match listening {
                Ok(1) => FileKind::Listener,
                _ => FileKind::Socket,
            })
        }
        libc::S_IFIFO => Ok(FileKind::Pipe),
        _ => Ok(FileKind::Other),
    }
}

/// B20 NOTE_LOWAT, the emulation's documented behaviour:
/// - READ: `setsockopt(SO_RCVLOWAT, data)`. Linux keeps one value per socket, not per knote:
///   the last writer wins, and epoll then reports the socket only from that many bytes. A
///   change without NOTE_LOWAT puts the default (1) back, as FreeBSD then stops using its
///   threshold.
/// - WRITE: EOPNOTSUPP. Linux has no settable send low-water mark (SO_SNDLOWAT is ENOPROTOOPT).
fn note_lowat(os: &Os, fd: RawFd, change: &Kevent, old_lowat: i64) -> Result<i64, i32> {
    let asked = change.fflags & NOTE_LOWAT != 0;
    if change.filter == EVFILT_WRITE {
        return if asked { Err(libc::EOPNOTSUPP) } else { Ok(1) };
    }
    let lowat = if asked {
        change.data.clamp(1, i64::from(i32::MAX))
    } else {
        1
    };
    if lowat != old_lowat {
        os::setsockopt_int(
            os.rec,
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            "SO_RCVLOWAT",
            lowat as i32,
        )
        .map_err(errno)?;
    }
    Ok(lowat)
}

fn add_fd_knote(
    state: &mut State,
    os: &Os,
    change: &Kevent,
    fd: RawFd,
    id: FileId,
) -> Result<(), i32> {
    if state.file(fd).is_none() {
        let kind = classify(os, fd, id)?;
        let file = File {
            id,
            kind,
            read_eof: false,
            write_eof: false,
            error: 0,
        };
        let token = state.next_token(fd);
        state.regs.insert(
            fd,
            Registration {
                owner: Owner::File(file),
                token,
                in_epoll: None,
                dirty: false,
            },
        );
    }
    let lowat = match note_lowat(os, fd, change, 1) {
        Ok(lowat) => lowat,
        Err(errno) => {
            state.forget_if_unused(fd);
            return Err(errno);
        }
    };
    let key = (change.ident, change.filter);
    let knote = new_knote(change, Source::Fd { lowat });
    let enabled = knote.enabled;
    state.knotes.insert(key, knote);

    let wanted = state.desired(fd);
    // The registration's token, if the descriptor is not in epoll yet and now needs to be.
    let first = state
        .regs
        .get(&fd)
        .filter(|reg| reg.in_epoll.is_none() && wanted != 0)
        .map(|reg| reg.token);
    if let Some(token) = first {
        // The descriptor's first epoll item is added at once, so that epoll's refusal (EBADF,
        // EPERM...) becomes this change's error entry.
        if let Err(err) = os::epoll_ctl(os.rec, os.epfd, CtlOp::Add, fd, wanted, token) {
            state.knotes.remove(&key);
            state.forget_if_unused(fd);
            return Err(errno(err));
        }
        if let Some(reg) = state.regs.get_mut(&fd) {
            reg.in_epoll = Some(wanted);
        }
    } else {
        state.mark_dirty(fd);
    }
    if enabled {
        enqueue_for_check(state, fd, key);
    }
    Ok(())
}

/// FreeBSD runs the filter at the end of every registration: if the condition holds, the
/// knote is (re)activated, even an EV_CLEAR one whose edge was already delivered. The emulation
/// queues the knote so the collect runs the same check (B12's re-check), which costs no
/// epoll_ctl. Only for files whose `data` can be measured: for the others (another kqueue, an
/// eventfd...) epoll's report is the only evidence, and the ADD/MOD already asks epoll.
fn enqueue_for_check(state: &mut State, fd: RawFd, key: (usize, i16)) {
    if state
        .file(fd)
        .is_some_and(|file| file.kind != FileKind::Other)
    {
        state.enqueue(key);
    }
}

// ---------------------------------------------------------------------------------------------
// EVFILT_TIMER (B23)

fn register_timer(state: &mut State, os: &Os, change: &Kevent) -> Result<(), i32> {
    let key = (change.ident, EVFILT_TIMER);
    let Some(knote) = state.knotes.get_mut(&key) else {
        if change.flags & EV_ADD == 0 {
            return Err(libc::ENOENT);
        }
        return add_timer(state, os, change);
    };
    if change.flags & EV_DELETE != 0 {
        state.remove_knote(os, key);
        return Ok(());
    }
    modify(knote, change);
    let Source::Timer(timer) = &mut knote.source else {
        return Ok(());
    };
    let timerfd = timer.fd.as_raw_fd();
    if change.flags & EV_ADD != 0 {
        // B23: a re-add restarts the timer with the new period and throws away the
        // expirations not yet delivered (timerfd_settime resets the count). Whether it
        // repeats is still the creation's choice (B3).
        let period = timer::period(change.fflags, change.data, timer.periodic)?;
        os::timerfd_settime(os.rec, timerfd, period, timer.periodic).map_err(errno)?;
        timer.period = period;
        if knote.queued {
            knote.queued = false;
            state.ready.retain(|queued| *queued != key);
        }
    }
    state.mark_dirty(timerfd);
    Ok(())
}

fn add_timer(state: &mut State, os: &Os, change: &Kevent) -> Result<(), i32> {
    let periodic = change.flags & EV_ONESHOT == 0;
    let period = timer::period(change.fflags, change.data, periodic)?;
    let fd = os::timerfd_create(os.rec).map_err(errno)?;
    let timerfd = fd.as_raw_fd();
    // If the caller closed a watched descriptor, the kernel may hand its number to this
    // timerfd: that descriptor is gone, and so are its knotes (B22).
    state.purge_fd(timerfd);
    let enabled = change.flags & EV_DISABLE == 0;
    let token = state.next_token(timerfd);
    let armed = os::timerfd_settime(os.rec, timerfd, period, periodic).and_then(|()| {
        if enabled {
            os::epoll_ctl(os.rec, os.epfd, CtlOp::Add, timerfd, IN, token)
        } else {
            Ok(())
        }
    });
    if let Err(err) = armed {
        os::close(os.rec, fd);
        return Err(errno(err));
    }
    state.regs.insert(
        timerfd,
        Registration {
            owner: Owner::Timer(change.ident),
            token,
            in_epoll: enabled.then_some(IN),
            dirty: false,
        },
    );
    let mut knote = new_knote(
        change,
        Source::Timer(Timer {
            fd,
            period,
            periodic,
        }),
    );
    // B23: EV_CLEAR is forced on, so delivered flags include it.
    knote.flags |= EV_CLEAR;
    state.knotes.insert((change.ident, EVFILT_TIMER), knote);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// EVFILT_USER (B24)

fn register_user(state: &mut State, os: &Os, change: &Kevent) -> Result<(), i32> {
    let key = (change.ident, EVFILT_USER);
    match state.knotes.get_mut(&key) {
        None => {
            if change.flags & EV_ADD == 0 {
                return Err(libc::ENOENT);
            }
            let source = Source::User(user::attach(change.fflags, change.data));
            state.knotes.insert(key, new_knote(change, source));
        }
        Some(knote) => {
            if change.flags & EV_DELETE != 0 {
                state.remove_knote(os, key);
                return Ok(());
            }
            modify(knote, change);
            if let Source::User(user) = &mut knote.source {
                user::touch(user, change.flags, change.fflags, change.data);
            }
        }
    }
    // As FreeBSD at the end of `kqueue_register`: an enabled, triggered knote is queued, and a
    // thread blocked in kevent on this kqueue is woken (§7 Threads). A trigger while disabled
    // queues nothing; it is remembered and delivered at the next EV_ENABLE.
    let ready = state.knotes.get(&key).is_some_and(|knote| {
        knote.enabled && matches!(&knote.source, Source::User(user) if user.triggered)
    });
    if ready {
        state.enqueue(key);
        state.wake(os);
    }
    Ok(())
}
