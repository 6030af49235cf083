//! The tutorial's `Server`: the loop, `accept`, `closeClient` and `enforceTimeout`.
//!
//! ```text
//! loop {
//!     if a deadline is long overdue:     // the process was stopped: look before closing anyone
//!         poller.wait(0), handle what is ready
//!     timeout = enforce_timeout()        // close silent expired clients; the next deadline
//!     ready   = poller.wait(timeout)     // staged changes applied + eventlist, one kevent call
//!     for each ready:
//!         listener  -> accept()          // until WouldBlock or the connection limit
//!         READ      -> read `data` bytes, echo every complete message
//!         WRITE     -> finish the pending echo, then the messages still buffered
//!         EV_ERROR  -> a staged change failed: show it, never as readiness (B7, errata 9)
//! }
//! ```
//!
//! Held beside the tutorial's `Server.run`:
//!
//! | the tutorial (Zig)                                   | here                                              |
//! |------------------------------------------------------|---------------------------------------------------|
//! | `try self.loop.addListener(listener)`                | `poller.add_listener(fd, ..)` in [`Server::new`]   |
//! | `while (true)`                                       | `while !self.stop...` in [`Server::run`]          |
//! | `const next_timeout = self.enforceTimeout()`         | `let timeout = self.enforce_timeout()`            |
//! | `const ready_events = try self.loop.wait(next_timeout)` | `self.poller.wait(timeout, &mut ready, ..)` (`KQueue::wait`: `kq.kevent(&changes, &mut events, timeout)`) |
//! | `switch (ready.udata) { 0 => self.accept(listener)`  | `Ready::Listener { .. } => self.accept()`         |
//! | `@ptrFromInt(nptr)`                                  | `Token::from_udata`, checked by `known` (errata 9) |
//! | `filter == EVFILT.READ`: `readMessage`, `writeMessage` | `Ready::Read`: `on_readable`, then `serve`      |
//! | `filter == EVFILT.WRITE`: `client.write()`           | `Ready::Write`: `on_writable` (`write_pending`)   |
//! | `self.closeClient(client)`                           | `close_client(token, reason)`                     |
//!
//! What the server says about each step is in `narrate.rs` (`say_*`), so this file is the loop.
//! With `--step` a prompt comes before each pass of it (`step.rs`): Space, then one pass.
//!
//! The loop is generic over [`Poller`]: the kqueue wrapper with its batched changelist, or the
//! raw epoll twin. The notes written here take the API's own words from the poller ([`Words`]):
//! "becomes the kevent timeout" on one, "becomes the epoll_wait timeout" on the other.
//!
//! Fixed here (errata 8, and 9's stale staged changes, are handled in `kqueue.rs`).
//! `--as-published` brings back 4 and 5; for 9 and 11 it keeps the fix and has the trace say
//! what the published code would do; 12 stays fixed:
//! - errata 4 and 5: `connected` goes down on close, and the listener is re-enabled;
//! - errata 9: udata is a generation-checked [`Token`]; EV_ERROR entries are recognised;
//! - errata 11: a client with buffered messages and a pending write is not dropped; its
//!   messages are taken once the write completes, without waiting for new bytes;
//! - errata 12: TCP_NODELAY on every accepted socket.
//!
//! Beyond the tutorial: the read timeout measures the client's silence, so a client the server
//! still owes echoes is given a new deadline instead of being closed; a close the server chooses
//! (timeout, too large) sends FIN, never an RST that would destroy echoes already written; and
//! the memory budget (`--memory-budget-mib`) sheds connections beyond it.

use std::io;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Client, Mode, Written};
use super::interactive::{Console, ServerView};
use super::poller::{Poller, Ready, Words};
use super::recorder::{Counters, Recorder};
use super::step::Stepper;
use super::timeouts::TimeoutList;
use super::token::{Slab, Token};
use super::Config;
use crate::kq;
use crate::trace::{CloseReason, KnoteRow};

/// What the server says in the trace: the notes, apart from the loop.
#[path = "narrate.rs"]
mod narrate;

/// After accept fails with EMFILE/ENFILE the listener is disabled for this long, unless a client
/// leaves first (pitfall P4: a level-triggered listener would otherwise fire, fail, fire...).
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// How late a wait may end, or a deadline be enforced, before the loop counts as stalled (the
/// process was stopped or starved): beyond it, what is ready is collected before anyone is
/// closed for silence.
const STALL: Duration = Duration::from_millis(250);

/// How serving a client's buffered messages ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Served {
    /// Every complete message echoed; the client is in read mode.
    Idle,
    /// An echo is waiting for room: the client is in write mode.
    Pending,
    /// The client was closed.
    Closed,
}

pub struct Server<P: Poller> {
    config: Config,
    pub poller: P,
    pub rec: Recorder,
    /// The poller's words for the notes written here ("kevent" or "epoll_wait", ...).
    words: Words,
    listener: TcpListener,
    /// Whether the listener's knote is (or is staged to be) enabled.
    listener_enabled: bool,
    /// Set after EMFILE: when to try accepting again.
    accept_retry_at: Option<Instant>,
    clients: Slab<Client>,
    read_timeout_list: TimeoutList,
    /// The number of clients we currently have connected (errata 4: as published it only grows).
    connected: usize,
    /// Connections accepted so far: the N of `connN`.
    accepted: usize,
    /// Which client headed the timeout list when the last wait's timeout was explained.
    explained_head: Option<Token>,
    /// Whether the trace last explained a NULL timeout (nobody has a deadline).
    explained_no_deadline: bool,
    stop: Arc<AtomicBool>,
    ready: Vec<Ready>,
    /// Interactive mode: the keys and the built-in client (`None` for a tour, a script,
    /// `--external` without a terminal, and `spawn`).
    pub console: Option<Console>,
    /// `--step`: the prompt before each pass of the loop (`step.rs`).
    pub stepper: Option<Stepper>,
}

impl<P: Poller> Server<P> {
    pub fn new(
        config: Config,
        mut poller: P,
        mut rec: Recorder,
        listener: TcpListener,
        stop: Arc<AtomicBool>,
    ) -> io::Result<Server<P>> {
        listener.set_nonblocking(true)?;
        poller.add_listener(listener.as_raw_fd(), &mut rec)?;
        let words = poller.words();
        Ok(Server {
            config,
            poller,
            rec,
            words,
            listener,
            listener_enabled: true,
            accept_retry_at: None,
            clients: Slab::default(),
            read_timeout_list: TimeoutList::default(),
            connected: 0,
            accepted: 0,
            explained_head: None,
            explained_no_deadline: false,
            stop,
            ready: Vec::new(),
            console: None,
            stepper: None,
        })
    }

    /// Run until the stop flag is set (and the loop woken), SIGINT/SIGTERM/SIGHUP, the trace's
    /// output goes away, or (`--step`) the prompt ends the run.
    pub fn run(&mut self) -> io::Result<()> {
        let mut ready = std::mem::take(&mut self.ready);
        while !self.stop.load(Ordering::SeqCst) && !self.rec.broken {
            if !self.wait_for_space() {
                break;
            }
            if self.stepper.is_none() {
                // Under --step the look would be a second kevent call for one Space:
                // `enforce_timeout` peeks at an overdue client's socket instead.
                self.collect_before_expiring(&mut ready)?;
            }
            let timeout = self.enforce_timeout();
            self.wait_and_handle(timeout, &mut ready)?;
        }
        Ok(())
    }

    /// `--step`: the prompt before a pass; false when the run ends there. Without `--step`,
    /// true at once.
    fn wait_for_space(&mut self) -> bool {
        let Some(stepper) = self.stepper.as_mut() else {
            return true;
        };
        let next_call = self.rec.calls_so_far() + 1;
        stepper.wait_for_space(&mut self.rec, next_call, self.poller.staged_changes())
    }

    /// One wait, then every event it returned. A wait that took far longer than its timeout (the
    /// process was stopped, Ctrl-Z then `fg`, or starved) is said so in the trace.
    fn wait_and_handle(
        &mut self,
        timeout: Option<Duration>,
        ready: &mut Vec<Ready>,
    ) -> io::Result<()> {
        let started = Instant::now();
        self.poller.wait(timeout, ready, &mut self.rec)?;
        if let Some(timeout) = timeout {
            let took = started.elapsed();
            if took > timeout * 2 + STALL {
                self.say_stalled_wait(took, timeout);
            }
        }
        for event in ready.iter().copied() {
            self.handle_event(event);
        }
        Ok(())
    }

    /// Before closing anyone for silence, look at what is ready. When the first deadline is
    /// already long past, the loop was not running when it fell due (a stopped or starved
    /// process): a message may have arrived meanwhile, unseen, and its sender is not silent. One
    /// kevent call with a zero timeout collects it first; only the clients still overdue after
    /// that are closed. An on-time deadline needs no such look: the wait that just timed out
    /// was the look.
    fn collect_before_expiring(&mut self, ready: &mut Vec<Ready>) -> io::Result<()> {
        let Some((_, deadline)) = self.read_timeout_list.first() else {
            return Ok(());
        };
        let overdue = Instant::now().saturating_duration_since(deadline);
        if overdue <= STALL {
            return Ok(());
        }
        self.say_overdue(overdue);
        self.wait_and_handle(Some(Duration::ZERO), ready)
    }

    /// One ready event, decoded from the eventlist (the tutorial's `switch (ready.udata)`).
    fn handle_event(&mut self, event: Ready) {
        match event {
            Ready::Listener { .. } => self.accept(),
            Ready::Read {
                token,
                bytes,
                eof,
                error,
            } => {
                if self.known(token, "READ") {
                    self.on_readable(token, bytes, eof, error);
                }
            }
            Ready::Write { token, .. } => {
                if self.known(token, "WRITE") {
                    self.on_writable(token);
                }
            }
            // The tour or the script is over (the stop flag says so), or in interactive mode a
            // client thread has something to report.
            Ready::Wake => {
                if let Some(mut console) = self.console.take() {
                    console.on_reports(self);
                    self.console = Some(console);
                }
                // Under --step: the tour's end, or keys during a call (`step.rs`).
                if let Some(stepper) = self.stepper.as_mut() {
                    stepper.on_wake(&mut self.rec);
                }
            }
            Ready::Keys => {
                if let Some(mut console) = self.console.take() {
                    console.on_keys(self);
                    self.console = Some(console);
                }
            }
            Ready::Interrupt => {
                crate::term::drain_signal_pipe();
                self.rec.note("SIGINT/SIGTERM/SIGHUP: stopping");
                self.stop.store(true, Ordering::SeqCst);
            }
            Ready::ChangeFailed {
                ident,
                filter,
                udata,
                errno,
            } => self.change_failed(ident, filter, udata, errno),
        }
    }

    /// Whether `token` names a live client. A stale one (its client closed, the slot perhaps
    /// reused) is counted and shown, never followed (errata 9).
    fn known(&mut self, token: Token, filter: &str) -> bool {
        if self.clients.get(token).is_some() {
            return true;
        }
        Counters::add(&self.rec.counters.stale, 1);
        self.say_stale(token, filter);
        false
    }

    /// An EV_ERROR entry: the change named by ident/filter/udata failed with `errno` (B7).
    fn change_failed(&mut self, ident: usize, filter: i16, udata: usize, errno: i64) {
        Counters::add(&self.rec.counters.change_errors, 1);
        self.say_change_failed(ident, filter, udata, errno);
    }

    // ----- the timeout list ------------------------------------------------------------------

    /// Close every client whose read deadline has passed; return how long the next wait may
    /// block: until the earliest remaining deadline, or `None` (a NULL timeout, errata 8 fixed)
    /// when no client has one.
    fn enforce_timeout(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let mut next = None;
        while let Some((token, deadline)) = self.read_timeout_list.first() {
            if deadline > now {
                next = Some(deadline - now);
                self.explain_timeout(token, deadline - now);
                break;
            }
            // A client the server still owes echoes (a pending write, or complete messages
            // waiting behind it) is not silent: the server is the one behind. The timeout
            // measures the client's silence, not the server's backlog: a new deadline.
            if let Some(owed) = self.clients.get(token).and_then(owed_bytes) {
                let deadline = now + self.config.read_timeout;
                if let Some(client) = self.clients.get_mut(token) {
                    client.read_deadline = deadline;
                }
                self.read_timeout_list.push_back(token, deadline);
                self.say_not_idle(token, owed);
                continue;
            }
            // --step: the deadline passed while the server waited for Space. A client whose
            // bytes wait in its socket spoke; the paused server did not listen: a new deadline.
            if let Some(stepper) = self.stepper.as_mut() {
                let (label, waiting) = self
                    .clients
                    .get(token)
                    .map(|c| (c.label(), bytes_waiting(&c.socket)))
                    .unwrap_or_default();
                if !stepper.deadline_passed(&mut self.rec, &label, waiting) {
                    let deadline = now + self.config.read_timeout;
                    if let Some(client) = self.clients.get_mut(token) {
                        client.read_deadline = deadline;
                    }
                    self.read_timeout_list.push_back(token, deadline);
                    continue;
                }
            }
            // This client's deadline is in the past. (The tutorial calls shutdown(.recv) and
            // lets the read path close it; we can close it directly.)
            self.say_timed_out(token);
            self.close_client(token, CloseReason::Timeout);
        }
        if next.is_some() {
            self.explained_no_deadline = false;
        } else if !self.explained_no_deadline {
            self.explained_no_deadline = true;
            self.explained_head = None;
            if let Some(text) = self.words.no_deadline {
                self.rec.call_note(text);
            }
        }
        if let Some(retry_at) = self.accept_retry_at {
            if retry_at <= now {
                self.accept_retry_at = None;
                self.rec
                    .note("retrying accept after EMFILE: listener enabled again");
                self.enable_listener();
            } else {
                let until_retry = retry_at - now;
                next = Some(next.map_or(until_retry, |n: Duration| n.min(until_retry)));
            }
        }
        next
    }

    // ----- accept and close -------------------------------------------------------------------

    /// Accept until `WouldBlock` or until `max_clients` are connected; then disable the listener.
    fn accept(&mut self) {
        loop {
            if self.connected >= self.config.max_clients {
                // We've run out of space: stop monitoring the listening socket.
                if self.listener_enabled {
                    self.disable_listener();
                }
                return;
            }
            let (socket, address) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => return,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                // The peer gave up before we accepted: nothing to do, try the next one.
                Err(err) if err.kind() == io::ErrorKind::ConnectionAborted => continue,
                Err(err)
                    if matches!(err.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE)) =>
                {
                    // P4: out of descriptors. The connection stays queued, so a level-triggered
                    // listener would fire again at once: disable it until a client leaves or
                    // ACCEPT_RETRY has passed.
                    self.say_accept_failed_emfile(&err);
                    self.accept_retry_at = Some(Instant::now() + ACCEPT_RETRY);
                    if self.listener_enabled {
                        self.disable_listener();
                    }
                    return;
                }
                Err(err) => {
                    self.rec.note(format!("accept failed: {err}"));
                    return;
                }
            };
            if self.connected >= self.config.clients_in_budget() {
                // The memory budget is full: one more client's buffers would exceed it. Shed
                // this connection (FIN, not RST) rather than let the server's memory grow.
                Counters::add(&self.rec.counters.shed, 1);
                self.say_shed(address);
                close_gracefully(&socket);
                continue;
            }
            if let Err(err) = self.new_client(socket, address) {
                self.rec
                    .note(format!("could not set up the accepted connection: {err}"));
            }
        }
    }

    fn new_client(
        &mut self,
        socket: std::net::TcpStream,
        address: std::net::SocketAddr,
    ) -> io::Result<()> {
        socket.set_nonblocking(true)?;
        // Errata 12: without TCP_NODELAY, Nagle holds back every small echo after the first
        // until the peer's delayed ACK (~40 ms on Linux).
        socket.set_nodelay(true)?;
        if let Some(size) = self.config.send_buffer {
            set_send_buffer(&socket, size)?;
        }
        self.accepted += 1;
        let deadline = Instant::now() + self.config.read_timeout;
        let client = Client::new(
            socket,
            address,
            self.accepted,
            self.config.buffer_size,
            deadline,
        );
        let fd = client.fd();
        let label = client.label();
        let token = self.clients.insert(client);
        if let Err(err) = self.poller.new_client(fd, token, &label, &mut self.rec) {
            if let Some(client) = self.clients.remove(token) {
                kq::close(client.socket); // a knote may have been added before the failure
            }
            return Err(err);
        }
        self.read_timeout_list.push_back(token, deadline);
        self.connected += 1;
        Counters::add(&self.rec.counters.accepted, 1);
        Counters::add(&self.rec.counters.connected, 1);
        self.rec.accepted(self.accepted);
        self.say_accepted(&label, fd, address, token);
        Ok(())
    }

    fn disable_listener(&mut self) {
        let fd = self.listener.as_raw_fd();
        if let Err(err) = self.poller.remove_listener(fd, &mut self.rec) {
            self.rec
                .note(format!("could not disable the listener: {err}"));
            return;
        }
        self.listener_enabled = false;
        Counters::add(&self.rec.counters.listener_disabled, 1);
        self.say_listener_disabled();
    }

    fn enable_listener(&mut self) {
        if self.listener_enabled {
            return;
        }
        let fd = self.listener.as_raw_fd();
        match self.poller.enable_listener(fd, &mut self.rec) {
            Ok(()) => self.listener_enabled = true,
            Err(err) => self
                .rec
                .note(format!("could not re-enable the listener: {err}")),
        }
    }

    /// The tutorial's `closeClient`: off the timeout list, its staged changes dealt with, the
    /// socket closed (which removes its knotes, B22), its slot freed (its token goes stale).
    fn close_client(&mut self, token: Token, reason: CloseReason) {
        let Some(client) = self.clients.remove(token) else {
            return;
        };
        self.read_timeout_list.remove(token);
        if self.explained_head == Some(token) {
            self.explained_head = None;
        }
        let label = client.label();
        self.poller
            .forget_client(client.fd(), &label, &mut self.rec);
        Counters::sub(&self.rec.counters.held_bytes, client.accounted_bytes as u64);
        let conn = client.conn;
        if matches!(reason, CloseReason::Timeout | CloseReason::TooLarge) {
            // A close the server chose: no RST may destroy echoes already accepted.
            close_gracefully(&client.socket);
        }
        // close(2) through the lab's kqueue API, so that the emulation drops the knotes at once
        // as FreeBSD's knote_fdclose does, whatever becomes of the number (B22).
        kq::close(client.socket);
        Counters::add(&self.rec.counters.closed, 1);
        self.rec.closed(conn, reason);
        if self.config.as_published {
            // Errata 4 and 5 kept: `connected` is never decremented and nothing re-enables the
            // listener (its fd is a local of run(), out of closeClient's reach).
            if !self.listener_enabled {
                self.say_listener_stays_disabled();
            }
            return;
        }
        self.connected -= 1;
        Counters::sub(&self.rec.counters.connected, 1);
        if !self.listener_enabled {
            self.accept_retry_at = None;
            self.enable_listener();
            self.say_listener_back(&label);
        }
    }

    // ----- one client -------------------------------------------------------------------------

    /// EVFILT_READ fired with `bytes` unread (B13). Read exactly those bytes (in buffer-sized
    /// pieces), echoing as messages complete. While an echo is pending nothing more is read.
    fn on_readable(&mut self, token: Token, bytes: i64, eof: bool, error: u32) {
        let mut remaining = usize::try_from(bytes).unwrap_or(0);
        // No count and no EOF: read once, as much as fits (a WouldBlock then costs one call).
        let mut unknown = remaining == 0 && !eof;
        loop {
            let Some(client) = self.clients.get_mut(token) else {
                return;
            };
            if client.to_write() > 0 {
                return; // a write is pending: take nothing more (errata 11)
            }
            if remaining == 0 && !unknown {
                break;
            }
            let limit = if unknown {
                client.reader.free_space()
            } else {
                remaining
            };
            unknown = false;
            let mut socket = &client.socket;
            Counters::add(&self.rec.counters.reads, 1);
            match client.reader.read_from(&mut socket, limit) {
                Ok(0) => return self.close_client(token, CloseReason::Eof),
                Ok(n) => {
                    remaining = remaining.saturating_sub(n);
                    account_held(&self.rec.counters, client);
                }
                Err(err) if err.kind() == io::ErrorKind::WouldBlock => break,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {
                    unknown = remaining == 0;
                    continue;
                }
                Err(err) => return self.close_client(token, close_reason(&err)),
            }
            match self.serve(token) {
                Served::Idle => {}
                Served::Pending | Served::Closed => return,
            }
        }
        if eof {
            // EV_EOF, and everything the peer sent before it has been read and echoed (P9).
            let reason = if error == 0 {
                CloseReason::Eof
            } else if error as i32 == libc::ECONNRESET || error as i32 == libc::EPIPE {
                CloseReason::Reset
            } else {
                CloseReason::Error
            };
            self.close_client(token, reason);
        }
    }

    /// EVFILT_WRITE fired: finish the pending echo, then serve the messages still buffered.
    fn on_writable(&mut self, token: Token) {
        if self.write_pending(token) == Some(Written::All) {
            self.serve(token);
        }
    }

    /// Write what the client has pending (the tutorial's `Client.write`) and keep the memory
    /// counters. `None`: the write failed and the client was closed.
    fn write_pending(&mut self, token: Token) -> Option<Written> {
        let client = self.clients.get_mut(token)?;
        let written = client.write(&self.rec.counters.writes);
        account_held(&self.rec.counters, client);
        match written {
            Ok(Written::All) => {
                if self.config.as_published {
                    // As published, every completed write calls readMode: two changes staged
                    // even when the client is already in read mode.
                    self.published_read_mode(token);
                }
                Some(Written::All)
            }
            Ok(Written::Partly) => Some(Written::Partly),
            Err(err) => {
                self.close_client(token, close_reason(&err));
                None
            }
        }
    }

    /// Echo every complete message in the client's reader, in order. Stops at the first echo
    /// that cannot be written completely (write mode); the remaining messages stay in the
    /// reader until that write completes (errata 11: as published, the next `writeMessage`
    /// returned `error.PendingMessage` and the client was closed).
    fn serve(&mut self, token: Token) -> Served {
        loop {
            let Some(client) = self.clients.get_mut(token) else {
                return Served::Closed;
            };
            let taken = match client.take_messages() {
                Ok(taken) => taken,
                Err(too_large) => {
                    self.say_too_large(token, &too_large);
                    self.close_client(token, CloseReason::TooLarge);
                    return Served::Closed;
                }
            };
            if taken > 0 {
                Counters::add(&self.rec.counters.messages, taken);
                // A complete message: this client's deadline moves, and so does its place in the
                // list (the tutorial's remove + append).
                client.read_deadline = Instant::now() + self.config.read_timeout;
                let deadline = client.read_deadline;
                self.read_timeout_list.push_back(token, deadline);
            }
            if client.to_write() == 0 {
                break;
            }
            match self.write_pending(token) {
                Some(Written::All) => {}
                Some(Written::Partly) => {
                    self.write_mode(token);
                    return Served::Pending;
                }
                None => return Served::Closed,
            }
        }
        let Some(client) = self.clients.get_mut(token) else {
            return Served::Closed;
        };
        if client.mode == Mode::Write {
            // Only a client that was in write mode is flipped back: a change that changes
            // nothing is not staged.
            client.mode = Mode::Read;
            let fd = client.fd();
            let label = client.label();
            if let Err(err) = self.poller.read_mode(fd, token, &mut self.rec) {
                self.rec
                    .note(format!("{label}: could not stage read mode: {err}"));
            } else {
                self.say_read_mode(&label);
            }
        }
        Served::Idle
    }

    /// The echo could not be written completely: READ disabled, WRITE enabled.
    fn write_mode(&mut self, token: Token) {
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        let more_buffered = client
            .reader
            .peek_frame_len()
            .is_some_and(|len| len <= client.reader.buffered());
        let pending = client.to_write();
        let fd = client.fd();
        let label = client.label();
        if client.mode == Mode::Write {
            return;
        }
        client.mode = Mode::Write;
        Counters::add(&self.rec.counters.write_mode_flips, 1);
        if let Err(err) = self.poller.write_mode(fd, token, &mut self.rec) {
            self.rec
                .note(format!("{label}: could not stage write mode: {err}"));
            return;
        }
        self.say_write_mode(&label, pending, more_buffered);
    }

    /// As published: `readMode` after every completed write, whatever the mode.
    fn published_read_mode(&mut self, token: Token) {
        let Some(client) = self.clients.get_mut(token) else {
            return;
        };
        client.mode = Mode::Read;
        let fd = client.fd();
        if let Err(err) = self.poller.read_mode(fd, token, &mut self.rec) {
            self.rec.note(format!("could not stage read mode: {err}"));
        }
    }

    /// The server is stopping: close the clients still connected (no `client` records: they
    /// did not leave, the server did).
    pub fn close_all(&mut self) {
        let tokens: Vec<Token> = self.clients.iter().map(|(t, _)| t).collect();
        self.say_stopping(tokens.len());
        for token in tokens {
            if let Some(client) = self.clients.remove(token) {
                Counters::sub(&self.rec.counters.held_bytes, client.accounted_bytes as u64);
                // Stopping is a close the server chooses too: FIN after the echoes written.
                close_gracefully(&client.socket);
                kq::close(client.socket);
            }
        }
    }

    /// The trace's recorder; everything else goes, the listener included (closing it resets
    /// the connections still waiting in its accept queue).
    pub fn into_recorder(self) -> Recorder {
        self.rec
    }
}

impl<P: Poller> ServerView for Server<P> {
    fn rec(&mut self) -> &mut Recorder {
        &mut self.rec
    }

    fn knote_rows(&self) -> Option<Vec<KnoteRow>> {
        self.poller.knotes()
    }

    fn label_of_peer(&self, peer: std::net::SocketAddr) -> Option<String> {
        self.clients
            .iter()
            .find(|(_, client)| client.address == peer)
            .map(|(_, client)| client.label())
    }

    fn request_stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn set_read_timeout(&mut self, timeout: Duration) {
        self.config.read_timeout = timeout;
        // Every client's deadline starts again from now, taken in the list's order: one
        // deadline for all keeps the list sorted (timeouts.rs), whether the timeout shrank or
        // grew.
        let deadline = Instant::now() + timeout;
        let mut clients: Vec<(Instant, Token)> = self
            .clients
            .iter()
            .map(|(token, client)| (client.read_deadline, token))
            .collect();
        clients.sort_by_key(|&(old, _)| old);
        for (_, token) in clients {
            if let Some(client) = self.clients.get_mut(token) {
                client.read_deadline = deadline;
            }
            self.read_timeout_list.push_back(token, deadline);
        }
    }
}

/// Keep the memory counters: the bytes all clients hold now, and the most one client ever held.
fn account_held(counters: &Counters, client: &mut Client) {
    let held = client.held_bytes();
    if held >= client.accounted_bytes {
        Counters::add(&counters.held_bytes, (held - client.accounted_bytes) as u64);
    } else {
        Counters::sub(&counters.held_bytes, (client.accounted_bytes - held) as u64);
    }
    client.accounted_bytes = held;
    counters
        .max_held_bytes
        .fetch_max(held as u64, Ordering::Relaxed);
}

/// Bytes the server owes this client: its pending echo plus the complete messages waiting in
/// its reader. `None` when it owes nothing.
fn owed_bytes(client: &Client) -> Option<usize> {
    let pending = client.to_write();
    let waiting = client
        .reader
        .peek_frame_len()
        .filter(|&len| len <= client.reader.buffered())
        .map_or(0, |_| client.reader.buffered());
    let owed = pending + waiting;
    (owed > 0).then_some(owed)
}

/// Whether the peer sent something the server has not read yet: bytes, or its end of file
/// (`recv(MSG_PEEK)` on the non-blocking socket; an error waits to be reported too). Only
/// WouldBlock means silence.
fn bytes_waiting(socket: &std::net::TcpStream) -> bool {
    !matches!(socket.peek(&mut [0u8; 1]), Err(err) if err.kind() == io::ErrorKind::WouldBlock)
}

/// Before a close the server chose (timeout, too large): send FIN after the echoes already in
/// the send buffer (shutdown(SHUT_WR)), then discard what the peer sent that will never be read.
/// close(2) on a socket with unread input sends RST instead of FIN, and an RST makes the peer's
/// kernel drop what it had not yet delivered: echoes the server had already written. The
/// discarding is bounded; bytes that arrive later are the peer writing to a closed connection.
fn close_gracefully(socket: &std::net::TcpStream) {
    use std::io::Read;
    let _ = socket.shutdown(std::net::Shutdown::Write);
    // A shed connection comes straight from accept(2), blocking on Linux: never wait here.
    if socket.set_nonblocking(true).is_err() {
        return;
    }
    let mut scratch = [0u8; 16 * 1024];
    let mut reader = socket;
    for _ in 0..64 {
        match reader.read(&mut scratch) {
            Ok(0) => break,
            Ok(_) => {}
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break, // WouldBlock: nothing left unread
        }
    }
}

/// The close reason for a failed read or write.
fn close_reason(err: &io::Error) -> CloseReason {
    match err.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::ConnectionAborted => CloseReason::Reset,
        _ => CloseReason::Error,
    }
}

/// setsockopt(SO_SNDBUF): a fixed send buffer (the kernel may round or double it), through
/// socket2, without raw `unsafe` here.
fn set_send_buffer(socket: &std::net::TcpStream, size: usize) -> io::Result<()> {
    // The option is a C int: a larger request asks for the most there is.
    socket2::SockRef::from(socket).set_send_buffer_size(size.min(i32::MAX as usize))
}
