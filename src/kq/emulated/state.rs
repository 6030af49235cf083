//! The kqueue's user-space state: the knotes, one epoll registration per descriptor, and the
//! ready queue. Always used under the kqueue's mutex, never across the blocking epoll_wait
//! (§7 Threads).

use std::collections::{HashMap, VecDeque};
use std::os::fd::{AsRawFd, RawFd};

use super::closed;
use super::consts::*;
use super::knote::{Key, Knote, Source};
use super::os::{self, CtlOp, FileId, ET, IN, OUT, RDHUP};
use super::record::Recorder;

/// What the state needs to call the OS: the recorder, the epoll fd and the wake-up eventfd.
pub(super) struct Os<'a> {
    pub rec: &'a Recorder,
    pub epfd: RawFd,
    pub wakefd: RawFd,
}

/// What kind of file a watched descriptor is, decided once at its first registration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum FileKind {
    /// A listening socket: READ data is the accept-queue length (B18), WRITE never fires.
    Listener,
    /// Any other stream socket: READ data from FIONREAD (B13), WRITE data from
    /// SO_SNDBUF − TIOCOUTQ (B19).
    Socket,
    /// A datagram socket (UDP, Unix SOCK_DGRAM): READ data counts the bytes of every queued
    /// datagram (FreeBSD `sbavail`), where FIONREAD gives only the first one's; WRITE as Socket.
    Datagram,
    /// A pipe or FIFO: READ data from FIONREAD, WRITE data from the pipe's free capacity.
    Pipe,
    /// Another kqueue (an epoll descriptor): READ only, data = its pending events
    /// (`nested.rs`, B25).
    Kqueue,
    /// A regular file, which epoll cannot watch (`vnode.rs`): READ data is the bytes from the
    /// file offset to the end (FreeBSD `filt_vfsread`), WRITE is always ready with data 0
    /// (`filt_vfswrite`). Never in epoll: the collect measures it.
    RegularFile,
    /// Anything else epoll accepts (a tty, an eventfd, another kqueue...).
    Other,
}

/// A descriptor the caller watches, as the emulation knows it.
pub(super) struct File {
    /// `(st_dev, st_ino)` at registration: a different inode later means the number was closed
    /// and reused (B22).
    pub id: FileId,
    pub kind: FileKind,
    /// The peer will send no more (EPOLLRDHUP, EPOLLHUP or EPOLLERR seen). Sticky, like
    /// FreeBSD's SBS_CANTRCVMORE: every later READ report carries EV_EOF (B21).
    pub read_eof: bool,
    /// This side can send no more (EPOLLHUP or EPOLLERR seen; SBS_CANTSENDMORE, B21).
    pub write_eof: bool,
    /// The socket error, fetched once with SO_ERROR when epoll reports EPOLLERR. Linux clears
    /// the error when it is read, so the emulation keeps it and repeats it in fflags on every
    /// later EOF report, as BSD does with so_error (B21, §7).
    pub error: i32,
    /// epoll's last report said readable, and the collect has not measured READ since
    /// (`closed.rs`: a readable report with nothing to read asks whether the number changed).
    pub reported_readable: bool,
}

/// Who owns an epoll registration.
pub(super) enum Owner {
    /// A caller's descriptor, carrying READ and/or WRITE knotes.
    File(File),
    /// The timerfd of the EVFILT_TIMER knote with this ident (B23).
    Timer(usize),
}

/// One epoll item. Its key in `State::regs` is the descriptor number registered in epoll.
pub(super) struct Registration {
    pub owner: Owner,
    /// The token epoll hands back for this item: the descriptor number, and above it a
    /// generation, so that a report from an older item for the same number is recognised
    /// (`closed.rs`, B22).
    pub token: u64,
    /// The mask epoll currently has, `None` when the descriptor is not in epoll at all.
    pub in_epoll: Option<u32>,
    /// Interest may have changed since the last sync.
    pub dirty: bool,
}

#[derive(Default)]
pub(super) struct State {
    pub knotes: HashMap<Key, Knote>,
    pub regs: HashMap<RawFd, Registration>,
    /// Knotes that may have an event to deliver, oldest first, each at most once (B17).
    pub ready: VecDeque<Key>,
    /// Registrations whose interest changed since the last sync.
    dirty: Vec<RawFd>,
    /// The wake-up eventfd has been written and not drained yet.
    pub poked: bool,
    /// Threads currently blocked in epoll_wait on this kqueue (without the lock).
    pub waiters: usize,
    /// A regular file was registered once: the waits look at regular-file knotes (`vnode.rs`).
    pub has_files: bool,
    /// The generation of the next registration's token (`closed.rs`).
    pub generation: u32,
    /// Tokens of reports that matched no registration, seen once (`closed.rs`).
    pub suspects: Vec<u64>,
}

impl State {
    /// Puts a knote at the tail of the ready queue unless it is already there.
    pub fn enqueue(&mut self, key: Key) {
        if let Some(knote) = self.knotes.get_mut(&key) {
            if !knote.queued {
                knote.queued = true;
                self.ready.push_back(key);
            }
        }
    }

    /// Makes the kqueue's own descriptor readable (the wake-up eventfd is in its epoll set):
    /// wakes a thread blocked in kevent (a NOTE_TRIGGER from another thread, §7 Threads) and
    /// keeps the kqueue fd readable for poll/epoll while events wait in the queue (B25).
    pub fn wake(&mut self, os: &Os) {
        if !self.poked && os::eventfd_poke(os.rec, os.wakefd).is_ok() {
            self.poked = true;
        }
    }

    /// Notes that the interest of the registration `fd` may have changed. Nothing is sent to
    /// epoll yet: a whole changelist is applied first, then `sync` sends one epoll_ctl per
    /// descriptor whose mask really changed (so a READ-disable + WRITE-enable flip costs one MOD).
    pub fn mark_dirty(&mut self, fd: RawFd) {
        if let Some(reg) = self.regs.get_mut(&fd) {
            if !reg.dirty {
                reg.dirty = true;
                self.dirty.push(fd);
            }
        }
    }

    /// The epoll mask the knotes of registration `fd` need now.
    ///
    /// For a caller's descriptor it is the union of its ENABLED knotes: READ → IN|RDHUP,
    /// WRITE → OUT. Level-triggered while every enabled knote is level, because epoll's LT
    /// re-reports by itself (B12); EPOLLET as soon as one enabled knote has EV_CLEAR (B14).
    /// A level knote that shares an ET registration is kept in the ready queue by the collect
    /// instead (see `scan.rs`).
    pub fn desired(&self, fd: RawFd) -> u32 {
        let Some(reg) = self.regs.get(&fd) else {
            return 0;
        };
        match reg.owner {
            Owner::Timer(ident) => match self.knotes.get(&(ident, EVFILT_TIMER)) {
                Some(knote) if knote.enabled => IN,
                _ => 0,
            },
            // epoll refuses regular files: their knotes are measured by the collect instead.
            Owner::File(File {
                kind: FileKind::RegularFile,
                ..
            }) => 0,
            Owner::File(_) => {
                let ident = fd as usize;
                let mut mask = 0;
                let mut edge = false;
                for (filter, bits) in [(EVFILT_READ, IN | RDHUP), (EVFILT_WRITE, OUT)] {
                    if let Some(knote) = self.knotes.get(&(ident, filter)) {
                        if knote.enabled {
                            mask |= bits;
                            edge |= knote.is_clear();
                        }
                    }
                }
                if mask != 0 && edge {
                    mask |= ET;
                }
                mask
            }
        }
    }

    /// True while registration `fd` is (or is about to be) edge-triggered.
    pub fn is_edge(&self, fd: RawFd) -> bool {
        self.desired(fd) & ET != 0
    }

    /// The caller's file behind descriptor `fd`, if the emulation knows one.
    pub fn file(&self, fd: RawFd) -> Option<&File> {
        match self.regs.get(&fd) {
            Some(Registration {
                owner: Owner::File(file),
                ..
            }) => Some(file),
            _ => None,
        }
    }

    /// The same, to change.
    pub fn file_mut(&mut self, fd: RawFd) -> Option<&mut File> {
        match self.regs.get_mut(&fd) {
            Some(Registration {
                owner: Owner::File(file),
                ..
            }) => Some(file),
            _ => None,
        }
    }

    /// Deletes one knote (EV_DELETE, ONESHOT delivery). A timer's timerfd is closed, which
    /// also removes it from epoll; a descriptor's registration is updated at the next sync.
    pub fn remove_knote(&mut self, os: &Os, key: Key) {
        let Some(knote) = self.knotes.remove(&key) else {
            return;
        };
        if knote.queued {
            self.ready.retain(|queued| *queued != key);
        }
        match knote.source {
            Source::Fd { .. } => self.mark_dirty(key.0 as RawFd),
            Source::Timer(timer) => {
                let timerfd = timer.fd.as_raw_fd();
                self.regs.remove(&timerfd);
                self.dirty.retain(|fd| *fd != timerfd);
                os::close(os.rec, timer.fd);
            }
            Source::User(_) => {}
        }
    }

    /// Forgets descriptor `fd` and its knotes without any epoll_ctl: the descriptor was closed,
    /// and the kernel removed the epoll item when the file was closed (B22).
    pub fn purge_fd(&mut self, fd: RawFd) {
        if !matches!(self.regs.get(&fd), Some(reg) if matches!(reg.owner, Owner::File(_))) {
            return;
        }
        self.regs.remove(&fd);
        self.dirty.retain(|dirty| *dirty != fd);
        for filter in [EVFILT_READ, EVFILT_WRITE] {
            let key = (fd as usize, filter);
            if let Some(knote) = self.knotes.remove(&key) {
                if knote.queued {
                    self.ready.retain(|queued| *queued != key);
                }
            }
        }
    }

    /// Brings epoll up to date with the knotes: at most one epoll_ctl per dirty registration,
    /// and none when epoll already has the wanted mask (no wasted calls).
    ///
    /// A registration with no enabled knote left is removed with DEL rather than MOD to 0:
    /// epoll reports EPOLLHUP and EPOLLERR even for an empty mask, so a hung-up socket whose
    /// knotes are all disabled would wake every epoll_wait with nothing to deliver.
    pub fn sync(&mut self, os: &Os) {
        for fd in std::mem::take(&mut self.dirty) {
            let wanted = self.desired(fd);
            let Some(reg) = self.regs.get_mut(&fd) else {
                continue;
            };
            reg.dirty = false;
            let op = match (reg.in_epoll, wanted) {
                (None, 0) => None,
                (None, _) => Some(CtlOp::Add),
                (Some(_), 0) => Some(CtlOp::Del),
                (Some(current), _) if current != wanted => Some(CtlOp::Mod),
                (Some(_), _) => None,
            };
            if let Some(op) = op {
                let result = if op == CtlOp::Add {
                    closed::add_item(os, fd, wanted, reg.token)
                } else {
                    os::epoll_ctl(os.rec, os.epfd, op, fd, wanted, reg.token)
                };
                match result {
                    Ok(()) => reg.in_epoll = (wanted != 0).then_some(wanted),
                    // The descriptor was closed behind the kqueue's back (B22): its knotes can
                    // never fire again.
                    Err(_) => {
                        self.purge_fd(fd);
                        continue;
                    }
                }
            }
            self.forget_if_unused(fd);
        }
    }

    /// Drops the record of a caller's descriptor once it has no knote and no epoll item.
    pub fn forget_if_unused(&mut self, fd: RawFd) {
        let ident = fd as usize;
        let unused = matches!(self.regs.get(&fd), Some(reg)
            if matches!(reg.owner, Owner::File(_)) && reg.in_epoll.is_none())
            && !self.knotes.contains_key(&(ident, EVFILT_READ))
            && !self.knotes.contains_key(&(ident, EVFILT_WRITE));
        if unused {
            self.regs.remove(&fd);
        }
    }
}
