//! Linux: kqueue emulated over epoll, with FreeBSD semantics (spec §7).
//! PLACEHOLDER while the emulation is being written: every call fails with ENOSYS.

use std::io;
use std::os::fd::RawFd;

use super::{Backend, Kevent, OsCall, OsCallCounts, Timespec};

pub const BACKEND: Backend = Backend::Emulated;

/// FreeBSD's values (spec §4 and §7): the emulation defines its own.
pub mod consts {
    pub const EVFILT_READ: i16 = -1;
    pub const EVFILT_WRITE: i16 = -2;
    pub const EVFILT_TIMER: i16 = -7;
    pub const EVFILT_USER: i16 = -11;

    pub const EV_ADD: u16 = 0x0001;
    pub const EV_DELETE: u16 = 0x0002;
    pub const EV_ENABLE: u16 = 0x0004;
    pub const EV_DISABLE: u16 = 0x0008;
    pub const EV_ONESHOT: u16 = 0x0010;
    pub const EV_CLEAR: u16 = 0x0020;
    pub const EV_RECEIPT: u16 = 0x0040;
    pub const EV_DISPATCH: u16 = 0x0080;
    pub const EV_SYSFLAGS: u16 = 0xF000;
    pub const EV_ERROR: u16 = 0x4000;
    pub const EV_EOF: u16 = 0x8000;

    pub const NOTE_LOWAT: u32 = 0x0000_0001;
    pub const NOTE_TRIGGER: u32 = 0x0100_0000;
    pub const NOTE_FFNOP: u32 = 0x0000_0000;
    pub const NOTE_FFAND: u32 = 0x4000_0000;
    pub const NOTE_FFOR: u32 = 0x8000_0000;
    pub const NOTE_FFCOPY: u32 = 0xC000_0000;
    pub const NOTE_FFCTRLMASK: u32 = 0xC000_0000;
    pub const NOTE_FFLAGSMASK: u32 = 0x00FF_FFFF;

    pub const NOTE_SECONDS: u32 = 0x0000_0001;
    pub const NOTE_USECONDS: u32 = 0x0000_0004;
    pub const NOTE_NSECONDS: u32 = 0x0000_0008;
}

pub struct Kqueue {
    fd: RawFd,
}

impl Kqueue {
    pub fn new() -> io::Result<Kqueue> {
        Ok(Kqueue { fd: -1 })
    }
    pub fn kevent(
        &self,
        _changes: &[Kevent],
        _events: &mut [Kevent],
        _timeout: Option<Timespec>,
    ) -> io::Result<usize> {
        Err(io::Error::from_raw_os_error(libc::ENOSYS))
    }
    pub fn set_recording(&self, _on: bool) {}
    pub fn take_os_calls(&self) -> Vec<OsCall> {
        Vec::new()
    }
    pub fn os_call_counts(&self) -> OsCallCounts {
        OsCallCounts::default()
    }
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd
    }
}
