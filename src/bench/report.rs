//! The report of one run: as text for a person, or as one JSON object.

use std::time::Duration;

use serde::ser::{Serialize, Serializer};

use super::run::Report;
use crate::kq::Backend;
use crate::server::{EventApi, Stats};
use crate::trace::json::{Num, Numbers};
use crate::trace::words::wrap_hanging;

/// The wait calls of the server: kevent for the kqueue server, epoll_wait for the epoll one.
pub fn wait_calls(report: &Report, stats: &Stats) -> u64 {
    match report.backend {
        EventApi::Kqueue => stats.kevent_calls,
        EventApi::Epoll => stats.os_calls.epoll_wait,
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
        (EventApi::Epoll, _) => format!(
            "server: in-process on {}, --backend epoll (raw epoll, one epoll_ctl per change)",
            report.addr
        ),
        (EventApi::Kqueue, no_batch) => format!(
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

/// Print `line` as it fits the terminal: wrapped at spaces, continued `indent` columns in;
/// piped, one line (scripts grep it).
pub fn say(line: &str, indent: usize) {
    match crate::term::screen::prose_width(None) {
        Some(width) => {
            for part in wrap_hanging(line, width, indent) {
                println!("{part}");
            }
        }
        None => println!("{line}"),
    }
}

/// The `--compare` table's heading: the columns lesson 7 names (`sys/msg`, `kevent/msg`),
/// 76 columns in all so that the table fits an 80-column terminal.
pub fn compare_heading() -> String {
    format!(
        "{:<18} {:>8} {:>8} {:>8} {:>8} {:>10} {:>10}",
        "server", "msgs/s", "p50 ms", "p99 ms", "sys/msg", "kevent/msg", "cpu µs/msg"
    )
}

/// One row of the `--compare` table, under [`compare_heading`]; `-` where a column does not
/// apply (no kevent calls on epoll, no CPU time off Linux).
pub fn compare_row(
    label: &str,
    msgs_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    sys_per_msg: f64,
    kevent_per_msg: Option<f64>,
    cpu_us_per_msg: Option<f64>,
) -> String {
    let or_dash =
        |v: Option<f64>, decimals: usize| v.map_or("-".to_string(), |v| format!("{v:.decimals$}"));
    format!(
        "{label:<18} {msgs_per_s:>8.0} {p50_ms:>8.3} {p99_ms:>8.3} {sys_per_msg:>8.3} {:>10} {:>10}",
        or_dash(kevent_per_msg, 4),
        or_dash(cpu_us_per_msg, 2)
    )
}

pub fn print_report(report: &Report) {
    let plan = &report.plan;
    say(
        &format!(
            "lab bench: {} connection(s) × {} message(s) of {} bytes, {} in flight per \
             connection, {} client thread(s)",
            plan.connections, plan.messages, plan.size, plan.pipeline, plan.threads
        ),
        "lab bench: ".len(),
    );
    say(&server_description(report), "server: ".len());
    if let Some((old, new)) = report.nofile_raised {
        say(
            &format!(
                "raised this process's open-file limit (RLIMIT_NOFILE soft) from {old} to {new}"
            ),
            2,
        );
    }
    println!(
        "warm-up: {} round trip(s) per connection first, not measured",
        plan.warmup
    );
    say(
        &format!(
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
        ),
        2,
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
    let calls = match report.backend {
        EventApi::Kqueue => format!(
            "  kevent calls: {:.3} per message, {:.2} changes per call, {:.2} events per call",
            stats.kevent_calls as f64 / msgs,
            stats.changes_per_call(),
            stats.events as f64 / waits
        ),
        EventApi::Epoll => format!(
            "  epoll_wait calls: {:.3} per message, {:.2} events per call; epoll_ctl: {:.3} per \
             message",
            stats.os_calls.epoll_wait as f64 / msgs,
            stats.events as f64 / waits,
            stats.os_calls.epoll_ctl as f64 / msgs
        ),
    };
    say(&calls, 4);
    let parts: Vec<String> = per_message(stats)
        .into_iter()
        .filter(|(name, value)| *value > 0.0 || matches!(*name, "read" | "write" | "epoll_ctl"))
        .map(|(name, value)| format!("{name} {value:.3}"))
        .collect();
    say(
        &format!(
            "  system calls per echoed message: {:.3} = {}",
            stats.syscalls_per_message(),
            parts.join(" + ")
        ),
        4,
    );
    if let Some(cpu) = side.cpu {
        say(
            &format!(
                "  server thread CPU: {:.2} µs per message ({:.0}% of the measured time)",
                cpu.as_secs_f64() * 1e6 / msgs,
                100.0 * cpu.as_secs_f64() / report.elapsed.as_secs_f64().max(1e-9)
            ),
            4,
        );
    }
    if let (Some(idle), Some(loaded)) = (side.rss_idle_kib, side.rss_loaded_kib) {
        say(
            &format!(
                "  memory: process RSS {:.1} MiB above the idle server with {} connections \
                 (server and client side together)",
                loaded.saturating_sub(idle) as f64 / 1024.0,
                plan.connections
            ),
            4,
        );
    }
}

/// Seconds with microseconds, for `elapsed_s`.
#[derive(Clone, Copy, Debug)]
struct Seconds(Duration);

impl Serialize for Seconds {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_f64((self.0.as_secs_f64() * 1e6).round() / 1e6)
    }
}

/// One run as JSON (the fields and their order are the report's contract).
#[derive(serde::Serialize)]
pub struct ReportJson {
    label: String,
    backend: &'static str,
    no_batch: bool,
    in_process: bool,
    addr: String,
    connections: usize,
    messages_per_connection: u64,
    size: usize,
    pipeline: usize,
    threads: usize,
    warmup_per_connection: u64,
    expected: u64,
    echoed: u64,
    complete: bool,
    stopped_by_duration: bool,
    elapsed_s: Seconds,
    msgs_per_s: Num,
    rtt_us: RoundTrips,
    nofile_raised_to: Option<u64>,
    server: Option<ServerJson>,
}

#[derive(serde::Serialize)]
struct RoundTrips {
    p50: Num,
    p99: Num,
    max: Num,
}

/// What the in-process server did over the measured phase.
#[derive(serde::Serialize)]
struct ServerJson {
    messages: u64,
    kevent_calls: u64,
    kevent_calls_per_message: Num,
    changes_per_call: Num,
    wait_calls: u64,
    events_per_call: Num,
    syscalls_per_message: Num,
    per_message: Numbers,
    reads: u64,
    writes: u64,
    epoll_wait: u64,
    epoll_ctl: u64,
    ioctl: u64,
    getsockopt: u64,
    other: u64,
    cpu_us_per_message: Option<Num>,
    rss_idle_kib: Option<u64>,
    rss_loaded_kib: Option<u64>,
    rss_above_idle_kib: Option<u64>,
}

impl ReportJson {
    pub fn new(report: &Report) -> ReportJson {
        let plan = &report.plan;
        let micros = |d: Duration| Num(d.as_secs_f64() * 1e6);
        ReportJson {
            label: report.label(),
            backend: report.backend.name(),
            no_batch: report.no_batch,
            in_process: report.server.is_some(),
            addr: report.addr.to_string(),
            connections: plan.connections,
            messages_per_connection: plan.messages,
            size: plan.size,
            pipeline: plan.pipeline,
            threads: plan.threads,
            warmup_per_connection: plan.warmup,
            expected: report.expected,
            echoed: report.echoed,
            complete: report.echoed == report.expected,
            stopped_by_duration: report.cut_short,
            elapsed_s: Seconds(report.elapsed),
            msgs_per_s: Num(report.msgs_per_s()),
            rtt_us: RoundTrips {
                p50: micros(report.rtt.quantile(0.50)),
                p99: micros(report.rtt.quantile(0.99)),
                max: micros(report.rtt.max()),
            },
            nofile_raised_to: report.nofile_raised.map(|(_, new)| new),
            server: report.server.as_ref().map(|side| {
                let stats = &side.stats;
                let msgs = stats.messages.max(1) as f64;
                let waits = wait_calls(report, stats).max(1) as f64;
                ServerJson {
                    messages: stats.messages,
                    kevent_calls: stats.kevent_calls,
                    kevent_calls_per_message: Num(stats.kevent_calls as f64 / msgs),
                    changes_per_call: Num(stats.changes_per_call()),
                    wait_calls: wait_calls(report, stats),
                    events_per_call: Num(stats.events as f64 / waits),
                    syscalls_per_message: Num(stats.syscalls_per_message()),
                    per_message: Numbers(per_message(stats)),
                    reads: stats.reads,
                    writes: stats.writes,
                    epoll_wait: stats.os_calls.epoll_wait,
                    epoll_ctl: stats.os_calls.epoll_ctl,
                    ioctl: stats.os_calls.ioctl,
                    getsockopt: stats.os_calls.getsockopt,
                    other: stats.os_calls.other,
                    cpu_us_per_message: side.cpu.map(|cpu| Num(cpu.as_secs_f64() * 1e6 / msgs)),
                    rss_idle_kib: side.rss_idle_kib,
                    rss_loaded_kib: side.rss_loaded_kib,
                    rss_above_idle_kib: match (side.rss_idle_kib, side.rss_loaded_kib) {
                        (Some(idle), Some(loaded)) => Some(loaded.saturating_sub(idle)),
                        _ => None,
                    },
                }
            }),
        }
    }
}

/// One run as one line of JSON.
pub fn report_json(report: &Report) -> String {
    serde_json::to_string(&ReportJson::new(report)).expect("the report serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The report's numbers read as they always have: three decimals, no fraction when there is
    /// none (`0`, not `0.0`), and `null` for what could not be computed.
    #[test]
    fn numbers_keep_the_reports_format() {
        let json = |value: f64| serde_json::to_string(&Num(value)).unwrap();
        assert_eq!(json(0.0), "0");
        assert_eq!(json(1.0), "1");
        assert_eq!(json(0.0214), "0.021");
        assert_eq!(json(51352.0643), "51352.064");
        assert_eq!(json(f64::NAN), "null");
        assert_eq!(json(f64::INFINITY), "null");
        let per = Numbers(vec![("read", 1.0), ("write", 0.5), ("kevent", 0.0)]);
        assert_eq!(
            serde_json::to_string(&per).unwrap(),
            r#"{"read":1,"write":0.5,"kevent":0}"#,
            "the keys keep their fixed order"
        );
    }
}
