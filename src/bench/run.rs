//! One bench run: connect, warm up, measure, and read the server's counters around the
//! measurement.

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use super::plan::Plan;
use super::system;
use crate::client::histogram::Histogram;
use crate::client::load::{Driver, PhaseResult};
use crate::server::{self, Config, EventApi, Stats};
use crate::{Error, Result};

/// The name the in-process server's thread has (`server::spawn`), to read its CPU time.
const SERVER_THREAD: &str = "lab-server";

/// What the server did during the measured phase (in-process only).
#[derive(Clone, Debug)]
pub struct ServerSide {
    /// Counters over the measured phase only.
    pub stats: Stats,
    /// CPU time of the server thread over the measured phase (Linux).
    pub cpu: Option<Duration>,
    /// Process RSS with the server started and no connection, and after connecting and the
    /// warm-up (KiB, Linux).
    pub rss_idle_kib: Option<u64>,
    pub rss_loaded_kib: Option<u64>,
}

/// One bench run.
#[derive(Clone)]
pub struct Report {
    pub plan: Plan,
    pub backend: EventApi,
    pub no_batch: bool,
    pub addr: SocketAddr,
    pub expected: u64,
    pub echoed: u64,
    pub cut_short: bool,
    pub elapsed: Duration,
    pub rtt: Histogram,
    pub server: Option<ServerSide>,
    /// The soft RLIMIT_NOFILE, when it had to be raised: (before, after).
    pub nofile_raised: Option<(u64, u64)>,
}

impl Report {
    pub fn label(&self) -> String {
        match (self.backend, self.no_batch) {
            (EventApi::Epoll, _) => "epoll".into(),
            (EventApi::Kqueue, false) => "kqueue".into(),
            (EventApi::Kqueue, true) => "kqueue --no-batch".into(),
        }
    }

    pub fn msgs_per_s(&self) -> f64 {
        self.echoed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// One run: connect, warm up, measure, and read the server's counters around the measurement.
pub fn run_once(plan: &Plan, backend: EventApi, no_batch: bool) -> Result<Report> {
    let in_process = plan.addr.is_none();
    // Each connection is one descriptor here, and one more in the in-process server.
    let per_conn = if in_process { 2 } else { 1 };
    let nofile_raised = system::ensure_open_files(plan.connections as u64 * per_conn + 64)
        .map_err(|err| Error::runtime(format!("raising the open-file limit: {err}")))?;

    let server = if in_process {
        Some(server::spawn(Config {
            backend,
            no_batch,
            send_buffer: plan.sndbuf,
            ..Config::default()
        })?)
    } else {
        None
    };
    let addr = match (&server, plan.addr) {
        (Some(server), _) => server.addr(),
        (None, Some(addr)) => addr,
        (None, None) => unreachable!("a plan without --addr starts a server"),
    };
    let rss_idle_kib = system::rss_kib();

    let mut streams = Vec::with_capacity(plan.connections);
    for i in 0..plan.connections {
        let stream = TcpStream::connect(addr).map_err(|err| {
            Error::runtime(format!(
                "connection {} to {addr}: {err} (is a lab server listening there?)",
                i + 1
            ))
        })?;
        // As the server (errata 12): no Nagle delay on small pipelined writes.
        stream
            .set_nodelay(true)
            .map_err(|err| crate::error::io_context("TCP_NODELAY", err))?;
        streams.push(stream);
    }

    // Share the connections out among the client threads.
    let started = Instant::now();
    // Checked: a duration too far ahead for the clock means "no deadline" (a year is plenty),
    // never an overflow panic (the command line caps --duration at a day anyway).
    let deadline = started
        .checked_add(plan.duration)
        .unwrap_or_else(|| started + Duration::from_secs(365 * 24 * 3600));
    let barrier = Arc::new(Barrier::new(plan.threads + 1));
    let mut threads = Vec::with_capacity(plan.threads);
    let mut first = 0;
    for t in 0..plan.threads {
        let share =
            plan.connections / plan.threads + usize::from(t < plan.connections % plan.threads);
        let mine: Vec<TcpStream> = streams.drain(..share).collect();
        let barrier = Arc::clone(&barrier);
        let (size, pipeline, warmup, messages) =
            (plan.size, plan.pipeline, plan.warmup, plan.messages);
        let first_conn = first;
        first += share;
        let thread = std::thread::Builder::new()
            .name(format!("bench-client-{t}"))
            .spawn(
                move || -> std::result::Result<(PhaseResult, Histogram), String> {
                    let mut warm_rtt = Histogram::default();
                    let warmed = Driver::new(mine, first_conn, size, pipeline)
                        .map_err(|err| format!("setting up the client's kqueue: {err}"))
                        .and_then(|mut driver| {
                            driver.run_phase(warmup, deadline, &mut warm_rtt)?;
                            Ok(driver)
                        });
                    barrier.wait(); // warm-up over: the main thread reads the counters
                    barrier.wait(); // measuring starts
                    let mut rtt = Histogram::default();
                    let measured = warmed.and_then(|mut driver| {
                        let result = driver.run_phase(messages, deadline, &mut rtt)?;
                        Ok((driver, result))
                    });
                    barrier.wait(); // measuring over
                    barrier.wait(); // counters read: the connections may close now
                    measured.map(|(driver, result)| {
                        drop(driver);
                        (result, rtt)
                    })
                },
            )
            .map_err(|err| crate::error::io_context("starting a client thread", err))?;
        threads.push(thread);
    }

    barrier.wait();
    let stats_before = server.as_ref().map(|s| s.stats());
    let cpu_before = server
        .as_ref()
        .and_then(|_| system::server_thread_cpu(SERVER_THREAD));
    let rss_loaded_kib = system::rss_kib();
    let t0 = Instant::now();
    barrier.wait();
    barrier.wait();
    let stats_after = server.as_ref().map(|s| s.stats());
    let cpu_after = server
        .as_ref()
        .and_then(|_| system::server_thread_cpu(SERVER_THREAD));
    barrier.wait();

    let mut rtt = Histogram::default();
    let mut echoed = 0;
    let mut expected = 0;
    let mut cut_short = false;
    let mut finished = t0;
    let mut failure = None;
    for thread in threads {
        match thread.join() {
            Ok(Ok((result, thread_rtt))) => {
                rtt.merge(&thread_rtt);
                echoed += result.echoed;
                expected += result.expected;
                cut_short |= result.cut_short;
                if let Some(at) = result.finished_at {
                    finished = finished.max(at);
                }
            }
            Ok(Err(err)) => failure = failure.or(Some(err)),
            Err(_) => failure = failure.or(Some("a client thread panicked".to_string())),
        }
    }
    if let Some(server) = server {
        server.stop()?;
    }
    if let Some(err) = failure {
        return Err(Error::runtime(err));
    }
    let server_side = match (stats_before, stats_after) {
        (Some(before), Some(after)) => Some(ServerSide {
            stats: delta(&before, &after),
            cpu: match (cpu_before, cpu_after) {
                (Some(a), Some(b)) => Some(b.saturating_sub(a)),
                _ => None,
            },
            rss_idle_kib,
            rss_loaded_kib,
        }),
        _ => None,
    };
    Ok(Report {
        plan: plan.clone(),
        backend,
        no_batch,
        addr,
        expected,
        echoed,
        cut_short,
        elapsed: finished.saturating_duration_since(t0),
        rtt,
        server: server_side,
        nofile_raised,
    })
}

/// The counters over the measured phase: `after - before` for everything that only grows.
fn delta(before: &Stats, after: &Stats) -> Stats {
    let (a, b) = (before, after);
    Stats {
        kevent_calls: b.kevent_calls - a.kevent_calls,
        changes: b.changes - a.changes,
        events: b.events - a.events,
        messages: b.messages - a.messages,
        accepted: b.accepted - a.accepted,
        closed: b.closed - a.closed,
        write_mode_flips: b.write_mode_flips - a.write_mode_flips,
        reads: b.reads - a.reads,
        writes: b.writes - a.writes,
        os_calls: b.os_calls.since(&a.os_calls),
        // Levels, not totals: the value at the end.
        ..*after
    }
}
