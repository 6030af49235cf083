//! What the server says in the trace, apart from the loop (`server.rs`), so that the loop
//! reads like the tutorial's `Server`: each `say_*` is one note, written only when the trace
//! is on (with the trace off, under `spawn` and `lab bench`, nothing is formatted).

use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use super::super::poller::Poller;
use super::super::reader::TooLarge;
use super::super::token::Token;
use super::{Server, ACCEPT_RETRY};

impl<P: Poller> Server<P> {
    /// An event whose token names no live client (errata 9).
    pub(super) fn say_stale(&mut self, token: Token, filter: &str) {
        if !self.rec.on() {
            return;
        }
        let what = if self.config.as_published {
            "as published, @ptrFromInt(udata) here would be a freed Client (errata 9)"
        } else {
            "its client has closed: the token's generation no longer matches, ignored"
        };
        let field = self.words.token_field;
        self.rec.note(format!(
            "{filter} event with a stale {field} ({token}): {what}"
        ));
    }

    /// An EV_ERROR entry: which change failed, and what the published code would have done.
    pub(super) fn say_change_failed(
        &mut self,
        ident: usize,
        filter: i16,
        udata: usize,
        errno: i64,
    ) {
        if !self.rec.on() {
            return;
        }
        let errno_name = crate::kq::errno_name(errno as i32);
        let filter_name = crate::kq::filter_name(filter);
        let what = if udata == crate::server::kqueue::LISTENER_UDATA
            && ident != self.listener.as_raw_fd() as usize
        {
            if self.config.as_published {
                "as published, the loop never tests EV_ERROR: udata 0 sends this receipt to \
                 accept() on the listener (errata 9)"
                    .to_string()
            } else {
                "a receipt with udata 0 that is not the listener's: not readiness, ignored".into()
            }
        } else if self.clients.is_stale(Token::from_udata(udata)) {
            if self.config.as_published {
                "as published, the loop never tests EV_ERROR: it would call readMessage on the \
                 freed Client behind this udata (errata 9)"
                    .to_string()
            } else {
                "a change staged for a client that has since closed; recognised by the EV_ERROR \
                 bit and its stale token, never dispatched (errata 9)"
                    .to_string()
            }
        } else {
            "the change did not take effect".to_string()
        };
        self.rec.note(format!(
            "EV_ERROR entry: {filter_name} change for fd {ident} failed with {errno_name}: {what}"
        ));
    }

    /// A client whose read deadline passed.
    pub(super) fn say_timed_out(&mut self, token: Token) {
        if !self.rec.on() {
            return;
        }
        if let Some(client) = self.clients.get(token) {
            let text = format!(
                "{} sent no complete message for {} ms: closed",
                client.label(),
                self.config.read_timeout.as_millis()
            );
            self.rec.note(text);
        }
    }

    /// A client whose deadline passed while the server still owed it echoes: kept, new deadline.
    pub(super) fn say_not_idle(&mut self, token: Token, owed: usize) {
        if !self.rec.on() {
            return;
        }
        if let Some(client) = self.clients.get(token) {
            let text = format!(
                "{}'s deadline passed, but the server still owes it {owed} bytes of echo: a \
                 client waiting for the server is not silent, so it gets a new deadline",
                client.label()
            );
            self.rec.note(text);
        }
    }

    /// A wait that ended far later than its timeout: the process did not run meanwhile.
    pub(super) fn say_stalled_wait(&mut self, took: Duration, timeout: Duration) {
        if !self.rec.on() {
            return;
        }
        let wait_call = self.words.wait_call;
        self.rec.note(format!(
            "this {wait_call} took {} ms, far longer than its {} ms timeout: the process was \
             stopped (Ctrl-Z?) or starved, so what arrived meanwhile is read before any \
             deadline is enforced",
            took.as_millis(),
            timeout.as_millis()
        ));
    }

    /// The first deadline fell due long ago: collect what is ready before closing anyone.
    pub(super) fn say_overdue(&mut self, overdue: Duration) {
        if !self.rec.on() {
            return;
        }
        self.rec.call_note(format!(
            "a read deadline passed {} ms ago while the loop was not running: first collect \
             what is ready (timeout 0), then close only the clients still silent",
            overdue.as_millis()
        ));
    }

    /// A connection closed at once: the memory budget holds no more clients.
    pub(super) fn say_shed(&mut self, peer: SocketAddr) {
        if !self.rec.on() {
            return;
        }
        self.rec.note(format!(
            "connection from {peer} shed: {} clients of {} bytes of buffers fill the {}-byte \
             memory budget (--memory-budget-mib)",
            self.connected,
            self.config.bytes_per_client(),
            self.config.memory_budget
        ));
    }

    /// Say where the wait's timeout comes from, when the head of the list changes.
    pub(super) fn explain_timeout(&mut self, head: Token, wait: Duration) {
        if self.explained_head == Some(head) || !self.rec.on() {
            self.explained_head = Some(head);
            return;
        }
        self.explained_head = Some(head);
        if let Some(client) = self.clients.get(head) {
            let text = format!(
                "{} heads the read-timeout list: its deadline, {} ms away, becomes the {} \
                 timeout",
                client.label(),
                wait.as_millis(),
                self.words.wait_call
            );
            self.rec.call_note(text);
        }
    }

    pub(super) fn say_accept_failed_emfile(&mut self, err: &std::io::Error) {
        self.rec.note(format!(
            "accept failed: {err}. Listener disabled until a client leaves or {} ms \
             pass (P4: no 100% CPU accept loop)",
            ACCEPT_RETRY.as_millis()
        ));
    }

    pub(super) fn say_accepted(&mut self, label: &str, fd: i32, address: SocketAddr, token: Token) {
        if !self.rec.on() {
            return;
        }
        self.rec.note(format!(
            "{label} = fd {fd} from {address}: {} ({token}); connected {}/{}",
            self.words.new_client, self.connected, self.config.max_clients
        ));
    }

    pub(super) fn say_listener_disabled(&mut self) {
        if !self.rec.on() {
            return;
        }
        self.rec.note(format!(
            "connected {}/{}: listener disabled ({}); new connections wait in the accept \
             queue",
            self.connected, self.config.max_clients, self.words.listener_off
        ));
    }

    /// As published (errata 4 and 5 kept).
    pub(super) fn say_listener_stays_disabled(&mut self) {
        if !self.rec.on() {
            return;
        }
        self.rec.note(format!(
            "as published, closeClient neither decrements connected (still {}) nor \
             re-enables the listener: it stays disabled for good, and every client that \
             connects from now on is locked out (errata 4, 5)",
            self.connected
        ));
    }

    pub(super) fn say_listener_back(&mut self, label: &str) {
        if !self.rec.on() {
            return;
        }
        self.rec.note(format!(
            "{label} left: connected {}/{}, listener re-enabled with {} (errata 4 and 5 \
             fixed)",
            self.connected, self.config.max_clients, self.words.listener_on
        ));
    }

    /// A frame too large for the buffer. When its "length" is text, someone typed a line
    /// (`nc 127.0.0.1 PORT`, then `hello`): say so, and what to use instead.
    pub(super) fn say_too_large(&mut self, token: Token, too_large: &TooLarge) {
        if !self.rec.on() {
            return;
        }
        let Some(client) = self.clients.get(token) else {
            return;
        };
        let label = client.label();
        let text = if too_large.looks_like_text() {
            // `lab client` connects to 127.0.0.1 unless told otherwise.
            let to = match self.listener.local_addr() {
                Ok(addr) if addr.ip() == std::net::Ipv4Addr::LOCALHOST => {
                    format!("--port {}", addr.port())
                }
                Ok(addr) => format!("--host {} --port {}", addr.ip(), addr.port()),
                Err(_) => "--port PORT".to_string(),
            };
            let first = too_large.prefix_text();
            format!(
                "{label}: \"{first}…\" looks like a line of text (from nc?), not a frame: this \
                 server speaks length-prefixed frames (a 4-byte little-endian length, then the \
                 message, as in the tutorial), so \"{first}\" was read as the length, {too_large}; \
                 send messages with `lab client {to} hello` instead: closed"
            )
        } else {
            format!("{label}: {too_large}: closed")
        };
        self.rec.note(text);
    }

    pub(super) fn say_read_mode(&mut self, label: &str) {
        if !self.rec.on() {
            return;
        }
        let how = self.words.read_mode;
        self.rec
            .note(format!("{label}: echo finished, back to read mode ({how})"));
    }

    /// The echo could not be written completely, and what happens to the messages behind it
    /// (errata 11).
    pub(super) fn say_write_mode(&mut self, label: &str, pending: usize, more_buffered: bool) {
        let as_published = self.config.as_published;
        if self.rec.on() {
            let how = self.words.write_mode;
            self.rec.note(format!(
                "{label}: write hit WouldBlock with {pending} bytes left: write mode ({how}); \
                 nothing more is read from it until the echo is out"
            ));
            if more_buffered {
                let text = if as_published {
                    format!(
                        "as published, the read loop would go on to {label}'s next buffered \
                         message and writeMessage would return error.PendingMessage, closing it \
                         (errata 11); this build keeps the message until the write completes"
                    )
                } else {
                    format!(
                        "{label} has more complete messages buffered: they wait for the write to \
                         complete, then are served without waiting for new bytes (errata 11)"
                    )
                };
                self.rec.note(text);
            }
        }
    }

    pub(super) fn say_stopping(&mut self, clients: usize) {
        if self.config.as_published && !self.listener_enabled && self.rec.on() {
            // Lesson 6 asks about the client that came after the limit: say what became of it.
            self.rec.note(format!(
                "as published, the listener was never re-enabled: any client that connected \
                 after the first {} sat in the accept queue and was never accepted, locked out \
                 (errata 4, 5)",
                self.config.max_clients
            ));
        }
        if clients > 0 && self.rec.on() {
            self.rec.note(format!(
                "server stopping: closing the {clients} connected client(s)"
            ));
        }
    }
}
