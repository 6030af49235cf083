//! `lab server` with its trace: the mode (tour, script, keys, or real clients), the opening
//! notes, the loop, and the summary at the end.

use std::io::{self, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::poller::{Poller, Waker};
use super::recorder::{Counters, KnotePolicy, Recorder};
use super::{
    check_backend, interactive, kqueue_error, new_poller, server, step, words_for, Config, EventApi,
};
use crate::client::{script, tour};
use crate::kq::Backend;
use crate::trace::{Entry, Record, Sink, Tracer};
use crate::{Error, Result};

/// The read timeout the default tour uses, so the idle client is closed within the tour.
pub const TOUR_READ_TIMEOUT: Duration = Duration::from_millis(1500);

/// SO_SNDBUF the default tour gives accepted sockets: small, so the slow reader's echoes fill it
/// within a few messages (Linux would otherwise grow a loopback send buffer to megabytes).
pub const TOUR_SEND_BUFFER: usize = 8192;

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
    /// Keys drive the run (decided once, by the command line: `cli::CommonArgs::interactive`:
    /// a terminal on both ends, no `--script`, `--tour` or `--predict`).
    pub interactive: bool,
    /// A `--predict` run: the default tour, never the keys.
    pub predict: bool,
    /// `--step`: the default tour, one pass of the event loop per Space (needs a terminal;
    /// the command line checked that).
    pub step: bool,
    /// The trace is JSON lines (with the knote table after every change).
    pub json: bool,
    /// Show the epoll calls the emulation makes underneath each kevent call.
    pub os_calls: bool,
    /// `--pager`: the trace goes through a pager (the sink's business), so no keys: the tour.
    pub pager: bool,
}

/// How a `lab server` run ended.
#[derive(Clone, Debug)]
pub struct ServerRun {
    /// The summary it ended with (`None` if the output went away).
    pub summary: Option<crate::trace::Summary>,
    /// Not stopped by `q` or Ctrl-C as keys before the tour's end (`--step`); a Ctrl-C that
    /// is a signal is checked apart (`lessons::run_finished`).
    pub reached_end: bool,
}

/// `lab server`: run the server with its trace, written to `sink`, and say how it ended.
/// `--predict` and the lessons' progress are handled by the caller, one level up.
///
/// Interactive mode (contract) when `opts.interactive` says so: stdin and stdout are terminals
/// and there is no `--script`, no `--tour` (and no `--predict`, which asks its question and
/// then plays the tour). The terminal goes to
/// raw mode, the key footer stays under the trace, and keys drive a built-in client
/// ([`interactive`](super::interactive)). With `--step` (the tour, in a terminal) raw mode too,
/// and a prompt before each pass of the loop ([`step`](super::step)). The
/// [`crate::term::TerminalGuard`] restores the terminal on every way out.
pub fn run(opts: &RunOptions, sink: Box<dyn Sink>) -> Result<ServerRun> {
    check_backend(opts.config.backend)?;
    opts.config.check_budget()?;
    let script = match &opts.script {
        Some(text) => Some(script::parse_script(text, opts.external)?),
        None => None,
    };
    let external = opts.external;
    let interactive = opts.interactive && script.is_none() && !opts.predict && !opts.step;
    let tour = !external && script.is_none() && !interactive;
    // `--step` is the tour with a prompt before each pass of the loop.
    let step = opts.step && tour;
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

    if opts.quiet && external {
        // `--quiet` keeps the trace (stdout) to the summary, but real clients need the port,
        // which `--port 0` chose just now: one line on stderr, the way servers announce it.
        let _ = writeln!(
            io::stderr(),
            "lab server: listening on {addr} (--quiet: the summary comes at exit)"
        );
    }
    let sink: Box<dyn Sink> = if opts.quiet {
        Box::new(SummaryOnly(sink))
    } else {
        sink
    };
    let backend_name = config.backend.name();
    // Raw mode, and the footer, before the first line: in raw mode every line needs `\r\n`.
    let guard = if interactive || step {
        Some(
            crate::term::TerminalGuard::enter()
                .map_err(|err| crate::error::io_context("putting the terminal in raw mode", err))?,
        )
    } else {
        None
    };
    let mut tracer = Tracer::new(sink);
    if interactive {
        let _ = tracer.set_footer(Some(interactive::footer(backend_name, 0, external)));
    }
    if step {
        let _ = tracer.set_footer(Some(step::header(words_for(&config).wait_call)));
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
    } else if step {
        Mode::Step
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
        step,
    };

    // The traffic: the tour's clients, the script's actions, the keys, or (with --external)
    // nobody.
    let mut key_reader = None;
    // Set by the tour once all its clients are done: a tour that ends the loop itself must
    // have got every echo it was owed (a Ctrl-C that ends it early is not a failure).
    let tour_done = Arc::new(AtomicBool::new(false));
    let driver: Option<JoinHandle<Vec<String>>> = if let Some(actions) = script {
        let stop = Arc::clone(&stop);
        let waker = waker.clone();
        Some(std::thread::spawn(move || {
            script::run_script(addr, &actions, external, &stop);
            finish_driver(&stop, &waker);
            Vec::new()
        }))
    } else if tour {
        let tour_stop = Arc::clone(&stop);
        let tour_waker = waker.clone();
        // Connected here, before the loop runs: conn1's burst and FIN already wait in the accept
        // queue, so its first READ event carries both on every run (errata 9 shows every time).
        let tour = tour::Tour::connect(addr, &plan);
        let done = Arc::clone(&tour_done);
        let driver = std::thread::spawn(move || {
            let failures = tour.run(&tour_stop);
            done.store(true, Ordering::SeqCst);
            if step {
                // The server has not seen every client's close yet: the stepper makes one more
                // call, which collects them and this wake-up, then ends the run.
                let _ = tour_waker.wake();
            } else {
                finish_driver(&tour_stop, &tour_waker);
            }
            failures
        });
        if step {
            // Keys answer the prompt; during a call they wake it through the `wake` knote,
            // and only then (step.rs).
            let in_call = Arc::new(AtomicBool::new(false));
            let waking = Arc::clone(&in_call);
            let waker = waker.clone();
            let (reader, keys) = crate::term::KeyReader::spawn(move || {
                if waking.load(Ordering::SeqCst) {
                    let _ = waker.wake();
                }
            });
            key_reader = Some(reader);
            server.stepper = Some(step::Stepper::new(
                keys,
                Arc::clone(&stop),
                Arc::clone(&tour_done),
                in_call,
                wait_call,
            ));
        }
        Some(driver)
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
                tour_read_timeout: (!opts.read_timeout_given).then_some(TOUR_READ_TIMEOUT),
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
    let tour_finished = tour_done.load(Ordering::SeqCst);
    stop.store(true, Ordering::SeqCst);
    // The keys stop before the terminal is given back.
    drop(key_reader);
    if tour || scripted {
        end_of_run_knotes(&mut server);
    }
    let console = server.console.take();
    let stepper = server.stepper.take();
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
    let failure = failure.or(stepper.and_then(|stepper| stepper.failure));
    let mut tour_failures = Vec::new();
    if let Some(driver) = driver {
        // The clients end on their own once the server's sockets are closed.
        tour_failures = driver.join().unwrap_or_default();
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
    // A `--step` run reached its end when the tour did; `q` or Ctrl-C (keys) before that
    // stopped it.
    let reached_end = !step || tour_finished;
    // With --as-published, clients locked out (errata 4 and 5) are the lesson, not a failure.
    if tour_finished && !tour_failures.is_empty() && !config.as_published {
        // The summary is written; the exit status must not say "all echoed" when some client
        // of the tour was closed early or got no echo.
        return Err(Error::runtime(format!(
            "the tour did not finish: {} of {clients} built-in clients did not get all their \
             echoes (first: {})",
            tour_failures.len(),
            tour_failures[0]
        )));
    }
    Ok(ServerRun {
        summary,
        reached_end,
    })
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

/// The tour or script is over: stop the loop.
fn finish_driver(stop: &AtomicBool, waker: &Waker) {
    stop.store(true, Ordering::SeqCst);
    let _ = waker.wake();
}

/// How a run is driven, for the opening notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// The default tour.
    Tour,
    /// The default tour, one pass of the loop per Space (`--step`).
    Step,
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
    if mode == Mode::Step {
        rec.note(step::INTRO);
    }
    if mode == Mode::Tour || mode == Mode::Step {
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
        rec.note(if mode == Mode::Step {
            tour::describe_stepped(clients)
        } else {
            tour::describe(clients)
        });
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
