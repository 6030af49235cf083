//! `lab server`: the appendix of Part 7, a length-prefixed echo server with a batched changelist.
//!
//! Hold these files next to the tutorial:
//!
//! | tutorial                                                        | here                   |
//! |-----------------------------------------------------------------|------------------------|
//! | `Server` (run, accept, closeClient, enforceTimeout)             | [`server`]             |
//! | `Client` (to_write, writeMessage, write)                        | [`client`]             |
//! | `Reader` (readMessage, bufferedMessage, ensureSpace)            | [`reader`]             |
//! | `KQueue` (change_list, queueChange, wait, readMode, writeMode)  | [`kqueue`]             |
//! | `read_timeout_list`                                             | [`timeouts`]           |
//! | `@intFromPtr(client)` in udata                                  | [`token`] (checked)    |
//! | the 4-byte length prefix (Part 2)                               | [`crate::client::framing`] |
//!
//! Where the names differ: `run`'s `switch (ready.udata)` is `decode` in [`kqueue`] plus
//! `Server::handle_event`; its read loop is `Server::on_readable` and `Server::serve`;
//! `writeMessage`'s copy into `write_buf` is `Client::take_messages`; `readMessage` and
//! `bufferedMessage` are `Reader::read_from` and `Reader::next_frame`. The tutorial's
//! `Client.write` calls `readMode`/`writeMode` itself; here `Client::write` only reports how far
//! it got, and `Server::serve`/`Server::write_mode` stage the flip.
//!
//! Beyond the tutorial: [`poller`] is the seam the loop is written over (so a raw-epoll twin can
//! reuse everything else), [`recorder`] what the loop tells the trace (the knote table it shows
//! is [`crate::trace::knotes`], shared with the flag stages), and [`interactive`] the keys in a
//! terminal. The traffic (the tour's demo clients, `--script`, `lab client`) is in
//! [`crate::client`].
//!
//! [`spawn`] runs a server in a thread, for the tests and `lab bench`.

pub mod client;
/// The raw epoll twin (`--backend epoll`, Linux only).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod epoll;
pub mod interactive;
pub mod kqueue;
pub mod poller;
pub mod reader;
pub mod recorder;
#[allow(clippy::module_inception)]
pub mod server;
pub mod timeouts;
pub mod token;

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::kq::Backend;
use crate::trace::{Entry, Record, Sink, Tracer};
use crate::{Error, Result};

use self::kqueue::{KQueue, KQueueConfig};
use self::poller::{OsCallCounter, Poller, Waker, Words};
pub use self::recorder::Stats;
use self::recorder::{Counters, KnotePolicy, Recorder};
use crate::client::{script, tour};

/// The read timeout the default tour uses, so the idle client is closed within the tour.
pub const TOUR_READ_TIMEOUT: Duration = Duration::from_millis(1500);

/// SO_SNDBUF the default tour gives accepted sockets: small, so the slow reader's echoes fill it
/// within a few messages (Linux would otherwise grow a loopback send buffer to megabytes).
pub const TOUR_SEND_BUFFER: usize = 8192;

/// The event API a server runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventApi {
    /// The portable kqueue (native, or emulated over epoll on Linux).
    #[default]
    Kqueue,
    /// Raw epoll, the way Part 6 does it (Linux only): the baseline.
    Epoll,
}

impl EventApi {
    /// Its name in the footer, the bench report and the lessons: `kqueue` or `epoll`.
    pub fn name(self) -> &'static str {
        match self {
            EventApi::Kqueue => "kqueue",
            EventApi::Epoll => "epoll",
        }
    }
}

/// The server's validated settings (STYLE.md habit 7: parsed flags are not the config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// When this many clients are connected the listener is disabled.
    pub max_clients: usize,
    /// A client that sends no complete message for this long is closed.
    pub read_timeout: Duration,
    /// Per-client read buffer and write buffer; the largest message is 4 bytes less.
    pub buffer_size: usize,
    /// Staged changes before an early flush.
    pub change_list: usize,
    /// Eventlist capacity.
    pub event_list: usize,
    /// Apply every change with its own kevent call.
    pub no_batch: bool,
    /// Keep the published bugs (errata 4, 5, 8; show where 9 and 11 would strike).
    pub as_published: bool,
    /// SO_SNDBUF for accepted sockets; `None` keeps the OS's (self-tuning) size.
    pub send_buffer: Option<usize>,
    /// The event API underneath: the kqueue, or raw epoll (Linux only).
    pub backend: EventApi,
}

impl Default for Config {
    /// The contract's defaults, on port 0.
    fn default() -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            max_clients: 4096,
            read_timeout: Duration::from_millis(60_000),
            buffer_size: 4096,
            change_list: 16,
            event_list: 128,
            no_batch: false,
            as_published: false,
            send_buffer: None,
            backend: EventApi::Kqueue,
        }
    }
}

impl Config {
    fn kqueue_config(&self) -> KQueueConfig {
        KQueueConfig {
            change_list: self.change_list,
            event_list: self.event_list,
            no_batch: self.no_batch,
            as_published: self.as_published,
        }
    }

    /// Bind the listening socket (std sets SO_REUSEADDR, as the tutorial does).
    pub fn bind(&self) -> Result<TcpListener> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|err| Error::usage(format!("--host {}: not an address ({err})", self.host)))?
            .collect();
        TcpListener::bind(&addrs[..]).map_err(|err| match err.kind() {
            io::ErrorKind::AddrInUse => Error::runtime(format!(
                "port {} on {} is in use: try --port 0 (any free port)",
                self.port, self.host
            )),
            io::ErrorKind::AddrNotAvailable => Error::runtime(format!(
                "cannot listen on {}: not an address of this machine (try --host 127.0.0.1)",
                self.host
            )),
            io::ErrorKind::PermissionDenied => Error::runtime(format!(
                "not allowed to listen on port {}: try a port above 1023, or --port 0",
                self.port
            )),
            _ => Error::runtime(format!(
                "cannot listen on {}:{}: {err}",
                self.host, self.port
            )),
        })
    }
}

/// How `lab server` runs, beyond the server's [`Config`]: who drives it and what it shows.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// The server's settings as given. With the default tour (or the keys' `t`) and no
    /// `--sndbuf`, accepted sockets get [`TOUR_SEND_BUFFER`]; with the tour and no
    /// `--read-timeout-ms`, the read timeout is [`TOUR_READ_TIMEOUT`].
    pub config: Config,
    /// `--read-timeout-ms` was given (the tour keeps it then).
    pub read_timeout_given: bool,
    /// No built-in client: serve real clients.
    pub external: bool,
    /// `--script`, not yet parsed.
    pub script: Option<String>,
    /// Built-in demo clients; `None`: the tour's default.
    pub clients: Option<usize>,
    /// Only the summary reaches the trace.
    pub quiet: bool,
    /// A `--predict` run: the default tour, never the keys.
    pub predict: bool,
    /// The trace is JSON lines (with the knote table after every change).
    pub json: bool,
    /// Show the epoll calls the emulation makes underneath each kevent call.
    pub os_calls: bool,
}

/// `lab server`: run the server with its trace, written to `sink`; the summary it ended with (`None` if the output
/// went away). `--predict` and the lessons' progress are handled by the caller, one level up.
///
/// Interactive mode (contract) when stdin and stdout are terminals and there is no `--script`
/// (and no `--predict`, which asks its question and then plays the tour): the terminal goes to
/// raw mode, the key footer stays under the trace, and keys drive a built-in client
/// ([`interactive`]). The [`crate::term::TerminalGuard`] restores the terminal on every way out.
pub fn run(opts: &RunOptions, sink: Box<dyn Sink>) -> Result<Option<crate::trace::Summary>> {
    check_backend(opts.config.backend)?;
    let script = match &opts.script {
        Some(text) => Some(script::parse_script(text, opts.external)?),
        None => None,
    };
    let external = opts.external;
    let interactive = script.is_none()
        && !opts.predict
        && crate::term::stdin_is_terminal()
        && crate::term::stdout_is_terminal();
    let tour = !external && script.is_none() && !interactive;
    let scripted = script.is_some();
    let mut config = opts.config.clone();
    if tour && !opts.read_timeout_given {
        config.read_timeout = TOUR_READ_TIMEOUT;
    }
    if (tour || interactive) && opts.config.send_buffer.is_none() {
        // The tour's slow reader (`t` plays it too) needs a small send buffer to reach write
        // mode.
        config.send_buffer = Some(TOUR_SEND_BUFFER);
    }
    let clients = if external {
        0
    } else {
        opts.clients.unwrap_or(tour::DEFAULT_CLIENTS)
    };
    let listener = config.bind()?;
    let addr = listener
        .local_addr()
        .map_err(|err| crate::error::io_context("reading the bound address", err))?;

    let sink: Box<dyn Sink> = if opts.quiet {
        Box::new(SummaryOnly(sink))
    } else {
        sink
    };
    let backend_name = config.backend.name();
    // Raw mode, and the footer, before the first line: in raw mode every line needs `\r\n`.
    let guard = if interactive {
        Some(
            crate::term::TerminalGuard::enter()
                .map_err(|err| crate::error::io_context("putting the terminal in raw mode", err))?,
        )
    } else {
        None
    };
    let mut tracer = Tracer::new(sink);
    if interactive {
        let _ = tracer.set_footer(Some(interactive::footer(backend_name, 0)));
    }
    let _ = tracer.emit(Record::Start {
        stage: "server".into(),
        // `--backend epoll` is no kqueue at all: the header must say so (contract extension).
        backend: match config.backend {
            EventApi::Kqueue => Backend::CURRENT.json_name().into(),
            EventApi::Epoll => "epoll".into(),
        },
        os: crate::kq::os_name().into(),
        addr: addr.to_string(),
    });
    let counters = Arc::new(Counters::default());
    let mut rec = Recorder::new(Some(tracer), opts.os_calls, Arc::clone(&counters));
    // The knote table is built only for a trace that shows it: JSON after every call that
    // changed it, text on `k` and at the end of a tour or script (never with --quiet).
    rec.knotes = match (opts.quiet, opts.json) {
        (true, _) => KnotePolicy::Off,
        (false, true) => KnotePolicy::EveryChange,
        (false, false) => KnotePolicy::OnRequest,
    };
    let mode = if interactive {
        Mode::Interactive
    } else if tour {
        Mode::Tour
    } else {
        Mode::Other
    };
    intro_notes(&config, opts, addr, mode, clients, &mut rec);

    // What a failure names: the calls of the event API in use.
    let (create_call, wake_knote) = match config.backend {
        EventApi::Kqueue => ("kqueue()", "EVFILT_USER"),
        EventApi::Epoll => ("epoll_create1()", "eventfd"),
    };
    let wait_call = words_for(&config).wait_call;
    let stop = Arc::new(AtomicBool::new(false));
    let poller = new_poller(&config, Arc::clone(&counters), &mut rec)
        .map_err(|err| kqueue_error(create_call, err))?;
    let mut server = server::Server::new(config.clone(), poller, rec, listener, Arc::clone(&stop))
        .map_err(|err| crate::error::io_context("setting up the listener", err))?;
    let interrupts = crate::term::catch_interrupts()
        .map_err(|err| crate::error::io_context("catching SIGINT/SIGTERM", err))?;
    server
        .poller
        .watch_interrupts(interrupts, &mut server.rec)
        .map_err(|err| kqueue_error("watching the signal pipe", err))?;
    let waker = server
        .poller
        .waker()
        .map_err(|err| kqueue_error(wake_knote, err))?;
    let plan = tour::TourPlan {
        clients,
        buffer_size: config.buffer_size,
        read_timeout: config.read_timeout,
    };

    // The traffic: the tour's clients, the script's actions, the keys, or (with --external)
    // nobody.
    let mut key_reader = None;
    let driver: Option<JoinHandle<()>> = if let Some(actions) = script {
        let stop = Arc::clone(&stop);
        let waker = waker.clone();
        Some(std::thread::spawn(move || {
            script::run_script(addr, &actions, external, &stop);
            finish_driver(&stop, &waker);
        }))
    } else if tour {
        let stop = Arc::clone(&stop);
        let waker = waker.clone();
        // Connected here, before the loop runs: conn1's burst and FIN already wait in the accept
        // queue, so its first READ event carries both on every run (errata 9 shows every time).
        let tour = tour::Tour::connect(addr, &plan);
        Some(std::thread::spawn(move || {
            tour.run(&stop);
            finish_driver(&stop, &waker);
        }))
    } else {
        if interactive {
            let keys_waker = server
                .poller
                .watch_keys(&mut server.rec)
                .map_err(|err| kqueue_error(wake_knote, err))?;
            let (reader, keys) = crate::term::KeyReader::spawn(move || {
                let _ = keys_waker.wake();
            });
            key_reader = Some(reader);
            server.console = Some(interactive::Console::new(interactive::ConsoleSetup {
                addr,
                external,
                keys,
                waker: waker.clone(),
                plan: plan.clone(),
                stop: Arc::clone(&stop),
                backend: backend_name,
                keys_how: match config.backend {
                    EventApi::Kqueue => {
                        "the key reader thread NOTE_TRIGGERed the `keys` EVFILT_USER knote \
                         (B24): that is how a key press wakes kevent, with no timer"
                    }
                    EventApi::Epoll => {
                        "the key reader thread wrote to the `keys` eventfd: that is how a key \
                         press wakes epoll_wait, with no timer"
                    }
                },
            }));
        }
        None
    };

    let outcome = server.run();
    stop.store(true, Ordering::SeqCst);
    // The keys stop before the terminal is given back.
    drop(key_reader);
    if tour || scripted {
        end_of_run_knotes(&mut server);
    }
    let console = server.console.take();
    server.close_all();
    let os_calls = server.poller.os_call_counter().get();
    let stats = counters.snapshot(os_calls);
    // Closing the listener now resets a tour client still waiting in the accept queue (after
    // Ctrl-C, say), instead of leaving it to wait for its read timeout.
    let mut rec = server.into_recorder();
    let failure = console.and_then(|console| {
        // The server's sockets are closed: every client thread sees end of file.
        let failure = console.failure.clone();
        console.finish();
        failure
    });
    if let Some(driver) = driver {
        // The clients end on their own once the server's sockets are closed.
        let _ = driver.join();
    }
    // The summary is written in cooked mode, under no footer.
    rec.set_footer(None);
    drop(guard);
    if let Some(failure) = failure {
        let _ = rec.finish(&stats);
        return Err(Error::runtime(failure));
    }
    let summary = rec.finish(&stats);
    outcome.map_err(|err| kqueue_error(wait_call, err))?;
    Ok(summary)
}

/// The text trace shows the knote table once, at the end of a tour or script (the JSON trace
/// has one after every call that changed it): the closed clients' knotes are listed as deleted.
fn end_of_run_knotes<P: Poller>(server: &mut server::Server<P>) {
    if server.rec.knotes != KnotePolicy::OnRequest {
        return;
    }
    if let Some(rows) = server.poller.knotes() {
        server.rec.note(
            "the knote table at the end of the run (close() removed the closed clients' knotes, \
             B22; they stay listed as deleted until their fd is reused)",
        );
        server.rec.knote_table(rows);
    }
}

/// `--backend epoll` needs Linux's epoll: elsewhere it is a usage error (exit 2).
pub fn check_backend(backend: EventApi) -> Result<()> {
    if backend == EventApi::Epoll && !twin::AVAILABLE {
        return Err(Error::usage("--backend epoll needs Linux"));
    }
    Ok(())
}

/// The event API the config asks for, behind the [`Poller`] seam.
fn new_poller(
    config: &Config,
    counters: Arc<Counters>,
    rec: &mut Recorder,
) -> io::Result<Box<dyn Poller>> {
    match config.backend {
        EventApi::Kqueue => Ok(Box::new(KQueue::new(
            config.kqueue_config(),
            counters,
            rec,
        )?)),
        EventApi::Epoll => twin::poller(config, counters, rec),
    }
}

/// The words of the event API the config asks for, before its poller exists (the opening notes
/// come first); the same as [`Poller::words`] gives once it does.
fn words_for(config: &Config) -> Words {
    match config.backend {
        EventApi::Kqueue => KQueue::words(&config.kqueue_config()),
        EventApi::Epoll => twin::words(config),
    }
}

/// The raw epoll twin, where Linux has it (the backend is chosen here, at module level:
/// STYLE.md habit 3).
#[cfg(any(target_os = "linux", target_os = "android"))]
mod twin {
    use super::*;

    pub const AVAILABLE: bool = true;

    pub fn poller(
        config: &Config,
        counters: Arc<Counters>,
        rec: &mut Recorder,
    ) -> io::Result<Box<dyn Poller>> {
        Ok(Box::new(epoll::Epoll::new(
            config.event_list,
            counters,
            rec,
        )?))
    }

    pub fn words(config: &Config) -> Words {
        epoll::Epoll::words(config.event_list)
    }
}

/// No epoll here: [`check_backend`] refuses `--backend epoll` before anything asks for it.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod twin {
    use super::*;

    pub const AVAILABLE: bool = false;

    pub fn poller(
        _config: &Config,
        _counters: Arc<Counters>,
        _rec: &mut Recorder,
    ) -> io::Result<Box<dyn Poller>> {
        Err(io::Error::from_raw_os_error(libc::ENOSYS))
    }

    pub fn words(config: &Config) -> Words {
        KQueue::words(&config.kqueue_config())
    }
}

/// The tour or script is over: stop the loop.
fn finish_driver(stop: &AtomicBool, waker: &Waker) {
    stop.store(true, Ordering::SeqCst);
    let _ = waker.wake();
}

fn kqueue_error(what: &str, err: io::Error) -> Error {
    if err.raw_os_error() == Some(libc::ENOSYS) {
        Error::runtime(format!(
            "{what}: the kqueue backend is not available in this build ({err})"
        ))
    } else {
        crate::error::io_context(what, err)
    }
}

/// How a run is driven, for the opening notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The default tour.
    Tour,
    /// Keys, in a terminal.
    Interactive,
    /// A script, or `--external` serving real clients.
    Other,
}

/// What the trace says before the first call to the event API.
fn intro_notes(
    config: &Config,
    opts: &RunOptions,
    addr: SocketAddr,
    mode: Mode,
    clients: usize,
    rec: &mut Recorder,
) {
    if !rec.on() {
        return;
    }
    let words = words_for(config);
    rec.note(format!(
        "echo server: 4-byte little-endian length + message, echoed back. {}, max {} clients, \
         {}-byte buffers",
        words.setup, config.max_clients, config.buffer_size
    ));
    if config.no_batch {
        rec.note(words.no_batch);
    }
    if config.as_published {
        rec.note(words.as_published);
    }
    if mode == Mode::Interactive {
        let clients = if opts.external {
            "no built-in client (--external)".to_string()
        } else {
            format!(
                "c opens a connection of the built-in client, s sends \"ping\" on it and reads \
                 the echo, x closes it, t plays the tour ({clients} clients)"
            )
        };
        rec.note(format!(
            "interactive: the keys are in the footer. {clients}; k shows the knote table, q or \
             Ctrl-C quits with the summary"
        ));
        if opts.config.send_buffer.is_none() {
            rec.note(format!(
                "accepted sockets get SO_SNDBUF {TOUR_SEND_BUFFER} (--sndbuf) so the tour's slow \
                 reader reaches write mode"
            ));
        }
    }
    if mode == Mode::Tour {
        if !opts.read_timeout_given {
            rec.note(format!(
                "tour: the read timeout is shortened to {} ms so the idle client is closed during \
                 the tour (--read-timeout-ms sets it; the server's default is 60000)",
                config.read_timeout.as_millis()
            ));
        }
        if opts.config.send_buffer.is_none() {
            rec.note(format!(
                "tour: accepted sockets get SO_SNDBUF {TOUR_SEND_BUFFER} (--sndbuf) so the slow \
                 reader fills it quickly; Linux would grow a loopback send buffer to megabytes"
            ));
        }
        rec.note(tour::describe(clients));
    } else if opts.external {
        let until = if opts.script.is_some() {
            "until the script ends"
        } else if mode == Mode::Interactive {
            "until q or Ctrl-C"
        } else {
            "until Ctrl-C"
        };
        rec.note(format!(
            "serving real clients {until}: try `lab client --port {} hello world`",
            addr.port()
        ));
    }
}

/// `--quiet`: only the summary reaches the real sink.
struct SummaryOnly(Box<dyn Sink>);

impl Sink for SummaryOnly {
    fn write(&mut self, entry: &Entry) -> io::Result<()> {
        if matches!(entry.record, Record::Summary(_)) {
            self.0.write(entry)
        } else {
            Ok(())
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }

    /// Interactive `--quiet`: the keys are still shown.
    fn set_footer(&mut self, footer: Option<String>) -> io::Result<()> {
        self.0.set_footer(footer)
    }
}

/// A server running in a thread of this process (tests, `lab bench`). No trace is built.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Waker,
    counters: Arc<Counters>,
    os_calls: OsCallCounter,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// The address the server listens on (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters now, while the server runs.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot(self.os_calls.get())
    }

    /// Stop the loop (EVFILT_USER + NOTE_TRIGGER wakes it), wait for its thread, and return the
    /// final counters.
    pub fn stop(mut self) -> Result<Stats> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<Stats> {
        self.stop.store(true, Ordering::SeqCst);
        self.waker
            .wake()
            .map_err(|err| crate::error::io_context("waking the server loop", err))?;
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return Err(kqueue_error("server loop", err)),
                Err(_) => return Err(Error::runtime("the server thread panicked")),
            }
        }
        Ok(self.stats())
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.shutdown();
        }
    }
}

/// Start a server on `config` in a new thread, without a trace. Binds before returning, so
/// `handle.addr()` is ready for clients.
pub fn spawn(config: Config) -> Result<ServerHandle> {
    check_backend(config.backend)?;
    let listener = config.bind()?;
    let addr = listener
        .local_addr()
        .map_err(|err| crate::error::io_context("reading the bound address", err))?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<(Waker, OsCallCounter)>>();
    let thread = {
        let counters = Arc::clone(&counters);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("lab-server".into())
            .spawn(move || -> io::Result<()> {
                // Built in this thread: the recorder and the queue stay here.
                let mut rec = Recorder::new(None, false, Arc::clone(&counters));
                let setup = new_poller(&config, Arc::clone(&counters), &mut rec)
                    .and_then(|poller| {
                        server::Server::new(config, poller, rec, listener, Arc::clone(&stop))
                    })
                    .and_then(|server| {
                        let handles = (server.poller.waker()?, server.poller.os_call_counter());
                        Ok((server, handles))
                    });
                let mut server = match setup {
                    Ok((server, handles)) => {
                        let _ = ready_tx.send(Ok(handles));
                        server
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(io::Error::new(err.kind(), err.to_string())));
                        return Err(err);
                    }
                };
                let outcome = server.run();
                server.close_all();
                outcome
            })
            .map_err(|err| crate::error::io_context("starting the server thread", err))?
    };
    match ready_rx.recv() {
        Ok(Ok((waker, os_calls))) => Ok(ServerHandle {
            addr,
            stop,
            waker,
            counters,
            os_calls,
            thread: Some(thread),
        }),
        Ok(Err(err)) => {
            let _ = thread.join();
            Err(kqueue_error("starting the server", err))
        }
        Err(_) => {
            let _ = thread.join();
            Err(Error::runtime("the server thread ended before it started"))
        }
    }
}
