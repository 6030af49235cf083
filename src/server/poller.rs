//! The seam between the server and the event API underneath.
//!
//! The server (accept, close, timeouts, the echo protocol) is written against this small trait;
//! [`KQueue`](super::kqueue::KQueue) implements it with a batched changelist. A raw-epoll twin
//! (Part 6 style) implements the same trait with one `epoll_ctl` per change, and reuses the
//! `Client`, the `Reader` and the protocol unchanged.
//!
//! The vocabulary is the tutorial's: `add_listener`/`remove_listener`, `new_client`,
//! `read_mode`/`write_mode`, `wait`.

use std::io;
use std::os::fd::RawFd;
use std::sync::Arc;
use std::time::Duration;

use super::recorder::Recorder;
use super::token::Token;
use crate::kq::OsCallCounts;
use crate::trace::KnoteRow;

/// One thing `wait` reported, already decoded from the event API's own entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ready {
    /// The listener has connections waiting (`queued` of them, when the API says).
    Listener { queued: i64 },
    /// A client's socket has `bytes` unread (B13); `eof` once the peer has closed (B21), with
    /// the socket error (0 after an orderly close) in `error`.
    Read {
        token: Token,
        bytes: i64,
        eof: bool,
        error: u32,
    },
    /// A client's socket has room to write.
    Write { token: Token, eof: bool },
    /// [`Waker::wake`] was called from another thread.
    Wake,
    /// Interactive mode: the key reader woke the loop (a key is waiting on its channel).
    Keys,
    /// SIGINT or SIGTERM arrived (the self-pipe from `term::catch_interrupts`).
    Interrupt,
    /// A change the server staged failed: an `EV_ERROR` entry in the eventlist (B7), not
    /// readiness. `udata` is what the change carried.
    ChangeFailed {
        ident: usize,
        filter: i16,
        udata: usize,
        errno: i64,
    },
}

/// Wakes a `wait` blocked in another thread (Part 8: EVFILT_USER + NOTE_TRIGGER).
#[derive(Clone)]
pub struct Waker(Arc<dyn Fn() -> io::Result<()> + Send + Sync>);

impl Waker {
    pub fn new(wake: impl Fn() -> io::Result<()> + Send + Sync + 'static) -> Waker {
        Waker(Arc::new(wake))
    }

    pub fn wake(&self) -> io::Result<()> {
        (self.0)()
    }
}

/// Reads the totals of the system calls an event API made (for `lab bench` and the tests).
#[derive(Clone)]
pub struct OsCallCounter(Arc<dyn Fn() -> OsCallCounts + Send + Sync>);

impl OsCallCounter {
    pub fn new(read: impl Fn() -> OsCallCounts + Send + Sync + 'static) -> OsCallCounter {
        OsCallCounter(Arc::new(read))
    }

    pub fn get(&self) -> OsCallCounts {
        (self.0)()
    }
}

/// The event API's own words for the notes the shared loop writes (`server.rs`, and the opening
/// note in `mod.rs`), so that the kqueue trace speaks of knotes and kevent calls and the epoll
/// trace of `epoll_ctl` and `epoll_wait`, never of a changelist it does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Words {
    /// The opening note's clause on the lists and their sizes.
    pub setup: String,
    /// What `--no-batch` means for this API.
    pub no_batch: &'static str,
    /// What `--as-published` keeps on this API.
    pub as_published: &'static str,
    /// The call the loop blocks in: `kevent`, `epoll_wait`.
    pub wait_call: &'static str,
    /// The note for a wait with no timeout (no client has a deadline); `None` when the poller
    /// explains that wait itself (the kqueue as published, errata 8).
    pub no_deadline: Option<&'static str>,
    /// What `new_client` registered, and where the token went.
    pub new_client: &'static str,
    /// Where a token travels: `udata`, `data.u64`.
    pub token_field: &'static str,
    /// How read mode and write mode are set, in parentheses after the mode.
    pub read_mode: &'static str,
    pub write_mode: &'static str,
    /// How the listener is switched off, and on again.
    pub listener_off: &'static str,
    pub listener_on: &'static str,
}

/// What the server needs from an event API. Every method may record what it does in `rec`.
pub trait Poller {
    /// Watch the listening socket for connections (udata 0, as in the tutorial).
    fn add_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()>;
    /// Watch the read end of the signal self-pipe: a SIGINT/SIGTERM then wakes `wait`.
    fn watch_interrupts(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()>;
    /// Stop watching the listener without forgetting it: the connection limit was reached.
    fn remove_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()>;
    /// Watch it again after [`remove_listener`](Self::remove_listener).
    fn enable_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()>;
    /// Register a new client in read mode; `label` names it in the trace.
    fn new_client(
        &mut self,
        fd: RawFd,
        token: Token,
        label: &str,
        rec: &mut Recorder,
    ) -> io::Result<()>;
    /// Read enabled, write disabled.
    fn read_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()>;
    /// Read disabled, write enabled.
    fn write_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()>;
    /// The client on `fd` is about to be closed.
    fn forget_client(&mut self, fd: RawFd, label: &str, rec: &mut Recorder);
    /// Apply what is pending and wait up to `timeout` (`None`: until something happens),
    /// replacing the contents of `ready`. An interrupted wait returns with nothing ready.
    fn wait(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready>,
        rec: &mut Recorder,
    ) -> io::Result<()>;
    /// A handle that wakes `wait` from another thread.
    fn waker(&self) -> io::Result<Waker>;
    /// Interactive mode: register a second wake-up, labelled `keys` in the trace, for the key
    /// reader thread; `wait` reports it as [`Ready::Keys`].
    fn watch_keys(&mut self, rec: &mut Recorder) -> io::Result<Waker>;
    /// The knote table as the trace knows it; `None` when this API has no knotes (epoll) or the
    /// table is not kept (no trace wants it).
    fn knotes(&self) -> Option<Vec<KnoteRow>>;
    /// A handle that reads the system-call totals of the API underneath from any thread.
    fn os_call_counter(&self) -> OsCallCounter;
    /// This API's words for the notes the shared loop writes.
    fn words(&self) -> Words;
    /// The changes staged for the next wait (`--step` names them in its prompt); `None` when
    /// the API applies each change at once (epoll_ctl).
    fn staged_changes(&self) -> Option<usize> {
        None
    }
}

/// A boxed poller is a poller, so the server can pick its event API at run time
/// (`--backend kqueue|epoll`, see `new_poller` in `mod.rs`). Added for `lab bench`.
impl<P: Poller + ?Sized> Poller for Box<P> {
    fn add_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        (**self).add_listener(fd, rec)
    }
    fn watch_interrupts(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        (**self).watch_interrupts(fd, rec)
    }
    fn remove_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        (**self).remove_listener(fd, rec)
    }
    fn enable_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        (**self).enable_listener(fd, rec)
    }
    fn new_client(
        &mut self,
        fd: RawFd,
        token: Token,
        label: &str,
        rec: &mut Recorder,
    ) -> io::Result<()> {
        (**self).new_client(fd, token, label, rec)
    }
    fn read_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()> {
        (**self).read_mode(fd, token, rec)
    }
    fn write_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()> {
        (**self).write_mode(fd, token, rec)
    }
    fn forget_client(&mut self, fd: RawFd, label: &str, rec: &mut Recorder) {
        (**self).forget_client(fd, label, rec)
    }
    fn wait(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready>,
        rec: &mut Recorder,
    ) -> io::Result<()> {
        (**self).wait(timeout, ready, rec)
    }
    fn waker(&self) -> io::Result<Waker> {
        (**self).waker()
    }
    fn watch_keys(&mut self, rec: &mut Recorder) -> io::Result<Waker> {
        (**self).watch_keys(rec)
    }
    fn knotes(&self) -> Option<Vec<KnoteRow>> {
        (**self).knotes()
    }
    fn os_call_counter(&self) -> OsCallCounter {
        (**self).os_call_counter()
    }
    fn words(&self) -> Words {
        (**self).words()
    }
    fn staged_changes(&self) -> Option<usize> {
        (**self).staged_changes()
    }
}
