//! The actions (contract: "Actions (script and keys)"): what the built-in client does on its
//! side of a connection, what the server does on its side, and the keys bound to them.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use super::{Lab, Step, Stop, ACCEPT_DEADLINE, NEVENTS};
use crate::error::Error;
use crate::kq::{self, Kevent};
use crate::script::{Action, Filter, KnoteChange, KnoteOp};
use crate::stages::Rearm;
use crate::term::Key;
use crate::trace::{KnoteRow, KnoteState};

/// What `?` says: every key, in this order (the footer is cut to the terminal's width).
const KEYS_HELP: &[&str] = &[
    "c connect",
    "1-9 use connection N",
    "s send ping",
    "r read all",
    "p read 2 bytes (a partial read)",
    "a rearm as the stage teaches",
    "+ EV_ADD with the stage's flags",
    "- EV_DELETE",
    "e EV_ENABLE",
    "d EV_DISABLE",
    "R EV_ADD|EV_RECEIPT (each on the current connection's knote)",
    "x close",
    "k knote table",
    "? these keys",
    "q quit",
];

/// Whether `key` (a footer or help entry, `s send`) is one of the built-in client's keys,
/// which `--external` has no use for: connect, send, close, and the reads where the client is
/// the one that reads (the write stage). `1-9` stays: with `--external` it chooses which
/// accepted connection the server-side keys act on.
fn client_key(entry: &str, client_reads: bool) -> bool {
    let key = entry.split(' ').next().unwrap_or_default();
    matches!(key, "c" | "s" | "x") || (client_reads && matches!(key, "r" | "p"))
}

impl Lab {
    /// The footer's keys line: every key, or with `--external` only those that act on the
    /// server's side (reads, rearm, knote changes) and the lab's own (`k`, `?`, `q`).
    pub(super) fn keys_line(&self) -> String {
        let client_reads = self.stage.server_writes();
        super::KEYS_LINE
            .split("  ")
            .filter(|entry| !(self.external && client_key(entry, client_reads)))
            .collect::<Vec<_>>()
            .join("  ")
    }

    /// What `?` says, with the same keys as the footer.
    fn keys_help(&self) -> String {
        let client_reads = self.stage.server_writes();
        let keys: Vec<&str> = KEYS_HELP
            .iter()
            .copied()
            .filter(|entry| !(self.external && client_key(entry, client_reads)))
            .collect();
        let external = if self.external {
            " (--external: no built-in client, so none of its keys)"
        } else {
            ""
        };
        format!(
            "keys{external}: {}; `lab STAGE --help` lists the script actions (`add read \
             oneshot`, `delete write`, ...)",
            keys.join(", ")
        )
    }
}

/// The action bound to a key, if any (`k` and `?` print and are handled apart).
fn action_for_key(key: Key) -> Option<Action> {
    let change = |op, receipt| {
        Action::Knote(KnoteChange {
            op,
            filter: None,
            receipt,
        })
    };
    Some(match key {
        Key::Interrupt | Key::Char('q') => Action::Quit,
        Key::Char('c') => Action::Connect,
        Key::Char('s') => Action::Send(b"ping".to_vec()),
        Key::Char('r') => Action::Read(None),
        // A partial read: what the CLEAR stall is made of (B14).
        Key::Char('p') => Action::Read(Some(2)),
        Key::Char('a') => Action::Rearm,
        Key::Char('+') => change(KnoteOp::Add(None), false),
        Key::Char('-') => change(KnoteOp::Delete, false),
        Key::Char('e') => change(KnoteOp::Enable, false),
        Key::Char('d') => change(KnoteOp::Disable, false),
        Key::Char('R') => change(KnoteOp::Add(None), true),
        Key::Char('x') => Action::Close,
        Key::Char(d @ '1'..='9') => Action::Use(d as usize - '0' as usize),
        Key::Char(_) => return None,
    })
}

/// Everything at most a chunk at a time: `fill` never allocates what it writes (issue 14).
static FILL_CHUNK: [u8; 64 * 1024] = [b'x'; 64 * 1024];

impl Lab {
    /// Deliver the keys that woke the loop, as actions.
    pub(in crate::stages) fn take_keys(&mut self) -> Step {
        let mut keys = Vec::new();
        let mut reader_gone = false;
        if let Some(rx) = &self.keys {
            loop {
                match rx.try_recv() {
                    Ok(key) => keys.push(key),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        reader_gone = true;
                        break;
                    }
                }
            }
        }
        for key in keys {
            self.keys_handled += 1;
            if self.stepping.is_some() {
                // `--step`: Space goes on, q and Ctrl-C quit; the tour does the rest.
                self.step_key(key)?;
                if self.quit {
                    break;
                }
                continue;
            }
            let action = match key {
                Key::Char('k') => {
                    self.emit_knotes()?;
                    None
                }
                // Enter has no action of its own (it goes on in `--step`).
                Key::Char('\n') => None,
                Key::Char('?') => {
                    // The key reader toggled the key list (`term::help_shown`): draw it, and
                    // say once what each key does (the footer has room for names only).
                    self.update_footer()?;
                    if crate::term::help_shown() {
                        let help = self.keys_help();
                        self.note(help)?;
                    }
                    None
                }
                Key::Char(c)
                    if c != 'c'
                        && self.external
                        && client_key(&c.to_string(), self.stage.server_writes()) =>
                {
                    // Not in the footer with --external; pressed anyway, one line says why.
                    self.note(format!(
                        "--external: there is no built-in client for '{c}' to drive; the footer \
                         lists the server's keys"
                    ))?;
                    None
                }
                key => {
                    let action = action_for_key(key);
                    if action.is_none() {
                        self.note(format!(
                            "key {key:?} does nothing; the keys are in the footer"
                        ))?;
                    }
                    action
                }
            };
            if let Some(action) = action {
                self.perform(&action)?;
            }
            if self.quit {
                break;
            }
        }
        if reader_gone && !self.quit && crate::term::interrupted() {
            // The terminal hung up (or a signal came): the key reader ended the run as SIGHUP
            // would, and the signal knote may not have fired yet.
            return self.interrupted();
        }
        if reader_gone && !self.quit {
            // The key reader thread ended on its own (the terminal failed, or it panicked):
            // no key, not even `q`, can arrive any more, so end the stage rather than hang.
            return Err(Stop::Fail(Error::runtime(
                "the key reader stopped (cannot read the terminal); run with --script instead",
            )));
        }
        Ok(())
    }

    /// The built-in client's stream for the current connection, if it is open.
    fn client(&mut self) -> Option<&mut TcpStream> {
        self.clients
            .get_mut(self.current.checked_sub(1)?)
            .and_then(Option::as_mut)
    }

    /// Where the current connection's server side is in `conns`, once the server accepted it.
    fn accepted(&self) -> Option<usize> {
        self.current
            .checked_sub(1)
            .filter(|&i| i < self.conns.len())
    }

    /// Perform one action (from a script or a key).
    pub(super) fn perform(&mut self, action: &Action) -> Step {
        let conn = (self.current > 0).then_some(self.current);
        match action {
            Action::Connect => {
                if self.external {
                    return self
                        .note("--external: there is no built-in client to connect".to_string());
                }
                let stream = connect(self.addr, self.stage.server_writes()).map_err(|e| {
                    Error::runtime(format!(
                        "the built-in client cannot connect to {}: {e}",
                        self.addr
                    ))
                })?;
                stream.set_nonblocking(true).map_err(|e| {
                    Error::runtime(format!("cannot make the client non-blocking: {e}"))
                })?;
                self.clients.push(Some(stream));
                let n = self.clients.len();
                self.current = n;
                self.action(action, Some(n), None)?;
                self.update_footer()?;
                // Let the server accept it, so that `read` and `rearm` find connN.
                let deadline = Instant::now() + ACCEPT_DEADLINE;
                while self.conns.len() < n && !self.quit {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Stop::Fail(Error::runtime(format!(
                            "the server did not accept connection {n} within {} s",
                            ACCEPT_DEADLINE.as_secs()
                        ))));
                    }
                    self.poll(Some(deadline - now))?;
                }
            }
            Action::Use(n) => {
                let exists = if self.external {
                    *n <= self.conns.len()
                } else {
                    *n <= self.clients.len()
                };
                if !exists {
                    return self.note(format!("there is no connection {n}; `c` opens a new one"));
                }
                self.current = *n;
                self.action(action, Some(*n), None)?;
                self.update_footer()?;
            }
            Action::Send(bytes) => {
                let Some(stream) = self.client() else {
                    return self.note("no open client connection to send on".to_string());
                };
                let sent = write_some(stream, bytes);
                self.action(action, conn, Some(sent))?;
                if sent < bytes.len() {
                    self.note(format!(
                        "only {sent} of {} bytes fit: the socket buffers are full because the \
                         server does not read",
                        bytes.len()
                    ))?;
                }
            }
            Action::Fill(count) if self.stage.server_writes() => self.server_fill(*count, conn)?,
            Action::Fill(count) => {
                let Some(stream) = self.client() else {
                    return self.note("no open client connection to fill".to_string());
                };
                let sent = fill(stream, *count);
                self.action(action, conn, Some(sent))?;
                if sent < *count {
                    self.note(format!(
                        "only {sent} of {count} bytes fit: the socket buffers are full because \
                         the server does not read"
                    ))?;
                }
            }
            Action::Read(limit) if self.stage.server_writes() => self.client_read(*limit, conn)?,
            Action::Read(limit) => {
                let Some(i) = self.accepted() else {
                    return self.note("no accepted connection to read from yet".to_string());
                };
                let fd = self.conns[i].fd;
                let Some(stream) = self.conns[i].stream.as_mut() else {
                    return self.note(format!("conn{} is closed", self.current));
                };
                let (data, _) = read_some(stream, *limit);
                let left = unread(stream);
                self.tracer.forget_flood(fd);
                self.action(action, conn, Some(data.len()))?;
                let shown = String::from_utf8_lossy(&data[..data.len().min(40)]).to_string();
                let after = self.what_is_left(fd, left);
                self.note(format!(
                    "the server read {} byte{} from conn{}: {shown:?}; {after}",
                    data.len(),
                    if data.len() == 1 { "" } else { "s" },
                    self.current,
                ))?;
            }
            Action::Rearm => {
                let Some(i) = self.accepted() else {
                    return self.note("no accepted connection to re-arm yet".to_string());
                };
                let fd = self.conns[i].fd;
                self.action(action, conn, None)?;
                match (self.stage.rearm)(fd, fd) {
                    Rearm::Change(change, why) => {
                        let why = self.rearm_reason(&change, why);
                        self.note(why)?;
                        if self.conns[i].stream.is_some() {
                            self.kevent(&[change], &mut [], None)?;
                        } else {
                            self.note(format!(
                                "conn{} is closed: nothing to re-arm",
                                self.current
                            ))?;
                        }
                    }
                    Rearm::NotNeeded(why) => self.note(why.to_string())?,
                }
            }
            Action::Knote(change) => self.change_knote(action, change, conn)?,
            Action::Close => {
                let Some(slot) = self
                    .current
                    .checked_sub(1)
                    .and_then(|i| self.clients.get_mut(i))
                else {
                    return self.note("no client connection to close".to_string());
                };
                match slot.take() {
                    Some(stream) => {
                        drop(stream);
                        self.action(action, conn, None)?;
                    }
                    None => return self.note(format!("conn{} is already closed", self.current)),
                }
            }
            Action::Wait(ms) => {
                self.action(action, None, None)?;
                self.run_for(Duration::from_millis(*ms))?;
            }
            Action::Quit => {
                self.action(action, None, None)?;
                self.quit = true;
            }
        }
        Ok(())
    }
}

impl Lab {
    /// The knote table's row for (fd, filter): the live one, or else the last deleted one.
    fn knote_row(&self, fd: usize, filter: i16) -> Option<KnoteRow> {
        let name = kq::filter_name(filter);
        let rows = self.kq.knotes().unwrap_or_default();
        let mine = |r: &&KnoteRow| r.ident == fd && r.filter == name;
        rows.iter()
            .filter(mine)
            .find(|r| r.state != KnoteState::Deleted)
            .or_else(|| rows.iter().rfind(mine))
            .cloned()
    }

    /// What the stage says re-arming does, unless the knote has not fired since it was
    /// added: then it is still there, enabled, and the stage's reason would be false.
    fn rearm_reason(&self, change: &Kevent, why: &str) -> String {
        let conn = format!("conn{}", self.current);
        let enabled = self
            .knote_row(change.ident, change.filter)
            .is_some_and(|r| r.state == KnoteState::Enabled);
        if !enabled {
            return why.to_string();
        }
        if change.flags & kq::EV_ADD != 0 {
            format!(
                "{conn}'s knote has not fired since it was added, so it still exists, enabled: \
                 this EV_ADD only modifies it (B2, B3); EV_ONESHOT deletes a knote only when it \
                 delivers its event (B15)"
            )
        } else {
            format!(
                "{conn}'s knote has not fired since it was enabled, so it is still enabled: this \
                 EV_ENABLE changes nothing; EV_DISPATCH disables a knote only when it delivers \
                 its event (B16)"
            )
        }
    }

    /// After a read by the server: how many bytes are left, and whether an event will say so.
    fn what_is_left(&self, fd: usize, left: Unread) -> String {
        let n = match left {
            Unread::None => return "nothing is left unread".to_string(),
            Unread::Eof => return "nothing is left unread; the client closed".to_string(),
            Unread::Bytes(n) => n,
        };
        let bytes = format!("{n} byte{}", if n == 1 { "" } else { "s" });
        let Some(row) = self.knote_row(fd, kq::EVFILT_READ) else {
            return format!("{bytes} are still waiting, and no READ knote watches them");
        };
        let conn = format!("conn{}", self.current);
        let has = |m: &str| row.mode.iter().any(|x| x == m);
        match row.state {
            KnoteState::Deleted => format!(
                "{bytes} are still waiting, but {conn}'s READ knote is deleted: nothing reports \
                 them until it is added again"
            ),
            KnoteState::Disabled => format!(
                "{bytes} are still waiting; {conn}'s READ knote is disabled, and reports them \
                 once enabled (B5)"
            ),
            KnoteState::Enabled if has("CLEAR") => format!(
                "{bytes} are still waiting, and no event will come for them: {conn}'s EV_CLEAR \
                 knote fires again only when new bytes arrive (B14), then with data counting \
                 old and new"
            ),
            KnoteState::Enabled if has("ONESHOT") || has("DISPATCH") => format!(
                "{bytes} are still waiting, and {conn}'s knote reports them on the next call"
            ),
            KnoteState::Enabled => format!(
                "{bytes} are still waiting, so the level-triggered knote reports {conn} again on \
                 the next call (B12)"
            ),
        }
    }

    /// `fill` in `lab write`: the server writes on its side until the count or a full send
    /// buffer, and the WRITE knote falls silent.
    fn server_fill(&mut self, count: usize, conn: Option<usize>) -> Step {
        let Some(i) = self.accepted() else {
            return self.note("no accepted connection to fill yet".to_string());
        };
        let fd = self.conns[i].fd;
        let Some(stream) = self.conns[i].stream.as_mut() else {
            return self.note(format!("conn{} is closed", self.current));
        };
        let sent = fill(stream, count);
        self.tracer.forget_flood(fd);
        self.action(&Action::Fill(count), conn, Some(sent))?;
        let why = if sent < count {
            format!(
                "the server wrote {sent} of {count} bytes to conn{}: then write() said EAGAIN, \
                 the send buffer is full, so its WRITE knote falls silent until at least the \
                 low-water mark (2048 bytes) is free again (B19): when the client reads, or when \
                 the client's kernel takes more into its receive buffer (fill again)",
                self.current
            )
        } else {
            format!(
                "the server wrote all {count} bytes to conn{}; the send buffer still has room, \
                 so WRITE keeps firing (a larger `fill` fills it)",
                self.current
            )
        };
        self.note(why)
    }

    /// `read` in `lab write`: the client reads what the server wrote, room frees up on the
    /// server's side, and its WRITE knote comes back.
    fn client_read(&mut self, limit: Option<usize>, conn: Option<usize>) -> Step {
        let Some(stream) = self.client() else {
            return self.note("no open client connection to read on".to_string());
        };
        let mut got = 0usize;
        let mut buf = [0u8; 64 * 1024];
        loop {
            let want = limit.map_or(buf.len(), |l| (l - got).min(buf.len()));
            if want == 0 {
                break;
            }
            match stream.read(&mut buf[..want]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            }
        }
        self.action(&Action::Read(limit), conn, Some(got))?;
        self.note(format!(
            "the client read {got} byte{} of what the server wrote on conn{}: its \
             acknowledgements free room in the server's send buffer, and WRITE fires again once \
             at least 2048 bytes are free (B19)",
            if got == 1 { "" } else { "s" },
            self.current
        ))
    }

    /// `add`, `delete`, `enable`, `disable`, `receipt`: one kevent call with exactly that
    /// change on the current connection's knote, and an eventlist, so that a failing change
    /// comes back as an EV_ERROR entry (B7) rather than as -1/errno.
    fn change_knote(&mut self, action: &Action, change: &KnoteChange, conn: Option<usize>) -> Step {
        let Some(i) = self.accepted() else {
            return self.note("no accepted connection to change a knote of yet".to_string());
        };
        let fd = self.conns[i].fd;
        if self.conns[i].stream.is_none() {
            return self.note(format!(
                "conn{} is closed: its knotes went with its descriptor (B22)",
                self.current
            ));
        }
        let filter = match change.filter {
            None => self.stage.filter,
            Some(Filter::Read) => kq::EVFILT_READ,
            Some(Filter::Write) => kq::EVFILT_WRITE,
        };
        let mut flags = match change.op {
            KnoteOp::Add(mode) => kq::EV_ADD | mode.unwrap_or(self.stage.flags & !kq::EV_ADD),
            KnoteOp::Delete => kq::EV_DELETE,
            KnoteOp::Enable => kq::EV_ENABLE,
            KnoteOp::Disable => kq::EV_DISABLE,
        };
        if change.receipt {
            flags |= kq::EV_RECEIPT;
        }
        // The udata goes with every change: FreeBSD stores it on each one (B4).
        let kevent = Kevent::new(fd, filter, flags).with_udata(fd);
        let before = self.knote_row(fd, filter);
        let knote = format!("conn{}'s {} knote", self.current, kq::filter_name(filter));
        self.action(action, conn, None)?;
        let mut what = what_the_change_does(&knote, change.op, before.as_ref());
        if change.receipt {
            what.push_str("; with EV_RECEIPT an entry comes back even on success, data 0 (B8)");
        }
        self.note(what)?;
        self.tracer.failure_context = Some(why_it_failed(&knote, before.as_ref()));
        self.tracer.forget_flood(fd);
        let mut events = [Kevent::default(); NEVENTS];
        let n = self.kevent(&[kevent], &mut events, Some(Duration::ZERO));
        self.tracer.failure_context = None;
        let n = n?;
        self.dispatch(&events[..n])
    }

    /// Run the loop for `duration` (the `wait` action), then show the final live count.
    fn run_for(&mut self, duration: Duration) -> Step {
        let deadline = Instant::now() + duration;
        while !self.quit && Instant::now() < deadline {
            self.poll(Some(deadline.saturating_duration_since(Instant::now())))?;
        }
        self.tracer.tracer.show_progress()?;
        Ok(())
    }
}

/// Before a knote change: what it will do, given the knote as the table knows it.
fn what_the_change_does(knote: &str, op: KnoteOp, before: Option<&KnoteRow>) -> String {
    let state = before
        .map(|r| r.state)
        .filter(|&s| s != KnoteState::Deleted);
    match (op, state) {
        (KnoteOp::Add(_), None) => format!(
            "EV_ADD creates {knote}; if its condition already holds, this very call reports \
             it (B9)"
        ),
        (KnoteOp::Add(_), Some(KnoteState::Disabled)) => format!(
            "{knote} exists, disabled: EV_ADD modifies it, keeps the mode it was created with \
             and does not re-enable it, only EV_ENABLE does (B3, B16)"
        ),
        (KnoteOp::Add(_), Some(_)) => format!(
            "{knote} exists: EV_ADD modifies it (never a second one, B2) and keeps the mode it \
             was created with (B3)"
        ),
        (KnoteOp::Delete, Some(_)) => format!(
            "EV_DELETE removes {knote} (B6): nothing more is reported for it, even for bytes \
             already waiting"
        ),
        (KnoteOp::Enable, Some(_)) => format!(
            "EV_ENABLE: {knote} reports again; if its condition holds, this very call says so \
             (B5)"
        ),
        (KnoteOp::Disable, Some(_)) => format!(
            "EV_DISABLE: {knote} stays and keeps tracking the socket, but reports nothing until \
             EV_ENABLE (B5)"
        ),
        (op, None) => format!(
            "{knote} does not exist: EV_{} should fail with ENOENT, an EV_ERROR entry since this call \
             has an eventlist (B7)",
            match op {
                KnoteOp::Delete => "DELETE",
                KnoteOp::Enable => "ENABLE",
                _ => "DISABLE",
            }
        ),
    }
}

/// If the change comes back as an EV_ERROR entry: why (the call's record says it).
fn why_it_failed(knote: &str, before: Option<&KnoteRow>) -> String {
    match before {
        Some(r) if r.state == KnoteState::Deleted && r.mode.iter().any(|m| m == "ONESHOT") => {
            format!(
                "{knote} is gone: EV_ONESHOT deleted it when it delivered its event (B15), so \
                 EV_DELETE, EV_ENABLE or EV_DISABLE find nothing: ENOENT (B6)"
            )
        }
        Some(r) if r.state == KnoteState::Deleted => format!(
            "{knote} was deleted earlier: EV_DELETE, EV_ENABLE or EV_DISABLE find nothing: \
             ENOENT (B6)"
        ),
        None => format!("{knote} was never added: only EV_ADD creates a knote (B6)"),
        Some(_) => format!("{knote} exists, yet the change was refused (the errno says why)"),
    }
}

/// The built-in client's connection. In `lab write` its receive buffer is set small *before*
/// connecting, so the window it advertises is small too and one `fill` by the server fills it.
fn connect(addr: std::net::SocketAddr, small_receive_buffer: bool) -> io::Result<TcpStream> {
    if !small_receive_buffer {
        return TcpStream::connect(addr);
    }
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        None,
    )?;
    socket.set_recv_buffer_size(crate::stages::write::BUFFER)?;
    socket.connect(&addr.into())?;
    Ok(socket.into())
}

/// Write `count` bytes of `x` without blocking, a chunk at a time; how many went.
fn fill(stream: &mut TcpStream, count: usize) -> usize {
    let mut sent = 0;
    while sent < count {
        let chunk = &FILL_CHUNK[..(count - sent).min(FILL_CHUNK.len())];
        let n = write_some(stream, chunk);
        sent += n;
        if n < chunk.len() {
            break;
        }
    }
    sent
}

/// What is left in a socket after a read.
enum Unread {
    None,
    Eof,
    /// At least this many bytes (a peek counts up to 64 KiB).
    Bytes(usize),
}

/// Count the bytes still unread, without taking them (MSG_PEEK).
fn unread(stream: &TcpStream) -> Unread {
    let mut buf = [0u8; 64 * 1024];
    loop {
        return match stream.peek(&mut buf) {
            Ok(0) => Unread::Eof,
            Ok(n) => Unread::Bytes(n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => Unread::None,
        };
    }
}

/// Write as much of `bytes` as the socket takes without blocking; how many went.
fn write_some(stream: &mut TcpStream, bytes: &[u8]) -> usize {
    let mut sent = 0;
    while sent < bytes.len() {
        match stream.write(&bytes[sent..]) {
            Ok(0) => break,
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    sent
}

/// Read up to `limit` bytes (all that is buffered when `None`) without blocking. Returns the
/// bytes and whether the socket was found empty (a read hit WouldBlock or EOF).
fn read_some(stream: &mut TcpStream, limit: Option<usize>) -> (Vec<u8>, bool) {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let want = match limit {
            Some(l) if data.len() >= l => return (data, false),
            Some(l) => (l - data.len()).min(buf.len()),
            None => buf.len(),
        };
        match stream.read(&mut buf[..want]) {
            Ok(0) => return (data, true),
            Ok(n) => data.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return (data, true),
        }
    }
}
