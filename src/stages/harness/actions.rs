//! The actions (contract: "Actions (script and keys)"): what the built-in client does on its
//! side of a connection, what the server does on its side, and the keys bound to them.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc::TryRecvError;
use std::time::{Duration, Instant};

use super::{Lab, Step, Stop, ACCEPT_DEADLINE};
use crate::error::Error;
use crate::script::Action;
use crate::stages::Rearm;
use crate::term::Key;

/// The action bound to a key, if any (`k` shows the knote table and is handled apart).
fn action_for_key(key: Key) -> Option<Action> {
    Some(match key {
        Key::Interrupt | Key::Char('q') => Action::Quit,
        Key::Char('c') => Action::Connect,
        Key::Char('s') => Action::Send(b"ping".to_vec()),
        Key::Char('r') => Action::Read(None),
        Key::Char('a') => Action::Rearm,
        Key::Char('x') => Action::Close,
        Key::Char(d @ '1'..='9') => Action::Use(d as usize - '0' as usize),
        Key::Char(_) => return None,
    })
}

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
            let action = match key {
                Key::Char('k') => {
                    self.emit_knotes()?;
                    None
                }
                Key::Char('?') => {
                    // The key reader toggled the key list (`term::help_shown`): draw it.
                    self.update_footer()?;
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
                let stream = TcpStream::connect(self.addr).map_err(|e| {
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
            Action::Fill(count) => {
                let Some(stream) = self.client() else {
                    return self.note("no open client connection to fill".to_string());
                };
                let bytes = vec![b'x'; *count];
                let sent = write_some(stream, &bytes);
                self.action(action, conn, Some(sent))?;
                if sent < *count {
                    self.note(format!(
                        "only {sent} of {count} bytes fit: the socket buffers are full because \
                         the server does not read"
                    ))?;
                }
            }
            Action::Read(limit) => {
                let Some(i) = self.accepted() else {
                    return self.note("no accepted connection to read from yet".to_string());
                };
                let fd = self.conns[i].fd;
                let Some(stream) = self.conns[i].stream.as_mut() else {
                    return self.note(format!("conn{} is closed", self.current));
                };
                let (data, drained) = read_some(stream, *limit);
                self.tracer.forget_flood(fd);
                self.action(action, conn, Some(data.len()))?;
                let shown = String::from_utf8_lossy(&data[..data.len().min(40)]).to_string();
                self.note(format!(
                    "the server read {} byte{} from conn{}: {shown:?}{}",
                    data.len(),
                    if data.len() == 1 { "" } else { "s" },
                    self.current,
                    if drained {
                        "; nothing is left unread"
                    } else {
                        "; bytes may still be waiting"
                    }
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
                        self.note(why.to_string())?;
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
