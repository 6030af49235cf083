//! The same server on raw epoll, the way Part 6 writes it (Linux only): the baseline that
//! `lab bench --compare` measures the kqueue server against.
//!
//! Everything above the [`Poller`] seam is shared: the loop, `accept`, the `Client`, the
//! `Reader`, the timeouts. Only the event API changes, and with it the lesson's contrast:
//!
//! | kqueue server ([`KQueue`](crate::server::kqueue::KQueue)) | here                                  |
//! |-------------------------------------------------------|---------------------------------------|
//! | READ and WRITE are two knotes, flipped by ENABLE/DISABLE | one epoll item per socket, its mask changed by `EPOLL_CTL_MOD` |
//! | changes staged, applied by the next `kevent`          | one `epoll_ctl` per change, at once   |
//! | `data` says how many bytes are readable (B13)         | epoll says only "readable"            |
//! | udata carries the token                               | `epoll_event.data.u64` carries it     |
//!
//! Made as fast as plain epoll allows, so the comparison is fair:
//! - level-triggered `EPOLLIN` in read mode, `EPOLLOUT` in write mode (no `EPOLLET`: the server
//!   reads once per event and lets epoll report the rest);
//! - a mode switch that would not change the mask makes no `epoll_ctl` (the current mask of
//!   every socket is remembered here);
//! - a readable socket gets one `read` of as much as the buffer holds: epoll gives no byte
//!   count, and a second read that only returns `WouldBlock` is never made;
//! - closing a socket removes its epoll item (it is never `dup`ed), so there is no `EPOLL_CTL_DEL`.
//!
//! Every `epoll_ctl` and `epoll_wait` is counted in the same
//! [`OsCallCounts`](crate::kq::OsCallCounts) shape the emulation uses, and, when the trace is on,
//! shown as a note where the kqueue server shows its kevent calls. The notes the shared loop
//! writes take this API's words ([`Epoll::words`](crate::server::epoll::Epoll::words)), and
//! the trace's summary counts this API's calls: each `epoll_wait` as a call, each `epoll_ctl` as
//! a change, each reported item as an event under `"<label> <MASK>"` (`conn2 OUT`). The JSON
//! summary keeps the contract's field names for them (`kevent_calls`, `changes`, `events`,
//! `by_label`): the start record's `"backend":"epoll"` says which API they count, and the text
//! renderer names them `epoll_wait calls`, `epoll_ctl calls`.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::kqueue::{INTERRUPT_UDATA, KEYS_UDATA, LISTENER_UDATA, WAKE_UDATA};
use super::poller::{OsCallCounter, Poller, Ready, Waker, Words};
use super::recorder::{Counters, Recorder};
use super::token::Token;
use crate::kq::{epoll_mask_names as mask_names, OsCallCounts};
use crate::sys::linux;
use crate::trace::KnoteRow;

const IN: u32 = libc::EPOLLIN as u32;
const OUT: u32 = libc::EPOLLOUT as u32;
const HUP: u32 = libc::EPOLLHUP as u32;
const ERR: u32 = libc::EPOLLERR as u32;

/// The system calls this poller made, readable from any thread (`lab bench`).
#[derive(Debug, Default)]
struct Calls {
    epoll_wait: AtomicU64,
    epoll_ctl: AtomicU64,
    /// epoll_create1, eventfd, and the eventfd reads that drain a wake-up.
    other: AtomicU64,
}

impl Calls {
    fn counts(&self) -> OsCallCounts {
        OsCallCounts {
            epoll_wait: self.epoll_wait.load(Ordering::Relaxed),
            epoll_ctl: self.epoll_ctl.load(Ordering::Relaxed),
            other: self.other.load(Ordering::Relaxed),
            ..OsCallCounts::default()
        }
    }
}

/// The tutorial's Part 6 `Epoll` struct, behind the server's [`Poller`] seam.
pub struct Epoll {
    epfd: OwnedFd,
    /// An eventfd in the epoll set: [`Waker`] writes to it (Part 8's eventfd wake-up).
    wake: Arc<OwnedFd>,
    /// Interactive mode: a second eventfd, written by the key reader thread (`keys`).
    keys: Option<Arc<OwnedFd>>,
    /// The mask each watched descriptor has in epoll now, so a change that changes nothing is
    /// never sent. Indexed by fd (descriptors are small, dense numbers).
    masks: Vec<u32>,
    /// Which descriptor each client token names, to decode a bare HUP/ERR report (`decode`),
    /// and the other way round, to forget it on close.
    tokens: HashMap<usize, RawFd>,
    token_of_fd: HashMap<RawFd, usize>,
    event_list: Vec<libc::epoll_event>,
    /// What each descriptor is, for the trace: `listener`, `connN`, `signal`.
    labels: HashMap<RawFd, String>,
    calls: Arc<Calls>,
    counters: Arc<Counters>,
}

impl Epoll {
    /// `epoll_create1`, plus the eventfd that [`Waker`] writes to.
    pub fn new(
        event_list: usize,
        counters: Arc<Counters>,
        rec: &mut Recorder,
    ) -> io::Result<Epoll> {
        let calls = Arc::new(Calls::default());
        calls.other.fetch_add(1, Ordering::Relaxed);
        let epfd = linux::epoll_create()?;
        calls.other.fetch_add(1, Ordering::Relaxed);
        let wake = Arc::new(linux::eventfd()?);
        let mut epoll = Epoll {
            epfd,
            wake,
            keys: None,
            masks: Vec::new(),
            tokens: HashMap::new(),
            token_of_fd: HashMap::new(),
            event_list: vec![libc::epoll_event { events: 0, u64: 0 }; event_list.max(1)],
            labels: HashMap::new(),
            calls,
            counters,
        };
        if rec.on() {
            rec.note(format!(
                "raw epoll backend (Part 6): epoll_create1() = fd {}; one epoll_ctl per change, \
                 EPOLL_CTL_MOD flips a socket between IN (read mode) and OUT (write mode)",
                epoll.epfd.as_raw_fd()
            ));
        }
        let wake_fd = epoll.wake.as_raw_fd();
        epoll.labels.insert(wake_fd, "wake".into());
        epoll.ctl(libc::EPOLL_CTL_ADD, wake_fd, IN, WAKE_UDATA as u64, rec)?;
        Ok(epoll)
    }

    /// The words of raw epoll for the notes the shared loop writes: one registration per
    /// socket whose mask is changed, no changelist, `epoll_wait` with -1 for "no timeout".
    pub fn words(event_list: usize) -> Words {
        Words {
            setup: format!(
                "epoll_wait returns up to {} events; no changelist (every change is its own \
                 epoll_ctl, applied at once)",
                event_list.max(1)
            ),
            no_batch: "--no-batch changes nothing here: epoll has no changelist, every change is \
                       already its own epoll_ctl",
            as_published: "--as-published: the tutorial's bugs in the shared loop are kept: \
                           connected is never decremented (errata 4), the listener is never \
                           re-enabled (5); the trace points out where a stale token (9) would \
                           strike. Errata 8 belongs to the kqueue \
                           wrapper: epoll_wait takes -1 as it is",
            wait_call: "epoll_wait",
            no_deadline: Some(
                "no client has a read deadline: epoll_wait blocks (timeout -1) until an event",
            ),
            new_client: "EPOLLIN registered (read mode), data.u64 = token",
            token_field: "data.u64",
            read_mode: "EPOLL_CTL_MOD to EPOLLIN",
            write_mode: "EPOLL_CTL_MOD to EPOLLOUT",
            listener_off: "EPOLL_CTL_DEL",
            listener_on: "EPOLL_CTL_ADD",
        }
    }

    /// One `epoll_ctl`, counted, remembered, and shown in the trace.
    fn ctl(
        &mut self,
        op: libc::c_int,
        fd: RawFd,
        mask: u32,
        data: u64,
        rec: &mut Recorder,
    ) -> io::Result<()> {
        self.calls.epoll_ctl.fetch_add(1, Ordering::Relaxed);
        let result = linux::epoll_ctl(self.epfd.as_raw_fd(), op, fd, mask, data);
        // One change, in the summary's counts (what a kqueue would have staged).
        rec.count_calls(0, 1, &[]);
        if rec.on() {
            let op_name = match op {
                libc::EPOLL_CTL_ADD => "ADD",
                libc::EPOLL_CTL_MOD => "MOD",
                _ => "DEL",
            };
            let label = self
                .labels
                .get(&fd)
                .cloned()
                .unwrap_or_else(|| format!("fd{fd}"));
            let args = if op == libc::EPOLL_CTL_DEL {
                format!("DEL, fd {fd} ({label})")
            } else {
                format!(
                    "{op_name}, fd {fd} ({label}), {}, data {}",
                    mask_names(mask),
                    data_name(data)
                )
            };
            let ret = match &result {
                Ok(_) => "0".to_string(),
                Err(err) => format!("-1 {err}"),
            };
            rec.note(format!("epoll_ctl({args}) = {ret}"));
        }
        result?;
        if op == libc::EPOLL_CTL_DEL {
            self.set_mask(fd, 0);
        } else {
            self.set_mask(fd, mask);
        }
        Ok(())
    }

    fn mask(&self, fd: RawFd) -> u32 {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.masks.get(i))
            .copied()
            .unwrap_or(0)
    }

    fn set_mask(&mut self, fd: RawFd, mask: u32) {
        let Ok(i) = usize::try_from(fd) else {
            return;
        };
        if i >= self.masks.len() {
            self.masks.resize(i + 1, 0);
        }
        self.masks[i] = mask;
    }

    /// Put a client socket in `mask` mode, with no system call when it is in that mode already.
    fn switch(&mut self, fd: RawFd, token: Token, mask: u32, rec: &mut Recorder) -> io::Result<()> {
        if self.mask(fd) == mask {
            return Ok(());
        }
        self.ctl(libc::EPOLL_CTL_MOD, fd, mask, token.to_udata() as u64, rec)
    }

    /// Read (and so reset) a wake-up eventfd: level-triggered, it would fire again and again.
    fn drain_wake(&self, fd: &OwnedFd) {
        self.calls.other.fetch_add(1, Ordering::Relaxed);
        let _ = linux::read_counter(fd.as_raw_fd());
    }

    /// One epoll report, decoded. Only the token tells what it is about, as in Part 6.
    fn decode(&self, event: &libc::epoll_event) -> Ready {
        let (bits, data) = (event.events, event.u64);
        match data as usize {
            LISTENER_UDATA => return Ready::Listener { queued: 0 },
            INTERRUPT_UDATA => return Ready::Interrupt,
            WAKE_UDATA => return Ready::Wake,
            KEYS_UDATA => return Ready::Keys,
            _ => {}
        }
        let token = Token::from_udata(data as usize);
        let eof = bits & (HUP | ERR) != 0;
        let writable = if bits & IN != 0 {
            false
        } else if bits & OUT != 0 {
            true
        } else {
            // A bare HUP or ERR (epoll reports them whatever the mask): hand it to whichever
            // side the socket is waiting on, so the read or the write sees the failure and the
            // client is closed. (Reported as readable to a client in write mode, it would be
            // ignored, and level-triggered HUP would wake every epoll_wait after.)
            self.tokens
                .get(&(data as usize))
                .is_some_and(|fd| self.mask(*fd) == OUT)
        };
        if writable {
            Ready::Write { token, eof }
        } else {
            // No byte count: `bytes: 0` tells the server to read once, as much as fits. EOF is
            // not announced either: the read that returns 0 says it, after any bytes the peer
            // sent before closing (P9).
            Ready::Read {
                token,
                bytes: 0,
                eof: false,
                error: 0,
            }
        }
    }

    /// One reported item in words: `conn2 OUT` (the summary's key, and the trace's).
    fn ready_name(&self, event: &libc::epoll_event) -> String {
        let (bits, data) = (event.events, event.u64);
        let label = match data as usize {
            LISTENER_UDATA => "listener".to_string(),
            INTERRUPT_UDATA => "signal".to_string(),
            WAKE_UDATA => "wake".to_string(),
            KEYS_UDATA => "keys".to_string(),
            udata => self
                .tokens
                .get(&udata)
                .and_then(|fd| self.labels.get(fd))
                .cloned()
                .unwrap_or_else(|| data_name(data)),
        };
        format!("{label} {}", mask_names(bits))
    }

    fn describe_ready(&self, items: &[String]) -> String {
        if items.is_empty() {
            "0 ready".to_string()
        } else {
            format!("{} ready: {}", items.len(), items.join(", "))
        }
    }
}

impl Poller for Epoll {
    fn add_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.labels.insert(fd, "listener".into());
        self.ctl(libc::EPOLL_CTL_ADD, fd, IN, LISTENER_UDATA as u64, rec)
    }

    fn watch_interrupts(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.labels.insert(fd, "signal".into());
        self.ctl(libc::EPOLL_CTL_ADD, fd, IN, INTERRUPT_UDATA as u64, rec)
    }

    fn remove_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        // Part 6 takes the listener out of the set; `enable_listener` puts it back.
        self.ctl(libc::EPOLL_CTL_DEL, fd, 0, LISTENER_UDATA as u64, rec)
    }

    fn enable_listener(&mut self, fd: RawFd, rec: &mut Recorder) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, IN, LISTENER_UDATA as u64, rec)
    }

    fn new_client(
        &mut self,
        fd: RawFd,
        token: Token,
        label: &str,
        rec: &mut Recorder,
    ) -> io::Result<()> {
        if rec.on() {
            // The fd number may be a reused one: it now names this client.
            self.labels.insert(fd, label.to_string());
        }
        // Read mode: level-triggered EPOLLIN, the token in data.u64.
        self.ctl(libc::EPOLL_CTL_ADD, fd, IN, token.to_udata() as u64, rec)?;
        self.tokens.insert(token.to_udata(), fd);
        self.token_of_fd.insert(fd, token.to_udata());
        Ok(())
    }

    fn read_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()> {
        self.switch(fd, token, IN, rec)
    }

    fn write_mode(&mut self, fd: RawFd, token: Token, rec: &mut Recorder) -> io::Result<()> {
        self.switch(fd, token, OUT, rec)
    }

    fn forget_client(&mut self, fd: RawFd, label: &str, rec: &mut Recorder) {
        // close() removes the epoll item (the socket is never dup()ed), so no EPOLL_CTL_DEL.
        self.set_mask(fd, 0);
        if let Some(udata) = self.token_of_fd.remove(&fd) {
            self.tokens.remove(&udata);
        }
        if rec.on() {
            rec.note(format!(
                "{label} closing: close() removes its epoll item, no epoll_ctl(DEL) needed"
            ));
        }
    }

    fn wait(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready>,
        rec: &mut Recorder,
    ) -> io::Result<()> {
        ready.clear();
        // Milliseconds, rounded up so a deadline is never missed by waking early; -1 blocks.
        let timeout_ms: libc::c_int = match timeout {
            None => -1,
            Some(d) => d.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as libc::c_int,
        };
        let started = Instant::now();
        self.calls.epoll_wait.fetch_add(1, Ordering::Relaxed);
        let max = self.event_list.len().min(i32::MAX as usize);
        let result = linux::epoll_wait(self.epfd.as_raw_fd(), &mut self.event_list, timeout_ms);
        let n = match result {
            Ok(n) => n,
            // A signal ended the wait: the loop looks at its stop flag and waits again.
            Err(err) if err.kind() == io::ErrorKind::Interrupted => 0,
            Err(err) => return Err(err),
        };
        Counters::add(&self.counters.events, n as u64);
        if rec.on() {
            let items: Vec<String> = self.event_list[..n]
                .iter()
                .map(|event| self.ready_name(event))
                .collect();
            // One call and its events, in the summary's counts.
            rec.count_calls(1, 0, &items);
            let wait = if timeout_ms < 0 {
                "-1 (block)".to_string()
            } else {
                format!("{timeout_ms} ms")
            };
            let text = format!(
                "epoll_wait(fd {}, max {max}, timeout {wait}) = {} (in the call {:.1} ms)",
                self.epfd.as_raw_fd(),
                self.describe_ready(&items),
                started.elapsed().as_secs_f64() * 1000.0
            );
            let mut notes = rec.take_call_notes();
            notes.push(text);
            for note in notes {
                rec.note(note);
            }
        }
        for i in 0..n {
            let event = self.event_list[i];
            let decoded = self.decode(&event);
            match (decoded, &self.keys) {
                (Ready::Wake, _) => self.drain_wake(&self.wake),
                (Ready::Keys, Some(keys)) => self.drain_wake(keys),
                _ => {}
            }
            ready.push(decoded);
        }
        Ok(())
    }

    fn waker(&self) -> io::Result<Waker> {
        Ok(eventfd_waker(
            Arc::clone(&self.wake),
            Arc::clone(&self.calls),
        ))
    }

    fn watch_keys(&mut self, rec: &mut Recorder) -> io::Result<Waker> {
        self.calls.other.fetch_add(1, Ordering::Relaxed);
        let keys = Arc::new(linux::eventfd()?);
        let fd = keys.as_raw_fd();
        self.labels.insert(fd, "keys".into());
        self.ctl(libc::EPOLL_CTL_ADD, fd, IN, KEYS_UDATA as u64, rec)?;
        self.keys = Some(Arc::clone(&keys));
        Ok(eventfd_waker(keys, Arc::clone(&self.calls)))
    }

    /// Epoll has no knotes: one interest-list item per descriptor, shown by the epoll_ctl notes.
    fn knotes(&self) -> Option<Vec<KnoteRow>> {
        None
    }

    fn os_call_counter(&self) -> OsCallCounter {
        let calls = Arc::clone(&self.calls);
        OsCallCounter::new(move || calls.counts())
    }

    fn words(&self) -> Words {
        Epoll::words(self.event_list.len())
    }
}

/// A handle that adds 1 to an eventfd, which makes it readable: Part 8's eventfd wake-up.
fn eventfd_waker(wake: Arc<OwnedFd>, calls: Arc<Calls>) -> Waker {
    Waker::new(move || {
        calls.other.fetch_add(1, Ordering::Relaxed);
        match linux::eventfd_add(wake.as_raw_fd(), 1) {
            // A full counter (EAGAIN) is still a pending wake-up.
            Err(err) if err.kind() != io::ErrorKind::WouldBlock => Err(err),
            _ => Ok(()),
        }
    })
}

/// What a `data.u64` value stands for, in the trace.
fn data_name(data: u64) -> String {
    match data as usize {
        LISTENER_UDATA => "0 (listener)".to_string(),
        INTERRUPT_UDATA => "1 (signal)".to_string(),
        WAKE_UDATA => "2 (wake)".to_string(),
        KEYS_UDATA => "3 (keys)".to_string(),
        udata => format!("token {}", Token::from_udata(udata)),
    }
}
