//! Interactive `lab server`: in a terminal, with no `--script`, keys drive a built-in client
//! (contract: "Actions (script and keys)").
//!
//! The server loop stays what it is: one thread blocked in `kevent`. Two other threads talk to
//! it, and neither makes it poll on a timer:
//! - the key reader (`term::KeyReader`) sends each key on a channel and NOTE_TRIGGERs the
//!   `keys` EVFILT_USER knote (B24; an eventfd with `--backend epoll`): the loop wakes with a
//!   `Ready::Keys` and takes the keys;
//! - each built-in client connection has a thread that reads its echoes; it reports each one on
//!   a channel and triggers the `wake` knote, so the trace can say that `ping` came back.
//!
//! The built-in client itself (its connections, their reader threads, the tour `t` plays) is
//! [`KeyClient`] in `crate::client::keys`; this console turns keys into its actions and says in
//! the trace what each one did.

use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use super::poller::Waker;
use super::recorder::Recorder;
use crate::client::keys::{KeyClient, Report};
use crate::client::tour::{self, TourPlan};
use crate::term::Key;
use crate::trace::{KnoteRow, Record};

/// What the interactive mode needs from the server loop it runs in.
pub trait ServerView {
    fn rec(&mut self) -> &mut Recorder;
    /// The knote table now; `None` when the event API has none (epoll).
    fn knote_rows(&self) -> Option<Vec<KnoteRow>>;
    /// The trace label (`connN`) of the server side of the connection coming from `peer`.
    fn label_of_peer(&self, peer: SocketAddr) -> Option<String>;
    /// End the loop after the events at hand (`q`, Ctrl-C).
    fn request_stop(&mut self);
    /// The read timeout from now on; every open client's deadline starts again from now (`t`
    /// switches to the tour's).
    fn set_read_timeout(&mut self, timeout: Duration);
}

/// The interactive mode's state, owned by the server loop while it runs.
pub struct Console {
    external: bool,
    keys: Receiver<Key>,
    /// The built-in client the keys drive; its threads trigger the `wake` knote.
    client: KeyClient,
    /// The event API, for the footer: `kqueue` or `epoll`.
    backend: &'static str,
    /// How a key wakes the loop, said once.
    keys_how: &'static str,
    keys_noted: bool,
    /// The read timeout `t` switches to (the tour's), unless `--read-timeout-ms` was given or
    /// it has switched already.
    tour_read_timeout: Option<Duration>,
    /// Connections the tours started by `t` opened so far: the server numbers its `connN` in
    /// the order it accepts, after the ones `c` opened.
    tour_connections: usize,
    /// Set when the key reader went away: the run ends with this error.
    pub failure: Option<String>,
}

/// Everything [`Console::new`] needs.
pub struct ConsoleSetup {
    pub addr: SocketAddr,
    pub external: bool,
    pub keys: Receiver<Key>,
    pub waker: Waker,
    pub plan: TourPlan,
    pub stop: Arc<AtomicBool>,
    pub backend: &'static str,
    pub keys_how: &'static str,
    /// What `t` sets the server's read timeout to; `None` keeps it (`--read-timeout-ms`).
    pub tour_read_timeout: Option<Duration>,
}

impl Console {
    pub fn new(setup: ConsoleSetup) -> Console {
        let waker = setup.waker;
        let wake = Arc::new(move || {
            let _ = waker.wake();
        });
        Console {
            external: setup.external,
            keys: setup.keys,
            client: KeyClient::new(setup.addr, setup.plan, setup.stop, wake),
            backend: setup.backend,
            keys_how: setup.keys_how,
            keys_noted: false,
            tour_read_timeout: setup.tour_read_timeout,
            tour_connections: 0,
            failure: None,
        }
    }

    /// The `keys` knote fired: handle every key waiting on the channel.
    pub fn on_keys(&mut self, server: &mut impl ServerView) {
        if !self.keys_noted {
            self.keys_noted = true;
            server.rec().note(self.keys_how);
        }
        loop {
            match self.keys.try_recv() {
                Ok(key) => self.on_key(key, server),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) if crate::term::interrupted() => {
                    // The terminal hung up (or a signal came): the key reader ended the run as
                    // SIGHUP would; the signal knote ends it as well, not as a failure.
                    server.request_stop();
                    return;
                }
                Err(TryRecvError::Disconnected) => {
                    // The key reader ended on its own (the terminal failed): no key, not even
                    // `q`, can arrive any more, so end the run rather than hang.
                    self.failure = Some(
                        "the key reader stopped (cannot read the terminal); run with --script \
                         instead"
                            .into(),
                    );
                    server.request_stop();
                    return;
                }
            }
        }
    }

    fn on_key(&mut self, key: Key, server: &mut impl ServerView) {
        match key {
            Key::Interrupt | Key::Char('q') => {
                action(server.rec(), "quit", None, None);
                server.request_stop();
            }
            // Not in the footer with --external; pressed anyway, one line says why.
            Key::Char(k @ ('s' | 'x' | '1'..='9')) if self.external => server.rec().note(format!(
                "--external: there is no built-in client for '{k}' to drive; the footer lists \
                 the server's keys"
            )),
            Key::Char('c') => self.connect(server),
            Key::Char(d @ '1'..='9') => self.use_conn(d as usize - '0' as usize, server),
            Key::Char('s') => self.send_ping(server),
            Key::Char('x') => self.close_current(server),
            Key::Char('k') => match server.knote_rows() {
                Some(rows) => server.rec().knote_table(rows),
                None => server.rec().note(
                    "epoll has no knotes: one interest-list item per socket, whose mask the \
                     epoll_ctl notes above show",
                ),
            },
            Key::Char('t') => self.start_tour(server),
            Key::Char('?') => {
                // The key reader toggled the key list (`term::help_shown`): draw it, and say
                // once what each key does (the footer has room for names only).
                self.update_footer(server.rec());
                if crate::term::help_shown() {
                    server.rec().note(KEYS_HELP);
                }
            }
            Key::Char('r') | Key::Char('a') => server.rec().note(
                "the server reads and re-arms by itself: its knotes are level-triggered, and \
                 read mode / write mode are its own EV_ENABLE and EV_DISABLE",
            ),
            // Enter has no action here (it goes on in the stages' `--step`).
            Key::Char('\n') => {}
            Key::Char(other) => server.rec().note(format!(
                "key '{other}' does nothing; the keys are in the footer"
            )),
        }
    }

    /// `c`: the built-in client opens a new connection; it becomes the current one.
    fn connect(&mut self, server: &mut impl ServerView) {
        if self.external {
            server
                .rec()
                .note("--external: there is no built-in client to connect");
            return;
        }
        let (n, local) = match self.client.connect() {
            Ok(opened) => opened,
            Err(err) => {
                server.rec().note(format!(
                    "the built-in client cannot connect to {}: {err}",
                    self.client.addr()
                ));
                return;
            }
        };
        let rec = server.rec();
        action(rec, "connect", Some(n), None);
        rec.note(format!(
            "client connection {n} opened from {local}: it waits in the accept queue until the \
             listener's READ event reaches accept()"
        ));
        self.update_footer(rec);
    }

    /// `1`–`9`: connection N becomes the current one.
    fn use_conn(&mut self, n: usize, server: &mut impl ServerView) {
        if !self.client.select(n) {
            server
                .rec()
                .note(format!("there is no connection {n}; `c` opens a new one"));
            return;
        }
        let rec = server.rec();
        action(rec, "use", Some(n), None);
        self.update_footer(rec);
    }

    /// `s`: the current connection sends a framed `ping`; its reader thread reports the echo.
    fn send_ping(&mut self, server: &mut impl ServerView) {
        let Some((n, local, sent)) = self.client.send_ping() else {
            server
                .rec()
                .note("no open client connection to send on; `c` opens one");
            return;
        };
        let label = server
            .label_of_peer(local)
            .unwrap_or_else(|| "not accepted yet".into());
        let rec = server.rec();
        match sent {
            Ok(bytes) => {
                action(rec, "send", Some(n), Some(bytes));
                rec.note(format!(
                    "client connection {n} ({label} on the server) sent \"ping\": {bytes} bytes, \
                     a 4-byte length and the message"
                ));
            }
            Err(err) => rec.note(format!("client connection {n}: the send failed: {err}")),
        }
    }

    /// `x`: the current connection closes; the server sees EV_EOF (B21) and closes its side.
    fn close_current(&mut self, server: &mut impl ServerView) {
        let Some(n) = self.client.close_current() else {
            server
                .rec()
                .note("no open client connection to close; `c` opens one");
            return;
        };
        action(server.rec(), "close", Some(n), None);
    }

    /// `t`: the default tour's clients, so a facilitator can still show the tour.
    fn start_tour(&mut self, server: &mut impl ServerView) {
        if self.external {
            server
                .rec()
                .note("--external: there are no built-in clients to play the tour");
            return;
        }
        if self.client.tour_running() {
            server.rec().note("the tour is still running");
            return;
        }
        action(server.rec(), "tour", None, None);
        if let Some(timeout) = self.tour_read_timeout.take() {
            // The lesson's tour runs with the tour's read timeout, so its idle client is closed
            // within the tour, not a minute later.
            server.set_read_timeout(timeout);
            server.rec().note(format!(
                "t: the read timeout is now the tour's {} ms (it was {} ms; --read-timeout-ms \
                 keeps yours), counted from now for every client, the ones `c` opened too",
                timeout.as_millis(),
                self.client.plan().read_timeout.as_millis()
            ));
        }
        // The server numbers connections as it accepts them: the tour's clients come after
        // every connection opened before them (by `c` or an earlier `t`), so the note names
        // them by the numbers they will get, not the tour's usual conn1, conn2, conn3.
        let first = self.client.opened() + self.tour_connections + 1;
        let clients = self.client.plan().clients;
        self.tour_connections += clients;
        server.rec().note(tour::describe_from(clients, first));
        self.client.start_tour();
    }

    /// The `wake` knote fired: say what the client threads reported.
    pub fn on_reports(&mut self, server: &mut impl ServerView) {
        while let Some(report) = self.client.next_report() {
            match report {
                Report::Echo { client, message } => {
                    let label = self
                        .client
                        .local_addr(client)
                        .and_then(|local| server.label_of_peer(local))
                        .map(|l| format!(" from {l}"))
                        .unwrap_or_default();
                    server.rec().note(format!(
                        "client connection {client} read the echo{label}: \"{}\"",
                        String::from_utf8_lossy(&message)
                    ));
                }
                Report::Closed { client } => server.rec().note(format!(
                    "client connection {client} reached end of file: the server closed it"
                )),
                Report::TourDone => server.rec().note("the tour's clients are done"),
            }
        }
    }

    /// The two footer lines, for this console's current connection.
    fn update_footer(&self, rec: &mut Recorder) {
        rec.set_footer(Some(footer(
            self.backend,
            self.client.current(),
            self.external,
        )));
    }

    /// Close the client connections and wait for their threads and the tour's. Call it once the
    /// server has closed its sockets, so every client thread sees end of file.
    pub fn finish(self) {
        self.client.finish();
    }
}

/// What `?` says: every key and what it does (the footer has room for names only).
const KEYS_HELP: &str = "keys: c connect (a new connection of the built-in client), 1-9 use \
     connection N, s send \"ping\" on it, x close it, k knote table, t play the tour's clients, \
     ? these keys, q quit with the summary";

/// An `action` record (contract: `action`, `conn`, and `bytes` where bytes moved).
fn action(rec: &mut Recorder, name: &str, conn: Option<usize>, bytes: Option<usize>) {
    if rec.on() {
        rec.emit(Record::Action {
            action: name.into(),
            conn,
            bytes,
            ms: None, // no key waits: `wait` is a script action only
        });
    }
}

/// The key footer: a rule with the stage and the current connection, then the keys; both cut to
/// the terminal's width so they never wrap.
pub fn footer(backend: &str, current: usize, external: bool) -> String {
    let width = crossterm::terminal::size()
        .map(|(w, _)| w as usize)
        .unwrap_or(80)
        .max(20);
    let current = if external {
        // No built-in client, so no current connection either: the keys act on the server.
        "--external".to_string()
    } else if current == 0 {
        "current: none yet".to_string()
    } else {
        format!("current: client connection {current}")
    };
    let line1 = format!("── lab server · {backend} · {current} ");
    let line1 = format!("{line1:─<width$}");
    // `? keys` is offered at every width, as in the stages (issue 11), even when every key
    // fits; once pressed, the screen lists every key and adds `? hide keys` itself.
    let help = if crate::term::help_shown() {
        ""
    } else {
        "? keys  "
    };
    // With --external only the keys that act on the server's side: the built-in client's
    // (`c`, `1-9`, `s`, `x`, `t`) have no client to drive.
    let line2 = if external {
        format!("k knotes  {help}q quit")
    } else {
        format!("c connect  1-9 use  s send ping  x close  k knotes  t tour  {help}q quit")
    };
    let cut = |s: &str| s.chars().take(width - 1).collect::<String>();
    // The keys line is fitted by the screen (term::screen::fit_footer): `q` and `?` stay.
    format!("{}\n{line2}", cut(&line1))
}
