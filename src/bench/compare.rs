//! `lab bench --compare`: the kqueue server, the raw epoll backend and the kqueue server with
//! `--no-batch`, several rounds interleaved, and the ratios of the same round.

use super::plan::Plan;
use super::report::{self, ReportJson};
use super::run::{run_once, Report};
use crate::server::{self, EventApi, Stats};
use crate::trace::json::Num;
use crate::{Error, Result};

/// `--compare`: the kqueue server, the epoll backend and `--no-batch`, round after round.
pub fn compare(plan: &Plan, json: bool) -> Result<()> {
    let mut configs = vec![(EventApi::Kqueue, false)];
    let epoll = server::check_backend(EventApi::Epoll).is_ok();
    if epoll {
        configs.push((EventApi::Epoll, false));
    }
    configs.push((EventApi::Kqueue, true));
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
        let ratios = |values: &[f64]| Ratios {
            median: Num(median(values)),
            rounds: values.iter().copied().map(Num).collect(),
        };
        let out = CompareJson {
            compare: Comparison {
                rounds: plan.rounds,
                kqueue_over_epoll_msgs_per_s: kqueue_vs_epoll.as_deref().map(ratios),
                kqueue_over_epoll_server_cpu_per_message: kqueue_vs_epoll_cpu
                    .as_deref()
                    .map(ratios),
                batched_over_no_batch_msgs_per_s: ratios(&batched_vs_no_batch),
                batched_over_no_batch_kevent_calls_per_message: ratios(
                    &kevent_calls_batched_vs_no_batch,
                ),
                runs: rounds.iter().flatten().map(ReportJson::new).collect(),
            },
        };
        println!(
            "{}",
            serde_json::to_string(&out).expect("the comparison serializes")
        );
        return Ok(());
    }

    report::say(
        &format!(
            "lab bench --compare: {} connection(s) × {} message(s) of {} bytes, {} in flight \
             per connection, {} client thread(s); {} rounds, the servers interleaved",
            plan.connections, plan.messages, plan.size, plan.pipeline, plan.threads, plan.rounds
        ),
        "lab bench --compare: ".len(),
    );
    // The table fits 80 columns; each round's msgs/s follow it (issue 11).
    println!("{}", report::compare_heading());
    let mut per_round = Vec::new();
    for (c, _) in configs.iter().enumerate() {
        let runs: Vec<&Report> = rounds.iter().map(|round| &round[c]).collect();
        let rates: Vec<f64> = runs.iter().map(|r| r.msgs_per_s()).collect();
        let mid = runs[median_index(&rates)];
        let side = mid.server.as_ref();
        println!(
            "{}",
            report::compare_row(
                &mid.label(),
                median(&rates),
                mid.rtt.quantile(0.5).as_secs_f64() * 1000.0,
                mid.rtt.quantile(0.99).as_secs_f64() * 1000.0,
                side.map_or(0.0, |s| s.stats.syscalls_per_message()),
                match (mid.backend, side) {
                    (EventApi::Kqueue, Some(s)) => Some(kevent_per_message(&s.stats)),
                    _ => None,
                },
                side.and_then(|s| s.cpu).map(|cpu| {
                    cpu.as_secs_f64() * 1e6 / side.map_or(1, |s| s.stats.messages.max(1)) as f64
                }),
            )
        );
        let rates: Vec<String> = rates.iter().map(|r| format!("{r:.0}")).collect();
        per_round.push(format!("{} {}", mid.label(), rates.join(" ")));
    }
    if plan.rounds > 1 {
        report::say(
            &format!("msgs/s per round: {}", per_round.join("; ")),
            "msgs/s per round: ".len(),
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
        Some(r) => report::say(
            &format!(
                "kqueue / epoll msgs/s: {:.3}× (median of the rounds: {})",
                median(r),
                show(r)
            ),
            2,
        ),
        None => println!("kqueue / epoll: --backend epoll needs Linux, not compared"),
    }
    if let Some(r) = &kqueue_vs_epoll_cpu {
        report::say(
            &format!(
                "kqueue / epoll server CPU per message: {:.3}× (median of the rounds: {})",
                median(r),
                show(r)
            ),
            2,
        );
    }
    report::say(
        &format!(
            "batched / --no-batch msgs/s: {:.3}× (median of the rounds: {})",
            median(&batched_vs_no_batch),
            show(&batched_vs_no_batch)
        ),
        2,
    );
    report::say(
        &format!(
            "batched / --no-batch kevent calls per message: {:.3}× (median of the rounds: {}; \
             each is one system call on a real kqueue)",
            median(&kevent_calls_batched_vs_no_batch),
            show(&kevent_calls_batched_vs_no_batch)
        ),
        2,
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

/// `--compare --json`: one object (the fields and their order are the report's contract).
#[derive(serde::Serialize)]
struct CompareJson {
    compare: Comparison,
}

#[derive(serde::Serialize)]
struct Comparison {
    rounds: usize,
    kqueue_over_epoll_msgs_per_s: Option<Ratios>,
    kqueue_over_epoll_server_cpu_per_message: Option<Ratios>,
    batched_over_no_batch_msgs_per_s: Ratios,
    batched_over_no_batch_kevent_calls_per_message: Ratios,
    runs: Vec<ReportJson>,
}

/// A ratio in each round, and their median.
#[derive(serde::Serialize)]
struct Ratios {
    median: Num,
    rounds: Vec<Num>,
}
