//! Applying one change to the kqueue: FreeBSD's `kqueue_register`, step by step.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use super::consts::*;
use super::knote::{Knote, Source, Timer, ACTION_FLAGS};
use super::os::{self, CtlOp, FileId, IN};
use super::state::{File, FileKind, Os, Owner, Registration, State};
use super::{closed, timer, user};
use crate::kq::Kevent;

fn errno(err: io::Error) -> i32 {
    err.raw_os_error().unwrap_or(libc::EIO)
}

/// FreeBSD's number of system filters (`EVFILT_SYSCOUNT`): filters -1 to -13 exist, any other
/// number is EINVAL.
const EVFILT_SYSCOUNT: i16 = 13;

/// Applies one change (its EV_SYSFLAGS already masked off, B9). `Err(errno)` becomes the
/// change's EV_ERROR entry (B7). Like FreeBSD's `kqueue_register`, it edits the change: a
/// change that creates a knote has its fflags and data zeroed (they went into the knote), and a
/// user event's change keeps only its 24 user bits, which is what a receipt then shows (B8).
pub(super) fn register(state: &mut State, os: &Os, change: &mut Kevent) -> Result<(), i32> {
    // B5: FreeBSD refuses both at once (macOS lets disable win).
    if change.flags & (EV_ENABLE | EV_DISABLE) == EV_ENABLE | EV_DISABLE {
        return Err(libc::EINVAL);
    }
    match change.filter {
        EVFILT_READ | EVFILT_WRITE => register_fd(state, os, change),
        EVFILT_TIMER => register_timer(state, os, change),
        EVFILT_USER => register_user(state, os, change),
        // The other FreeBSD filters (VNODE, PROC, SIGNAL, AIO, FS, LIO, PROCDESC, SENDFILE,
        // EMPTY) are not emulated: the emulation answers as a FreeBSD kernel built without them,
        // where their slot holds `null_filtops`, which is not per descriptor: EV_ADD fails in
        // `filt_nullattach` with ENXIO, any other change finds no knote (ENOENT).
        filter if (-EVFILT_SYSCOUNT..0).contains(&filter) => {
            if change.flags & EV_ADD != 0 {
                take_parameters(change);
                Err(libc::ENXIO)
            } else {
                Err(libc::ENOENT)
            }
        }
        _ => Err(libc::EINVAL),
    }
}

/// The fflags and data of a change that creates a knote, which `kqueue_register` moves into the
/// knote (`kn_sfflags`, `kn_sdata`) and zeroes in the change before the filter's attach: an
/// error or receipt entry for it carries fflags 0 (B8).
fn take_parameters(change: &mut Kevent) -> (u32, i64) {
    let taken = (change.fflags, change.data);
    change.fflags = 0;
    change.data = 0;
    taken
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

fn register_fd(state: &mut State, os: &Os, change: &mut Kevent) -> Result<(), i32> {
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
    let lowat = note_lowat(os, fd, change, old_lowat, id)?;
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
        // FreeBSD's vnode filters (`filt_vfsread`, `filt_vfswrite`); epoll refuses regular
        // files, so the collect measures them (`vnode.rs`).
        libc::S_IFREG => Ok(FileKind::RegularFile),
        // FreeBSD reads a directory like a file (size − offset), but a Linux directory offset
        // is a hash cookie, not a byte position: refused, as epoll itself would (EPERM).
        libc::S_IFDIR => Err(libc::EPERM),
        libc::S_IFSOCK => {
            // Whether a stream socket listens is found out when it is measured (`data.rs`):
            // it may call listen() after this registration.
            let kind = os::getsockopt_int(os.rec, fd, libc::SOL_SOCKET, libc::SO_TYPE, "SO_TYPE");
            Ok(match kind {
                Ok(libc::SOCK_DGRAM) => FileKind::Datagram,
                _ => FileKind::Socket,
            })
        }
        libc::S_IFIFO => Ok(FileKind::Pipe),
        // An anonymous inode (no file type): an epoll descriptor is another kqueue (B25).
        0 if matches!(os::fd_target(os.rec, fd), Ok(target) if target == "anon_inode:[eventpoll]") => {
            Ok(FileKind::Kqueue)
        }
        _ => Ok(FileKind::Other),
    }
}

/// B20 NOTE_LOWAT, the emulation's documented behaviour:
/// - READ: `setsockopt(SO_RCVLOWAT, data)`. Linux keeps one value per socket, not per knote:
///   the last writer wins, and epoll then reports the socket only from that many bytes. A
///   change without NOTE_LOWAT puts the default (1) back, as FreeBSD then stops using its
///   threshold.
/// - WRITE: EOPNOTSUPP. Linux has no settable send low-water mark (SO_SNDLOWAT is ENOPROTOOPT).
///
/// Only sockets have SO_RCVLOWAT. FreeBSD accepts NOTE_LOWAT on any READ knote; the pipe filter
/// ignores it (`filt_piperead`), and so does the collect (`scan.rs`): nothing is set then.
fn note_lowat(os: &Os, fd: RawFd, change: &Kevent, old_lowat: i64, id: FileId) -> Result<i64, i32> {
    let socket = id.mode & libc::S_IFMT == libc::S_IFSOCK;
    let asked = change.fflags & NOTE_LOWAT != 0;
    if change.filter == EVFILT_WRITE {
        return if asked { Err(libc::EOPNOTSUPP) } else { Ok(1) };
    }
    let lowat = if asked {
        change.data.clamp(1, i64::from(i32::MAX))
    } else {
        1
    };
    if socket && lowat != old_lowat {
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
    change: &mut Kevent,
    fd: RawFd,
    id: FileId,
) -> Result<(), i32> {
    let asked = *change;
    take_parameters(change);
    let change = &asked;
    if state.file(fd).is_none() {
        let kind = classify(os, fd, id)?;
        let file = File {
            id,
            kind,
            read_eof: false,
            write_eof: false,
            error: 0,
            reported_readable: false,
        };
        let token = closed::new_token(state, fd);
        state.regs.insert(
            fd,
            Registration {
                owner: Owner::File(file),
                token,
                in_epoll: None,
                dirty: false,
            },
        );
        state.has_files |= kind == FileKind::RegularFile;
    }
    // FreeBSD `kqueue_kqfilter`: a kqueue can only be watched for READ (B25).
    let is_kqueue = state
        .file(fd)
        .is_some_and(|file| file.kind == FileKind::Kqueue);
    if change.filter == EVFILT_WRITE && is_kqueue {
        state.forget_if_unused(fd);
        return Err(libc::EINVAL);
    }
    // FreeBSD `pipe_kqfilter`: WRITE on a pipe whose reading end is closed is EPIPE.
    let is_pipe = state
        .file(fd)
        .is_some_and(|file| file.kind == FileKind::Pipe);
    if change.filter == EVFILT_WRITE
        && is_pipe
        && matches!(os::pipe_reader_gone(os.rec, fd), Ok(true))
    {
        state.forget_if_unused(fd);
        return Err(libc::EPIPE);
    }
    let lowat = match note_lowat(os, fd, change, 1, id) {
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
    let first = state
        .regs
        .get(&fd)
        .is_some_and(|reg| reg.in_epoll.is_none());
    if first && wanted != 0 {
        // The descriptor's first epoll item is added at once, so that epoll's refusal (EBADF,
        // EPERM...) becomes this change's error entry.
        let token = state.regs.get(&fd).map_or(fd as u64, |reg| reg.token);
        if let Err(err) = closed::add_item(os, fd, wanted, token) {
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
        .is_some_and(|file| !matches!(file.kind, FileKind::Other | FileKind::Kqueue))
    {
        state.enqueue(key);
    }
}

// ---------------------------------------------------------------------------------------------
// EVFILT_TIMER (B23)

fn register_timer(state: &mut State, os: &Os, change: &mut Kevent) -> Result<(), i32> {
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
    let enabled = knote.enabled;
    let Source::Timer(timer) = &mut knote.source else {
        return Ok(());
    };
    let timerfd = timer.fd.as_raw_fd();
    if change.flags & EV_ADD != 0 {
        // B23 (FreeBSD `filt_timertouch`): a re-add stops the timer, throws away the
        // expirations not yet delivered (and an error not yet delivered), and restarts it with
        // the new period. Whether it repeats is still the creation's choice (B3).
        // timerfd_settime stops, resets the count and restarts in one call.
        timer.error = 0;
        let failed = match timer::period(change.fflags, change.data, timer.periodic) {
            Ok(period) => {
                os::timerfd_settime(os.rec, timerfd, period, timer.periodic).map_err(errno)?;
                timer.period = period;
                false
            }
            // Bad parameters do not fail the change: the timer stays stopped and the knote
            // reports the errno as its data, with EV_ERROR in its flags (for good: FreeBSD
            // sets it in `kn_flags`), at the next collect.
            Err(error) => {
                os::timerfd_settime(os.rec, timerfd, Duration::ZERO, false).map_err(errno)?;
                timer.error = error;
                knote.flags |= EV_ERROR;
                true
            }
        };
        if knote.queued {
            knote.queued = false;
            state.ready.retain(|queued| *queued != key);
        }
        if failed && enabled {
            state.enqueue(key);
        }
    }
    state.mark_dirty(timerfd);
    Ok(())
}

fn add_timer(state: &mut State, os: &Os, change: &mut Kevent) -> Result<(), i32> {
    let periodic = change.flags & EV_ONESHOT == 0;
    let (fflags, data) = take_parameters(change);
    let period = timer::period(fflags, data, periodic)?;
    let fd = os::timerfd_create(os.rec).map_err(errno)?;
    let timerfd = fd.as_raw_fd();
    // If the caller closed a watched descriptor, the kernel may hand its number to this
    // timerfd: that descriptor is gone, and so are its knotes (B22).
    state.purge_fd(timerfd);
    let enabled = change.flags & EV_DISABLE == 0;
    let token = closed::new_token(state, timerfd);
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
            error: 0,
        }),
    );
    // B23: EV_CLEAR is forced on, so delivered flags include it.
    knote.flags |= EV_CLEAR;
    state.knotes.insert((change.ident, EVFILT_TIMER), knote);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// EVFILT_USER (B24)

fn register_user(state: &mut State, os: &Os, change: &mut Kevent) -> Result<(), i32> {
    let key = (change.ident, EVFILT_USER);
    match state.knotes.get_mut(&key) {
        None => {
            if change.flags & EV_ADD == 0 {
                return Err(libc::ENOENT);
            }
            let (fflags, data) = take_parameters(change);
            let source = Source::User(user::attach(fflags, data));
            state.knotes.insert(key, new_knote(change, source));
        }
        Some(knote) => {
            if change.flags & EV_DELETE != 0 {
                state.remove_knote(os, key);
                return Ok(());
            }
            modify(knote, change);
            if let Source::User(user) = &mut knote.source {
                change.fflags = user::touch(user, change.flags, change.fflags, change.data);
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
