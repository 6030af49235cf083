//! What the flag stages share around their event loop (`event_loop.rs`): the setup, the
//! built-in client, the footer, the test hook, and the actions (by script, by key, or the
//! default tour).
//!
//! The loop is the simplest one that is faithful: one thread, one kqueue. A script runs in
//! order; each action happens at once (the client writes on its own socket, the server reads on
//! its side, `rearm` applies the stage's change), and `wait MS` runs the event loop for MS
//! milliseconds. Every kevent call goes through the traced kqueue (`trace::traced`): changes
//! in, events out, the knote table when it changes.
//!
//! In interactive mode a key reader thread sends each key on a channel and then NOTE_TRIGGERs
//! an EVFILT_USER knote (label `keys`, B24): the loop blocks in `kevent` with no timeout and
//! wakes for a key exactly as it wakes for a socket, and the wake-up is in the trace.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::time::Duration;

use super::narrate::StageTrace;
use super::Stage;
use super::StageConfig;
use crate::error::Error;
use crate::kq::{self, Kevent, Kqueue, Timespec};
use crate::script::{self, Action};
use crate::term::{self, Key, KeyReader, TerminalGuard};
use crate::trace::{self, CallError, KnotePolicy, Record, Role, TracedKqueue, Tracer};

mod actions;
mod steps;

/// Eventlist capacity: room for the listener, the signal pipe, the keys and a few connections,
/// so one call can return a socket's event *and* a key press together. A run with more ready
/// knotes than this gets the rest from the next call (B17).
pub(super) const NEVENTS: usize = 8;

/// The EVFILT_USER ident of the key reader's knote (USER idents are plain numbers in their
/// own namespace, B1).
pub(super) const KEYS: usize = 1;

/// The keys, for the footer (cut to the terminal's width; `?` lists them all, see
/// `actions::KEYS_HELP`; `--external` leaves out the client's, `Lab::keys_line`).
const KEYS_LINE: &str = "c connect  1-9 use  s send  r read  a rearm  x close  k knotes  ? keys  \
     q quit  p read 2  + add  - delete  e enable  d disable  R receipt";

/// How long `connect` waits for the server to accept the new connection.
const ACCEPT_DEADLINE: Duration = Duration::from_secs(2);

/// How a run is driven.
enum Drive {
    /// A script (`--script`, or the default tour).
    Script(Vec<Action>),
    /// Keys, in a terminal.
    Keys,
    /// `--external` without a terminal or a script: serve until SIGINT/SIGTERM.
    Serve,
    /// `--step`: the default tour, one step at a time, each started by Space.
    Step(Vec<steps::TourStep>),
}

/// TEST HOOK, not part of the contract: `LAB_TEST_FAULT=panic` or `LAB_TEST_FAULT=error`,
/// read once when a stage starts, makes the interactive loop panic, or fail with a runtime
/// error, right after it has handled the first key, that is with the terminal in raw mode and
/// the key reader running. tests/stages/terminal.rs uses it to prove that these two exit paths
/// restore the terminal as `q` and Ctrl-C do (STYLE.md habit 5). Unset, or any other value, it
/// does nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TestFault {
    None,
    Panic,
    Error,
}

impl TestFault {
    fn from_env() -> TestFault {
        match std::env::var("LAB_TEST_FAULT").as_deref() {
            Ok("panic") => TestFault::Panic,
            Ok("error") => TestFault::Error,
            _ => TestFault::None,
        }
    }
}

/// The server side of one accepted connection, `connN`.
pub(super) struct Conn {
    pub n: usize,
    pub fd: usize,
    /// `None` once the server closed it.
    pub stream: Option<TcpStream>,
}

/// A stage in progress.
pub(super) struct Lab {
    pub(super) stage: &'static Stage,
    /// The kqueue, traced: every kevent call is timed, labelled, learnt and recorded there.
    pub(super) kq: TracedKqueue,
    pub(super) listener: TcpListener,
    pub(super) listener_fd: usize,
    pub(super) addr: SocketAddr,
    pub(super) signal_fd: usize,
    /// Server side: conn N is `conns[N - 1]`.
    pub(super) conns: Vec<Conn>,
    /// The built-in client's side: its connection N is `clients[N - 1]`; `None` once closed.
    pub(super) clients: Vec<Option<TcpStream>>,
    /// The current connection (1-based; 0 before any).
    pub(super) current: usize,
    pub(super) external: bool,
    /// The stage's trace, and its words for each delivery.
    pub(super) tracer: StageTrace,
    pub(super) keys: Option<Receiver<Key>>,
    pub(super) interactive: bool,
    /// `--step`: where the tour is, and whether Space was pressed.
    pub(super) stepping: Option<steps::Stepping>,
    /// Keys handled so far (interactive mode).
    pub(super) keys_handled: u64,
    test_fault: TestFault,
    pub(super) quit: bool,
}

/// Why a run stopped early without being a failure.
pub(super) enum Stop {
    /// stdout is gone (`lab flood | head`): end quietly, exit 0.
    BrokenPipe,
    Fail(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Stop {
        Stop::Fail(e)
    }
}

impl From<io::Error> for Stop {
    /// Trace output failed. A closed pipe is a normal way for a reader to stop listening; so
    /// is a terminal that went away (EIO once it hung up, which ends the run as SIGHUP).
    fn from(e: io::Error) -> Stop {
        if reader_gone(&e) {
            Stop::BrokenPipe
        } else {
            Stop::Fail(Error::runtime(format!("cannot write the trace: {e}")))
        }
    }
}

pub(super) type Step<T = ()> = std::result::Result<T, Stop>;

/// Whether a failed write of the trace only means that nobody reads it any more: a closed pipe,
/// or the terminal after a hang-up (the key reader or SIGHUP set `term::interrupted`).
fn reader_gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::BrokenPipe
        || (term::interrupted() && e.raw_os_error() == Some(libc::EIO))
}

/// Run a stage to the end: its summary, and whether its script or tour reached its end.
pub fn run(stage: &'static Stage, common: &StageConfig) -> crate::Result<super::StageRun> {
    // Whether keys drive the run was decided once, by the command line (contract: interactive
    // mode); `--tour` and `--step` make it false.
    let interactive = common.interactive;
    // A bad script is an error before anything runs (contract).
    let drive = match &common.script {
        Some(s) => Drive::Script(script::parse(s, common.external)?),
        None if interactive => Drive::Keys,
        None if common.step => Drive::Step(steps::plan(stage.tour)?),
        None if common.external => Drive::Serve,
        None => Drive::Script(script::parse(stage.tour, false)?),
    };

    let listener = bind(common)?;
    let kq = Kqueue::new().map_err(|e| Error::runtime(format!("kqueue() failed: {e}")))?;
    let mut kq = TracedKqueue::new(kq, KnotePolicy::EveryChange, common.trace.os_calls);
    let signal_fd = term::catch_interrupts()
        .map_err(|e| Error::runtime(format!("cannot catch SIGINT/SIGTERM: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::runtime(format!("cannot read the listening address: {e}")))?;
    kq.name(
        listener.as_raw_fd() as usize,
        kq::EVFILT_READ,
        Role::Listener,
    );
    kq.name(signal_fd as usize, kq::EVFILT_READ, Role::Signal);
    kq.name(KEYS, kq::EVFILT_USER, Role::Keys);
    let mut lab = Lab {
        stage,
        kq,
        listener_fd: listener.as_raw_fd() as usize,
        listener,
        addr,
        signal_fd: signal_fd as usize,
        conns: Vec::new(),
        clients: Vec::new(),
        current: 0,
        external: common.external,
        tracer: StageTrace::new(Tracer::new(crate::term::sink_for(common.trace)), stage),
        keys: None,
        interactive,
        stepping: None,
        keys_handled: 0,
        test_fault: TestFault::from_env(),
        quit: false,
    };

    // Raw mode only for keys (`--step` waits for them too); the guard restores the terminal on
    // every way out of this function, and the key reader is stopped before it.
    let guard = match drive {
        Drive::Keys | Drive::Step(_) => Some(
            TerminalGuard::enter()
                .map_err(|e| Error::runtime(format!("cannot put the terminal in raw mode: {e}")))?,
        ),
        _ => None,
    };
    let mut key_reader = None;
    let outcome = lab.drive(drive, &mut key_reader);
    drop(key_reader);
    let _ = lab.tracer.tracer.set_footer(None);
    drop(guard);
    // Stopped by `q`, Ctrl-C or a signal before the last action: not the whole tour.
    let reached_end = !lab.quit;
    let ended = |summary| super::StageRun {
        summary,
        reached_end,
    };
    match outcome {
        Ok(()) => {}
        Err(Stop::BrokenPipe) => return Ok(ended(lab.tracer.tracer.summary().clone())),
        Err(Stop::Fail(e)) => {
            let _ = lab.tracer.tracer.flush();
            return Err(e);
        }
    }
    if let Err(Stop::Fail(e)) = lab.syscall_note() {
        return Err(e);
    }
    let summary = lab.tracer.tracer.summary().clone();
    match lab.tracer.tracer.finish(None) {
        Ok(summary) => Ok(ended(summary)),
        Err(e) if reader_gone(&e) => Ok(ended(summary)),
        Err(e) => Err(Error::runtime(format!("cannot write the trace: {e}"))),
    }
}

/// The tutorial's listener: non-blocking, SO_REUSEADDR (Rust's `TcpListener::bind` sets it on
/// Unix, Part 1's "address in use" lesson), bound to --host:--port.
fn bind(common: &StageConfig) -> crate::Result<TcpListener> {
    let where_ = format!("{}:{}", common.host, common.port);
    let listener = TcpListener::bind((common.host.as_str(), common.port)).map_err(|e| {
        if e.kind() == io::ErrorKind::AddrInUse {
            Error::runtime(format!(
                "cannot listen on {where_}: the port is in use (another lab running?); try --port 0"
            ))
        } else {
            Error::runtime(format!(
                "cannot listen on {where_}: {e}; try --host 127.0.0.1 --port 0"
            ))
        }
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::runtime(format!("cannot make the listener non-blocking: {e}")))?;
    Ok(listener)
}

impl Lab {
    fn drive(&mut self, drive: Drive, key_reader: &mut Option<KeyReader>) -> Step {
        // In raw mode every line needs the footer machinery (and `\r\n`) from the first one.
        self.update_footer()?;
        if let Drive::Step(tour) = &drive {
            self.stepping = Some(steps::Stepping::new(tour.len()));
            self.show_step(None)?;
        }
        self.tracer.emit(Record::Start {
            stage: self.stage.name.to_string(),
            backend: kq::Backend::CURRENT.json_name().to_string(),
            os: kq::os_name().to_string(),
            addr: self.addr.to_string(),
        })?;
        self.note(self.stage.teaches.to_string())?;
        if self.stepping.is_some() {
            self.note(steps::INTRO.to_string())?;
        }
        if self.stage.server_writes() {
            self.note(format!(
                "the server's sockets get SO_SNDBUF {0} and the client's SO_RCVBUF {0}, so a \
                 `fill` or two fill both buffers (the OS grows loopback buffers to megabytes \
                 otherwise)",
                super::write::BUFFER
            ))?;
        }

        let keys = matches!(drive, Drive::Keys | Drive::Step(_));
        self.register(keys)?;

        if keys {
            let kq = Arc::clone(self.kq.kqueue());
            let (reader, rx) = KeyReader::spawn(move || {
                // NOTE_TRIGGER wakes the loop blocked in kevent (B24). The udata goes along
                // because FreeBSD stores the udata of every change (B4).
                let trigger = Kevent::new(KEYS, kq::EVFILT_USER, 0)
                    .with_fflags_data(kq::NOTE_TRIGGER, 0)
                    .with_udata(KEYS);
                let _ = kq.kevent(&[trigger], &mut [], None);
            });
            *key_reader = Some(reader);
            self.keys = Some(rx);
        }

        if let Drive::Step(_) = drive {
            // The built-in client's connect is the tour's first step.
        } else if !self.external {
            self.perform(&Action::Connect)?;
        } else {
            self.note(format!(
                "--external: no built-in client; connect yourself, e.g. `nc {} {}`",
                self.addr.ip(),
                self.addr.port()
            ))?;
        }

        match drive {
            Drive::Script(actions) => {
                for action in &actions {
                    if self.quit {
                        break;
                    }
                    self.perform(action)?;
                }
            }
            Drive::Step(tour) => self.step_through(&tour)?,
            Drive::Keys | Drive::Serve => {
                while !self.quit {
                    self.poll(None)?;
                    self.inject_test_fault()?;
                }
            }
        }
        Ok(())
    }

    /// The `LAB_TEST_FAULT` test hook (see [`TestFault`]): fail once the first key is handled.
    fn inject_test_fault(&self) -> Step {
        if self.keys_handled == 0 {
            return Ok(());
        }
        match self.test_fault {
            TestFault::None => Ok(()),
            TestFault::Panic => panic!("LAB_TEST_FAULT=panic: a deliberate panic (test hook)"),
            TestFault::Error => Err(Stop::Fail(Error::runtime(
                "LAB_TEST_FAULT=error: a deliberate runtime error (test hook)",
            ))),
        }
    }

    /// The epoll twin's bill (opening 7): what the kevent calls cost underneath.
    fn syscall_note(&mut self) -> Step {
        if kq::Backend::CURRENT != kq::Backend::Emulated {
            return Ok(());
        }
        let c = self.kq.kqueue().os_call_counts();
        let n = trace::words::group;
        self.note(format!(
            "underneath {} kevent calls the emulation made {} system calls: epoll_wait {}, \
             epoll_ctl {}, ioctl {}, getsockopt {}, other {}",
            n(self.kq.calls()),
            n(c.total()),
            n(c.epoll_wait),
            n(c.epoll_ctl),
            n(c.ioctl),
            n(c.getsockopt),
            n(c.other)
        ))
    }

    pub(super) fn note(&mut self, text: String) -> Step {
        self.tracer.emit(Record::Note { text })?;
        Ok(())
    }

    fn action(&mut self, action: &Action, conn: Option<usize>, bytes: Option<usize>) -> Step {
        self.tracer.emit(Record::Action {
            action: action.name().to_string(),
            conn,
            bytes,
            // A wait says how long, so the trace (and its replay) shows `» wait 300 ms`.
            ms: match action {
                Action::Wait(ms) => Some(*ms),
                _ => None,
            },
        })?;
        Ok(())
    }

    /// One traced kevent call: apply `changes`, collect into `events` (an empty eventlist
    /// returns at once after the changes, B9), wait at most `timeout`. Returns how many events
    /// arrived. A failure that is part of the lesson (EINTR, -1/errno) is written into the
    /// call's record and counts as no events.
    pub(super) fn kevent(
        &mut self,
        changes: &[Kevent],
        events: &mut [Kevent],
        timeout: Option<Duration>,
    ) -> Step<usize> {
        let collect = !events.is_empty();
        let timeout = timeout.map(Timespec::from_duration);
        let err = match self.kq.kevent(changes, events, timeout, &mut self.tracer) {
            Ok(n) => return Ok(n),
            Err(CallError::Trace(e)) => return Err(e.into()),
            Err(CallError::Kevent(err)) => err,
        };
        let (applied, note) = if err.kind() == io::ErrorKind::Interrupted {
            let note = "kevent returned EINTR: a signal arrived during the wait (B11); the \
                        changes were applied and are not resubmitted";
            (true, note.to_string())
        } else if !collect && err.raw_os_error().is_some() {
            // With no room in the eventlist a failing change comes back as -1/errno (B7), and
            // nobody can tell which changes were applied: the table is left be.
            let note = format!(
                "kevent failed with {}: with an empty eventlist a failing change is reported \
                 as -1/errno, not as an EV_ERROR entry (B7)",
                kq::errno_name(err.raw_os_error().unwrap_or(0))
            );
            (false, note)
        } else {
            return Err(Stop::Fail(Error::runtime(format!(
                "kevent failed: {err} (backend: {})",
                kq::Backend::CURRENT.describe()
            ))));
        };
        self.kq
            .record_failure(&mut self.tracer, applied, Some(note))?;
        Ok(0)
    }

    fn emit_knotes(&mut self) -> Step {
        let knotes = self.kq.knotes().unwrap_or_default().to_vec();
        self.tracer.emit(Record::Knotes { knotes })?;
        Ok(())
    }

    /// A connection the listener accepted becomes `connN`: non-blocking, named in the trace
    /// (its fd may be a reused one, B22), and a flood on it is news. Returns (N, fd).
    pub(super) fn adopt(&mut self, stream: TcpStream) -> Step<(usize, usize)> {
        stream
            .set_nonblocking(true)
            .map_err(|e| Error::runtime(format!("cannot make a connection non-blocking: {e}")))?;
        if self.stage.server_writes() {
            // Best effort: a kernel that refuses only makes `fill` need more bytes.
            let _ = socket2::SockRef::from(&stream).set_send_buffer_size(super::write::BUFFER);
        }
        let fd = stream.as_raw_fd() as usize;
        let n = self.conns.len() + 1;
        self.conns.push(Conn {
            n,
            fd,
            stream: Some(stream),
        });
        self.kq.name(fd, kq::EVFILT_READ, Role::Conn(n));
        self.tracer.forget_flood(fd);
        Ok((n, fd))
    }

    /// SIGINT/SIGTERM wrote to the signal pipe: end the stage.
    pub(super) fn interrupted(&mut self) -> Step {
        term::drain_signal_pipe();
        self.note("SIGINT/SIGTERM received: ending the stage".to_string())?;
        self.quit = true;
        Ok(())
    }

    /// `--external`: the first connection someone makes becomes the current one.
    pub(super) fn follow_first_external(&mut self, n: usize) -> Step {
        if self.external && self.current == 0 {
            self.current = n;
            self.update_footer()?;
        }
        Ok(())
    }

    /// Interactive mode: the two footer lines, cut to the terminal's width so they never wrap.
    fn update_footer(&mut self) -> Step {
        if !self.interactive {
            return Ok(());
        }
        let width = crossterm::terminal::size()
            .map(|(w, _)| w as usize)
            .unwrap_or(80)
            .max(20);
        let current = if self.current == 0 {
            "none yet".to_string()
        } else {
            format!("conn{}", self.current)
        };
        let line1 = format!(
            "── lab {} · {} knotes added with {} · current: {current} ",
            self.stage.name,
            kq::filter_name(self.stage.filter),
            kq::describe_flags(self.stage.flags)
        );
        let line1 = format!("{line1:─<width$}");
        let line2 = self.keys_line();
        let cut = |s: &str| s.chars().take(width - 1).collect::<String>();
        self.tracer
            .tracer
            .set_footer(Some(format!("{}\n{line2}", cut(&line1))))?;
        Ok(())
    }
}
