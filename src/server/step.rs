//! `lab server --step`: the tour one pass of the event loop at a time, for a facilitator who
//! narrates the tutorial's `Server.run` at the projector.
//!
//! Before each pass the loop stops at a prompt line (the footer's place) that names the kevent
//! call to come and the changes queued for it, and waits for Space. Space: the server enforces
//! the read timeouts, makes that one kevent call (the changes in, the events out) and handles
//! the events it got; then the next prompt. The prompt's keys are the stages' (`term::step`).
//!
//! While the prompt waits the server makes no call at all, so the trace stands still; the
//! tour's clients go on on their own threads, and their bytes wait in the sockets until the
//! next call collects them. Timeouts are real time: a client whose read deadline passed during
//! the pause is closed at the next pass, unless bytes wait in its socket (it spoke; the server
//! was the one not listening).
//!
//! The end: when its last client is done the tour sets its flag, then NOTE_TRIGGERs the `wake`
//! knote, as in every tour (lesson 5). The call that collects that wake-up is the last one
//! (it also collects the clients' last closes); the run then ends by itself with its summary.
//! If the tour ends while a prompt waits, the prompt says so, and its Space makes that call.
//!
//! Where the keys go: the key reader thread sends each key on a channel. At the prompt the
//! server thread waits on that channel itself. During a call, a key must be able to wake
//! `kevent` (`q` while it blocks until a deadline): the key reader then also NOTE_TRIGGERs the
//! `wake` knote (B24). Only then: a trigger left pending by a Space at the prompt would end the
//! next call at once, with an event that is not the tour's.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use super::recorder::Recorder;
use crate::term::step::{self, Gate, Press};
use crate::term::Key;
use crate::trace::Record;

/// How often the prompt looks for what cannot arrive as a key: the tour's end (the prompt then
/// says so) and SIGTERM/SIGHUP. The loop itself is not polled: it is not running.
const LOOK_EVERY: Duration = Duration::from_millis(100);

/// The note that opens a `--step` run.
pub const INTRO: &str = "--step: one pass of the event loop per Space: the server makes its \
     next kevent call (the changes in, the events out) and handles what it got, then waits \
     again; the tour's clients keep running meanwhile, so their bytes wait in the sockets; q or \
     Ctrl-C ends the run";

/// The footer before the first prompt (raw mode needs one from the first line on).
pub fn header(wait_call: &str) -> String {
    format!("── lab server --step: one {wait_call} call per Space · q: quit")
}

/// Where a `--step` run is, owned by the server loop.
pub struct Stepper {
    keys: Receiver<Key>,
    gate: Gate,
    /// The server's stop flag: set by `q`, Ctrl-C and signals.
    stop: Arc<AtomicBool>,
    /// Set by the tour when its last client is done, before it triggers the `wake` knote. The
    /// server may not have seen every client's close yet: the call that collects that wake-up
    /// collects them too, and then the run ends.
    tour_done: Arc<AtomicBool>,
    /// A call collected the tour's wake-up: the run ends.
    tour_end_seen: bool,
    /// The server is inside a call: the key reader wakes it (see the module's notes).
    in_call: Arc<AtomicBool>,
    /// The call the loop blocks in: `kevent`, `epoll_wait`.
    wait_call: &'static str,
    /// Said once each: a deadline passed during a pause; bytes waited behind one.
    real_time_noted: bool,
    unheard_noted: bool,
    /// `q` or Ctrl-C ended the run.
    pub quit: bool,
    /// Set when the key reader went away: the run ends with this error.
    pub failure: Option<String>,
}

impl Stepper {
    /// `in_call` is shared with the key reader's wake-up.
    pub fn new(
        keys: Receiver<Key>,
        stop: Arc<AtomicBool>,
        tour_done: Arc<AtomicBool>,
        in_call: Arc<AtomicBool>,
        wait_call: &'static str,
    ) -> Stepper {
        Stepper {
            keys,
            gate: Gate::default(),
            stop,
            tour_done,
            tour_end_seen: false,
            in_call,
            wait_call,
            real_time_noted: false,
            unheard_noted: false,
            quit: false,
            failure: None,
        }
    }

    /// Before a pass: show the prompt for call `next_call` (`staged` changes queued for it;
    /// `None` when the API has no changelist) and wait for Space. False: the run ends (`q`,
    /// Ctrl-C, a signal, the keys are gone, or a call collected the tour's wake-up).
    pub fn wait_for_space(
        &mut self,
        rec: &mut Recorder,
        next_call: u64,
        staged: Option<usize>,
    ) -> bool {
        self.in_call.store(false, Ordering::SeqCst);
        // Keys pressed while the last call ran do not count for this prompt (one press, one
        // step); `q` still quits.
        self.take_keys(rec);
        if self.stop.load(Ordering::SeqCst) || rec.broken || self.tour_end_seen {
            return false;
        }
        let call = format!("{} call {next_call}", self.wait_call);
        // Whether the prompt on screen says the tour is done (`None`: no prompt yet).
        let mut shown: Option<bool> = None;
        self.gate.open();
        while !self.gate.passed() {
            // The prompt, and again when the tour ends while it waits.
            let tour_done = self.tour_done.load(Ordering::SeqCst);
            if shown != Some(tour_done) {
                rec.set_footer(Some(self.prompt(&call, staged, tour_done)));
                shown = Some(tour_done);
            }
            match self.keys.recv_timeout(LOOK_EVERY) {
                Ok(key) => {
                    if self.gate.press(key) == Press::Quit {
                        self.quit_now(rec);
                        return false;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    if crate::term::interrupted() {
                        rec.note("SIGINT/SIGTERM/SIGHUP: stopping");
                        self.stop.store(true, Ordering::SeqCst);
                    }
                    if self.stop.load(Ordering::SeqCst) {
                        return false;
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.keys_gone();
                    return false;
                }
            }
        }
        self.gate.close();
        rec.set_footer(Some(step::running_line(&call)));
        self.in_call.store(true, Ordering::SeqCst);
        true
    }

    /// The prompt line: the call to come and the changes queued for it; once the tour is done,
    /// that this call is the last.
    fn prompt(&self, call: &str, staged: Option<usize>, tour_done: bool) -> String {
        if tour_done {
            return step::waiting_line(&format!("{call} · the tour is done"), "last call, summary");
        }
        let what = match staged {
            Some(1) => format!("{call} · 1 change queued"),
            Some(n) => format!("{call} · {n} changes queued"),
            None => call.to_string(),
        };
        step::waiting_line(&what, &format!("next {} call", self.wait_call))
    }

    /// The `wake` knote fired: the tour's end, once it is done (the run then ends), and the
    /// keys that came during the call.
    pub fn on_wake(&mut self, rec: &mut Recorder) {
        if self.tour_done.load(Ordering::SeqCst) {
            self.tour_end_seen = true;
        }
        self.take_keys(rec);
    }

    /// Take the keys that came while no prompt was up (`q` and Ctrl-C quit; Space does not
    /// count before the next prompt).
    fn take_keys(&mut self, rec: &mut Recorder) {
        loop {
            match self.keys.try_recv() {
                Ok(key) => {
                    if !self.quit && self.gate.press(key) == Press::Quit {
                        self.quit_now(rec);
                    }
                }
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => return self.keys_gone(),
            }
        }
    }

    /// A client's read deadline passed while the prompt waited. `bytes_waiting`: its socket
    /// has bytes (or its end of file) the server has not read yet. Returns whether to close it:
    /// not when it spoke and only the server, paused, did not listen.
    pub fn deadline_passed(
        &mut self,
        rec: &mut Recorder,
        label: &str,
        bytes_waiting: bool,
    ) -> bool {
        if bytes_waiting {
            if !std::mem::replace(&mut self.unheard_noted, true) {
                rec.note(format!(
                    "{label}'s read deadline passed while the server waited for Space, but bytes \
                     wait in its socket: it was not silent, the server was not listening. A new \
                     deadline; the next call collects them (a peek at the socket, --step only: \
                     without pauses the loop looks with a zero-timeout call)"
                ));
            }
            return false;
        }
        if !std::mem::replace(&mut self.real_time_noted, true) {
            rec.note(format!(
                "{label}'s read deadline passed while the server waited for Space: the read \
                 timeout is real time, so a silent client is closed at the first pass after its \
                 deadline"
            ));
        }
        true
    }

    fn quit_now(&mut self, rec: &mut Recorder) {
        self.quit = true;
        if rec.on() {
            rec.emit(Record::Action {
                action: "quit".into(),
                conn: None,
                bytes: None,
                ms: None,
            });
        }
        self.stop.store(true, Ordering::SeqCst);
    }

    fn keys_gone(&mut self) {
        // No key, not even `q`, can arrive any more: end the run rather than wait for ever.
        if self.failure.is_none() {
            self.failure = Some(
                "the key reader stopped (cannot read the terminal); run with --tour instead".into(),
            );
        }
        self.stop.store(true, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stepper(wait_call: &'static str) -> Stepper {
        let (_keys, rx) = std::sync::mpsc::channel();
        let flag = || Arc::new(AtomicBool::new(false));
        Stepper::new(rx, flag(), flag(), flag(), wait_call)
    }

    /// The prompt names the call and its queued changes, and keeps `q: quit` within 80
    /// columns, the workshop's smallest terminal, even late in a long run.
    #[test]
    fn the_prompt_names_the_call_and_fits_80_columns() {
        let kevent = stepper("kevent");
        assert_eq!(
            kevent.prompt("kevent call 7", Some(3), false),
            "▶ kevent call 7 · 3 changes queued · Space: next kevent call, q: quit"
        );
        assert_eq!(
            kevent.prompt("kevent call 2", Some(1), false),
            "▶ kevent call 2 · 1 change queued · Space: next kevent call, q: quit"
        );
        let epoll = stepper("epoll_wait");
        assert_eq!(
            epoll.prompt("epoll_wait call 4", None, false),
            "▶ epoll_wait call 4 · Space: next epoll_wait call, q: quit"
        );
        for line in [
            kevent.prompt("kevent call 12345", Some(65536), false),
            kevent.prompt("kevent call 12345", Some(0), true),
            epoll.prompt("epoll_wait call 12345", None, false),
        ] {
            assert!(line.chars().count() <= 80, "{line}");
            assert!(line.ends_with("q: quit"), "{line}");
        }
    }
}
