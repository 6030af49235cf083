//! The flag stages' event loop: Part 7's first kqueue program, in Rust. Hold it beside the
//! tutorial's `main`; setup, the footer, the built-in client and the test hooks are in
//! `harness.rs`.
//!
//! | the tutorial (Zig)                                          | here                                          |
//! |-------------------------------------------------------------|-----------------------------------------------|
//! | `posix.kevent(kfd, &.{ listener READ ADD }, &.{}, null)`      | [`Lab::register`]: `self.kevent(&changes, &mut [], None)` (plus the signal pipe and the keys knote) |
//! | `var ready_list: [128]posix.Kevent`                         | `let mut events = [Kevent::default(); NEVENTS]` |
//! | `posix.kevent(kfd, &.{}, &ready_list, null)`                | [`Lab::poll`]: `self.kevent(&[], &mut events, timeout)` |
//! | `for (ready_list[0..ready_count]) \|ready\|`                  | `for event in &events[..n]`                   |
//! | `if (ready.udata == listener)`                              | `udata if udata == self.listener_fd`          |
//! | `posix.accept(listener, ..., SOCK.NONBLOCK)`                | [`Lab::accept_all`]: `listener.accept()`, `set_nonblocking(true)` |
//! | `kevent(kfd, &.{ client READ .flags = EV.ADD }, &.{}, null)` | `Kevent::new(fd, EVFILT_READ, self.stage.flags).with_udata(fd)` |
//! | `read(...) == 0` then `posix.close(ready_socket)`           | `event.is_eof()`: [`Lab::close_server_side`], EV_DELETE then close (B22) |
//!
//! One difference: the stage's server never reads unless told (the `read` action), so that the
//! flood, ONESHOT, DISPATCH and CLEAR can each be watched.

use std::io;
use std::time::Duration;

use super::harness::{Conn, Lab, Step, KEYS, NEVENTS};
use crate::kq::{self, Kevent};

impl Lab {
    /// Watch the listener (the tutorial's first kevent call), the signal pipe and, with keys,
    /// the key knote: several changes, one system call.
    pub(super) fn register(&mut self, keys: bool) -> Step {
        let (listener, signal) = (self.listener_fd, self.signal_fd);
        let mut changes = vec![
            Kevent::new(listener, kq::EVFILT_READ, kq::EV_ADD).with_udata(listener),
            Kevent::new(signal, kq::EVFILT_READ, kq::EV_ADD).with_udata(signal),
        ];
        if keys {
            // EV_CLEAR: each trigger is delivered once (B24), the waker idiom of mio.
            let flags = kq::EV_ADD | kq::EV_CLEAR;
            changes.push(Kevent::new(KEYS, kq::EVFILT_USER, flags).with_udata(KEYS));
        }
        self.kevent(&changes, &mut [], None)?;
        Ok(())
    }

    /// One turn of the loop: wait, then dispatch on udata as the tutorial does.
    pub(super) fn poll(&mut self, timeout: Option<Duration>) -> Step {
        let mut events = [Kevent::default(); NEVENTS];
        let n = self.kevent(&[], &mut events, timeout)?;
        self.dispatch(&events[..n])
    }

    /// Handle what a kevent call returned (a knote change by script or key collects too, B9).
    pub(super) fn dispatch(&mut self, events: &[Kevent]) -> Step {
        for event in events {
            match event.udata {
                _ if event.is_error() => {}
                KEYS if event.filter == kq::EVFILT_USER => self.take_keys()?,
                udata if udata == self.listener_fd => self.accept_all()?,
                udata if udata == self.signal_fd => self.interrupted()?,
                fd if event.is_eof() => self.close_server_side(fd)?,
                // Any other READ event: the stage's server never reads unless told (`read`).
                _ => {}
            }
        }
        Ok(())
    }

    /// Accept every waiting connection (the listener's READ knote is level-triggered, B12/B18:
    /// looping until WouldBlock and accepting one per event both work, Part 5a), and add each
    /// one's knote with the stage's filter and flags, udata = its fd (as the tutorial does).
    fn accept_all(&mut self) -> Step {
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.note(format!("accept failed: {e}")),
            };
            let (n, fd) = self.adopt(stream)?;
            let (filter, flags) = (self.stage.filter, self.stage.flags);
            let how = kq::describe_flags(flags);
            self.note(format!(
                "accepted conn{n} (fd {fd}) from {peer}; adding its {} knote with {how}",
                kq::filter_name(filter)
            ))?;
            let change = Kevent::new(fd, filter, flags).with_udata(fd);
            self.kevent(&[change], &mut [], None)?;
            self.follow_first_external(n)?;
        }
    }

    /// The peer closed: delete the knotes (unless a delivery or a `delete` already did), then
    /// close (B22). A script or a key may have added a WRITE knote beside the READ one.
    fn close_server_side(&mut self, fd: usize) -> Step {
        let open = |c: &Conn| c.fd == fd && c.stream.is_some();
        let Some(i) = self.conns.iter().rposition(open) else {
            return Ok(());
        };
        let deletes: Vec<Kevent> = [kq::EVFILT_READ, kq::EVFILT_WRITE]
            .into_iter()
            .filter(|&filter| self.kq.is_live(fd, filter))
            .map(|filter| Kevent::new(fd, filter, kq::EV_DELETE))
            .collect();
        if !deletes.is_empty() {
            self.kevent(&deletes, &mut [], None)?;
        }
        if let Some(stream) = self.conns[i].stream.take() {
            kq::close(stream); // what FreeBSD's close() does, in the emulation too (B22)
        }
        let n = self.conns[i].n;
        self.note(format!("the server closed conn{n} (fd {fd})"))
    }
}
