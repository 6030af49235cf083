//! `lab bench`: a load generator for the server's protocol (a 4-byte little-endian length, then
//! the message; the server echoes it), and the report of what it cost the server.
//!
//! ```text
//! connect N sockets ──► warm-up (W round trips each) ──► snapshot ──► measured phase ──► snapshot
//!                        not measured                     server counters, RSS, CPU
//! ```
//!
//! - `client`: the client threads, each driving its share of the connections with its own
//!   kqueue, keeping `--pipeline` messages in flight per connection and checking every echo.
//! - `histogram`: round-trip times in constant memory.
//! - `system`: the open-file limit, RSS and the server thread's CPU time.
//!
//! Without `--addr` the server runs in this process, started by [`server::spawn`] exactly as the
//! tests start it (no trace), so its counters can be read: kevent calls, changes, events, and
//! the system calls made underneath, by kind. Those are read over the measured phase only, so
//! connecting and the first messages do not blur the steady state. `--compare` runs the
//! kqueue server, the raw epoll backend and the kqueue server with `--no-batch` back to back,
//! several rounds interleaved, and prints the ratios of the same round.

pub(crate) mod client;
pub(crate) mod histogram;
mod system;

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use self::client::{Driver, PhaseResult};
use self::histogram::Histogram;
use crate::cli::{BenchArgs, ServerBackend};
use crate::kq::Backend;
use crate::server::{self, framing::PREFIX_LEN, Config, Stats};
use crate::{Error, Result};

/// The name the in-process server's thread has (`server::spawn`), to read its CPU time.
const SERVER_THREAD: &str = "lab-server";

/// The validated settings of one bench (STYLE.md habit 7).
#[derive(Clone, Debug)]
struct Plan {
    connections: usize,
    messages: u64,
    size: usize,
    pipeline: usize,
    threads: usize,
    warmup: u64,
    duration: Duration,
    /// `None`: start a server in this process.
    addr: Option<SocketAddr>,
    backend: ServerBackend,
    no_batch: bool,
    /// `--compare`: rounds of (kqueue, epoll, kqueue --no-batch), interleaved so that a slow
    /// moment of a shared machine falls on all three alike.
    rounds: usize,
    /// SO_SNDBUF for the in-process server's accepted sockets.
    sndbuf: Option<usize>,
}

impl Plan {
    fn from_args(args: &BenchArgs) -> Result<Plan> {
        // A count of zero would measure nothing.
        for (flag, count) in [
            ("--connections", args.connections),
            ("--messages", args.messages),
            ("--pipeline", args.pipeline),
            ("--threads", args.threads),
            ("--rounds", args.rounds),
        ] {
            if count == 0 {
                return Err(Error::usage(format!("{flag} must be at least 1")));
            }
        }
        if args.duration == 0 {
            return Err(Error::usage("--duration must be at least 1 (seconds)"));
        }
        let addr = match &args.addr {
            None => None,
            Some(text) => Some(
                text.to_socket_addrs()
                    .ok()
                    .and_then(|mut addrs| addrs.next())
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "--addr {text}: expected host:port, e.g. 127.0.0.1:5882"
                        ))
                    })?,
            ),
        };
        // The in-process server has the contract's default buffer; a frame must fit in it.
        let buffer = Config::default().buffer_size;
        if addr.is_none() && args.size + PREFIX_LEN > buffer {
            return Err(Error::usage(format!(
                "--size {} does not fit the server's {buffer}-byte buffer (at most {} bytes \
                 after the 4-byte length)",
                args.size,
                buffer - PREFIX_LEN
            )));
        }
        if args.size > u32::MAX as usize - PREFIX_LEN {
            return Err(Error::usage("--size must fit a 4-byte length"));
        }
        // More would wait in the listen queue of a server that has disabled its listener.
        let max_clients = Config::default().max_clients;
        if addr.is_none() && args.connections > max_clients {
            return Err(Error::usage(format!(
                "--connections {} is more than the in-process server's {max_clients} clients",
                args.connections
            )));
        }
        if args.sndbuf == Some(0) {
            return Err(Error::usage("--sndbuf must be at least 1"));
        }
        if addr.is_some() && args.sndbuf.is_some() {
            return Err(Error::usage(
                "--sndbuf sets the in-process server's sockets: leave out --addr",
            ));
        }
        if args.compare && addr.is_some() {
            return Err(Error::usage(
                "--compare starts its own servers: leave out --addr",
            ));
        }
        if addr.is_some() && (args.no_batch || args.backend != ServerBackend::Kqueue) {
            return Err(Error::usage(
                "--backend and --no-batch choose the in-process server: leave out --addr",
            ));
        }
        server::check_backend(args.backend)?;
        let messages = args.messages as u64;
        Ok(Plan {
            connections: args.connections,
            messages,
            size: args.size,
            pipeline: args.pipeline,
            threads: args.threads.min(args.connections),
            warmup: args
                .warmup
                .map(|w| w as u64)
                .unwrap_or_else(|| (messages / 10).clamp(1, 100)),
            duration: Duration::from_secs(args.duration),
            addr,
            backend: args.backend,
            no_batch: args.no_batch,
            rounds: args.rounds,
            sndbuf: args.sndbuf,
        })
    }
}

/// What the server did during the measured phase (in-process only).
#[derive(Clone, Debug)]
struct ServerSide {
    /// Counters over the measured phase only.
    stats: Stats,
    /// CPU time of the server thread over the measured phase (Linux).
    cpu: Option<Duration>,
    /// Process RSS with the server started and no connection, and after connecting and the
    /// warm-up (KiB, Linux).
    rss_idle_kib: Option<u64>,
    rss_loaded_kib: Option<u64>,
}

/// One bench run.
#[derive(Clone)]
struct Report {
    plan: Plan,
    backend: ServerBackend,
    no_batch: bool,
    addr: SocketAddr,
    expected: u64,
    echoed: u64,
    cut_short: bool,
    elapsed: Duration,
    rtt: Histogram,
    server: Option<ServerSide>,
    /// The soft RLIMIT_NOFILE, when it had to be raised: (before, after).
    nofile_raised: Option<(u64, u64)>,
}

impl Report {
    fn label(&self) -> String {
        match (self.backend, self.no_batch) {
            (ServerBackend::Epoll, _) => "epoll".into(),
            (ServerBackend::Kqueue, false) => "kqueue".into(),
            (ServerBackend::Kqueue, true) => "kqueue --no-batch".into(),
        }
    }

    fn msgs_per_s(&self) -> f64 {
        self.echoed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// `lab bench`.
pub fn run(args: &BenchArgs) -> Result<()> {
    let plan = Plan::from_args(args)?;
    if args.compare {
        return compare(&plan, args.json);
    }
    let report = run_once(&plan, plan.backend, plan.no_batch)?;
    if args.json {
        println!("{}", report_json(&report));
    } else {
        print_report(&report);
    }
    // A run cut short by --duration is a result too: the report says so ("complete": false).
    Ok(())
}

/// One run: connect, warm up, measure, and read the server's counters around the measurement.
fn run_once(plan: &Plan, backend: ServerBackend, no_batch: bool) -> Result<Report> {
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
    let deadline = started + plan.duration;
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

/// The wait calls of the server: kevent for the kqueue server, epoll_wait for the epoll one.
fn wait_calls(report: &Report, stats: &Stats) -> u64 {
    match report.backend {
        ServerBackend::Kqueue => stats.kevent_calls,
        ServerBackend::Epoll => stats.os_calls.epoll_wait,
    }
}

/// The per-message system calls by kind, in a fixed order.
fn per_message(stats: &Stats) -> Vec<(&'static str, f64)> {
    let per = |n: u64| n as f64 / stats.messages.max(1) as f64;
    let os = stats.os_calls;
    vec![
        ("read", per(stats.reads)),
        ("write", per(stats.writes)),
        ("kevent", per(os.kevent)),
        ("epoll_wait", per(os.epoll_wait)),
        ("epoll_ctl", per(os.epoll_ctl)),
        ("ioctl", per(os.ioctl)),
        ("getsockopt", per(os.getsockopt)),
        ("other", per(os.other)),
    ]
}

fn server_description(report: &Report) -> String {
    if report.server.is_none() {
        return format!(
            "server: {} (not started by the bench: its counters are not read)",
            report.addr
        );
    }
    match (report.backend, report.no_batch) {
        (ServerBackend::Epoll, _) => format!(
            "server: in-process on {}, --backend epoll (raw epoll, one epoll_ctl per change)",
            report.addr
        ),
        (ServerBackend::Kqueue, no_batch) => format!(
            "server: in-process on {}, --backend kqueue ({}), {}",
            report.addr,
            Backend::CURRENT.describe(),
            if no_batch {
                "--no-batch: one kevent call per change"
            } else {
                "batched changelist"
            }
        ),
    }
}

/// A duration for a person: seconds, or milliseconds below one second.
fn seconds(d: Duration) -> String {
    if d < Duration::from_secs(1) {
        format!("{:.1} ms", d.as_secs_f64() * 1000.0)
    } else {
        format!("{:.3} s", d.as_secs_f64())
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

fn print_report(report: &Report) {
    let plan = &report.plan;
    println!(
        "lab bench: {} connection(s) × {} message(s) of {} bytes, {} in flight per connection, {} client thread(s)",
        plan.connections, plan.messages, plan.size, plan.pipeline, plan.threads
    );
    println!("{}", server_description(report));
    if let Some((old, new)) = report.nofile_raised {
        println!("raised this process's open-file limit (RLIMIT_NOFILE soft) from {old} to {new}");
    }
    println!(
        "warm-up: {} round trip(s) per connection first, not measured",
        plan.warmup
    );
    println!(
        "echoed {} of {} messages in {}: {:.0} msgs/s{}",
        report.echoed,
        report.expected,
        seconds(report.elapsed),
        report.msgs_per_s(),
        if report.cut_short {
            " (stopped by --duration: not every message was sent)"
        } else {
            ""
        }
    );
    println!(
        "round trip: p50 {}, p99 {}, max {}",
        ms(report.rtt.quantile(0.50)),
        ms(report.rtt.quantile(0.99)),
        ms(report.rtt.max())
    );
    let Some(side) = &report.server else {
        return;
    };
    let stats = &side.stats;
    let msgs = stats.messages.max(1) as f64;
    let waits = wait_calls(report, stats).max(1) as f64;
    println!(
        "server side, over the measured phase only ({} messages echoed):",
        stats.messages
    );
    match report.backend {
        ServerBackend::Kqueue => println!(
            "  kevent calls: {:.3} per message, {:.2} changes per call, {:.2} events per call",
            stats.kevent_calls as f64 / msgs,
            stats.changes_per_call(),
            stats.events as f64 / waits
        ),
        ServerBackend::Epoll => println!(
            "  epoll_wait calls: {:.3} per message, {:.2} events per call; epoll_ctl: {:.3} per message",
            stats.os_calls.epoll_wait as f64 / msgs,
            stats.events as f64 / waits,
            stats.os_calls.epoll_ctl as f64 / msgs
        ),
    }
    let parts: Vec<String> = per_message(stats)
        .into_iter()
        .filter(|(name, value)| *value > 0.0 || matches!(*name, "read" | "write" | "epoll_ctl"))
        .map(|(name, value)| format!("{name} {value:.3}"))
        .collect();
    println!(
        "  system calls per echoed message: {:.3} = {}",
        stats.syscalls_per_message(),
        parts.join(" + ")
    );
    if let Some(cpu) = side.cpu {
        println!(
            "  server thread CPU: {:.2} µs per message ({:.0}% of the measured time)",
            cpu.as_secs_f64() * 1e6 / msgs,
            100.0 * cpu.as_secs_f64() / report.elapsed.as_secs_f64().max(1e-9)
        );
    }
    if let (Some(idle), Some(loaded)) = (side.rss_idle_kib, side.rss_loaded_kib) {
        println!(
            "  memory: process RSS {:.1} MiB above the idle server with {} connections (server and \
             client side together)",
            loaded.saturating_sub(idle) as f64 / 1024.0,
            plan.connections
        );
    }
}

/// A number for JSON: finite, or null.
fn num(value: f64) -> String {
    if value.is_finite() {
        format!("{}", (value * 1000.0).round() / 1000.0)
    } else {
        "null".into()
    }
}

fn opt_u64(value: Option<u64>) -> String {
    value.map_or("null".into(), |v| v.to_string())
}

fn report_json(report: &Report) -> String {
    let plan = &report.plan;
    let micros = |d: Duration| num(d.as_secs_f64() * 1e6);
    let mut out = format!(
        "{{\"label\":\"{}\",\"backend\":\"{}\",\"no_batch\":{},\"in_process\":{},\"addr\":\"{}\",\
         \"connections\":{},\"messages_per_connection\":{},\"size\":{},\"pipeline\":{},\"threads\":{},\
         \"warmup_per_connection\":{},\"expected\":{},\"echoed\":{},\"complete\":{},\
         \"stopped_by_duration\":{},\"elapsed_s\":{:.6},\"msgs_per_s\":{},\
         \"rtt_us\":{{\"p50\":{},\"p99\":{},\"max\":{}}},\"nofile_raised_to\":{}",
        report.label(),
        match report.backend {
            ServerBackend::Kqueue => "kqueue",
            ServerBackend::Epoll => "epoll",
        },
        report.no_batch,
        report.server.is_some(),
        report.addr,
        plan.connections,
        plan.messages,
        plan.size,
        plan.pipeline,
        plan.threads,
        plan.warmup,
        report.expected,
        report.echoed,
        report.echoed == report.expected,
        report.cut_short,
        report.elapsed.as_secs_f64(),
        num(report.msgs_per_s()),
        micros(report.rtt.quantile(0.50)),
        micros(report.rtt.quantile(0.99)),
        micros(report.rtt.max()),
        opt_u64(report.nofile_raised.map(|(_, new)| new)),
    );
    match &report.server {
        None => out.push_str(",\"server\":null"),
        Some(side) => {
            let stats = &side.stats;
            let msgs = stats.messages.max(1) as f64;
            let waits = wait_calls(report, stats).max(1) as f64;
            let per: Vec<String> = per_message(stats)
                .into_iter()
                .map(|(name, value)| format!("\"{name}\":{}", num(value)))
                .collect();
            out.push_str(&format!(
                ",\"server\":{{\"messages\":{},\"kevent_calls\":{},\"kevent_calls_per_message\":{},\
                 \"changes_per_call\":{},\"wait_calls\":{},\"events_per_call\":{},\
                 \"syscalls_per_message\":{},\"per_message\":{{{}}},\"reads\":{},\"writes\":{},\
                 \"epoll_wait\":{},\"epoll_ctl\":{},\"ioctl\":{},\"getsockopt\":{},\"other\":{},\
                 \"cpu_us_per_message\":{},\"rss_idle_kib\":{},\"rss_loaded_kib\":{},\
                 \"rss_above_idle_kib\":{}}}",
                stats.messages,
                stats.kevent_calls,
                num(stats.kevent_calls as f64 / msgs),
                num(stats.changes_per_call()),
                wait_calls(report, stats),
                num(stats.events as f64 / waits),
                num(stats.syscalls_per_message()),
                per.join(","),
                stats.reads,
                stats.writes,
                stats.os_calls.epoll_wait,
                stats.os_calls.epoll_ctl,
                stats.os_calls.ioctl,
                stats.os_calls.getsockopt,
                stats.os_calls.other,
                side.cpu
                    .map_or("null".into(), |cpu| num(cpu.as_secs_f64() * 1e6 / msgs)),
                opt_u64(side.rss_idle_kib),
                opt_u64(side.rss_loaded_kib),
                opt_u64(match (side.rss_idle_kib, side.rss_loaded_kib) {
                    (Some(idle), Some(loaded)) => Some(loaded.saturating_sub(idle)),
                    _ => None,
                }),
            ));
        }
    }
    out.push('}');
    out
}

/// `--compare`: the kqueue server, the epoll backend and `--no-batch`, round after round.
fn compare(plan: &Plan, json: bool) -> Result<()> {
    let mut configs = vec![(ServerBackend::Kqueue, false)];
    let epoll = server::check_backend(ServerBackend::Epoll).is_ok();
    if epoll {
        configs.push((ServerBackend::Epoll, false));
    }
    configs.push((ServerBackend::Kqueue, true));
    let mut rounds: Vec<Vec<Report>> = Vec::with_capacity(plan.rounds);
    for _ in 0..plan.rounds {
        let mut round = Vec::with_capacity(configs.len());
        for (backend, no_batch) in &configs {
            let report = run_once(plan, *backend, *no_batch)?;
            if report.echoed < report.expected {
                return Err(Error::runtime(format!(
                    "{}: only {} of {} messages were echoed within --duration {} s",
                    report.label(),
                    report.echoed,
                    report.expected,
                    plan.duration.as_secs()
                )));
            }
            round.push(report);
        }
        rounds.push(round);
    }
    // Ratios of msgs/s within each round, and their median.
    let ratio = |a: usize, b: usize| -> Vec<f64> {
        rounds
            .iter()
            .map(|round| round[a].msgs_per_s() / round[b].msgs_per_s().max(1e-9))
            .collect()
    };
    // The server thread's CPU time per message, same round: what each server costs, whichever
    // side (client or server) limited the rate.
    let cpu_ratio = |a: usize, b: usize| -> Option<Vec<f64>> {
        rounds
            .iter()
            .map(|round| Some(cpu_per_message(&round[a])? / cpu_per_message(&round[b])?))
            .collect()
    };
    let no_batch_index = configs.len() - 1;
    let kqueue_vs_epoll = epoll.then(|| ratio(0, 1));
    let batched_vs_no_batch = ratio(0, no_batch_index);
    let kqueue_vs_epoll_cpu = if epoll { cpu_ratio(0, 1) } else { None };
    // What batching saves on a real kqueue, where every kevent call is one system call.
    let kevent_calls_batched_vs_no_batch: Vec<f64> = rounds
        .iter()
        .filter_map(|round| {
            let a = kevent_per_message(&round[0].server.as_ref()?.stats);
            let b = kevent_per_message(&round[no_batch_index].server.as_ref()?.stats);
            Some(a / b.max(1e-12))
        })
        .collect();

    if json {
        let runs: Vec<String> = rounds.iter().flatten().map(report_json).collect();
        let list = |values: &[f64]| values.iter().map(|v| num(*v)).collect::<Vec<_>>().join(",");
        let kve = kqueue_vs_epoll.as_deref().map_or("null".to_string(), |r| {
            format!("{{\"median\":{},\"rounds\":[{}]}}", num(median(r)), list(r))
        });
        let kve_cpu = kqueue_vs_epoll_cpu
            .as_deref()
            .map_or("null".to_string(), |r| {
                format!("{{\"median\":{},\"rounds\":[{}]}}", num(median(r)), list(r))
            });
        println!(
            "{{\"compare\":{{\"rounds\":{},\"kqueue_over_epoll_msgs_per_s\":{},\
             \"kqueue_over_epoll_server_cpu_per_message\":{},\
             \"batched_over_no_batch_msgs_per_s\":{{\"median\":{},\"rounds\":[{}]}},\
             \"batched_over_no_batch_kevent_calls_per_message\":{{\"median\":{},\"rounds\":[{}]}},\
             \"runs\":[{}]}}}}",
            plan.rounds,
            kve,
            kve_cpu,
            num(median(&batched_vs_no_batch)),
            list(&batched_vs_no_batch),
            num(median(&kevent_calls_batched_vs_no_batch)),
            list(&kevent_calls_batched_vs_no_batch),
            runs.join(",")
        );
        return Ok(());
    }

    println!(
        "lab bench --compare: {} connection(s) × {} message(s) of {} bytes, {} in flight per \
         connection, {} client thread(s); {} rounds, the servers interleaved",
        plan.connections, plan.messages, plan.size, plan.pipeline, plan.threads, plan.rounds
    );
    println!(
        "{:<18} {:>10} {:>9} {:>9} {:>10} {:>10} {:>10}  msgs/s per round",
        "server", "msgs/s", "p50 ms", "p99 ms", "sys/msg", "kevent/msg", "cpu µs/msg"
    );
    for (c, _) in configs.iter().enumerate() {
        let runs: Vec<&Report> = rounds.iter().map(|round| &round[c]).collect();
        let rates: Vec<f64> = runs.iter().map(|r| r.msgs_per_s()).collect();
        let mid = runs[median_index(&rates)];
        let side = mid.server.as_ref();
        println!(
            "{:<18} {:>10.0} {:>9.3} {:>9.3} {:>10.3} {:>10} {:>10}  {}",
            mid.label(),
            median(&rates),
            mid.rtt.quantile(0.5).as_secs_f64() * 1000.0,
            mid.rtt.quantile(0.99).as_secs_f64() * 1000.0,
            side.map_or(0.0, |s| s.stats.syscalls_per_message()),
            match (mid.backend, side) {
                (ServerBackend::Kqueue, Some(s)) => format!("{:.4}", kevent_per_message(&s.stats)),
                _ => "-".to_string(),
            },
            side.and_then(|s| s.cpu)
                .map_or("-".to_string(), |cpu| format!(
                    "{:.2}",
                    cpu.as_secs_f64() * 1e6 / side.map_or(1, |s| s.stats.messages.max(1)) as f64
                )),
            rates
                .iter()
                .map(|r| format!("{r:.0}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
    }
    let show = |values: &[f64]| {
        values
            .iter()
            .map(|v| format!("{v:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match &kqueue_vs_epoll {
        Some(r) => println!(
            "kqueue / epoll msgs/s: {:.3}× (median of the rounds: {})",
            median(r),
            show(r)
        ),
        None => println!("kqueue / epoll: --backend epoll needs Linux, not compared"),
    }
    if let Some(r) = &kqueue_vs_epoll_cpu {
        println!(
            "kqueue / epoll server CPU per message: {:.3}× (median of the rounds: {})",
            median(r),
            show(r)
        );
    }
    println!(
        "batched / --no-batch msgs/s: {:.3}× (median of the rounds: {})",
        median(&batched_vs_no_batch),
        show(&batched_vs_no_batch)
    );
    println!(
        "batched / --no-batch kevent calls per message: {:.3}× (median of the rounds: {}; each \
         is one system call on a real kqueue)",
        median(&kevent_calls_batched_vs_no_batch),
        show(&kevent_calls_batched_vs_no_batch)
    );
    Ok(())
}

/// kevent calls (waits, early flushes, and with --no-batch one per change) per echoed message.
fn kevent_per_message(stats: &Stats) -> f64 {
    stats.kevent_calls as f64 / stats.messages.max(1) as f64
}

/// Server thread CPU per echoed message, in µs (in-process, Linux).
fn cpu_per_message(report: &Report) -> Option<f64> {
    let side = report.server.as_ref()?;
    Some(side.cpu?.as_secs_f64() * 1e6 / side.stats.messages.max(1) as f64)
}

fn median_index(values: &[f64]) -> usize {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|a, b| values[*a].total_cmp(&values[*b]));
    order[order.len() / 2]
}

fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values[median_index(values)]
}
