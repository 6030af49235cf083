//! `lab bench`: a load generator for the server's protocol (a 4-byte little-endian length, then
//! the message; the server echoes it), and the report of what it cost the server.
//!
//! ```text
//! connect N sockets ──► warm-up (W round trips each) ──► snapshot ──► measured phase ──► snapshot
//!                        not measured                     server counters, RSS, CPU
//! ```
//!
//! - `plan`: the options as given, and the plan they make once checked;
//! - `run`: one run, connect, warm up, measure, read the counters;
//! - `report`: the report of a run, as text or JSON;
//! - `compare`: `--compare`, three servers round after round, and their ratios;
//! - `system`: the open-file limit, RSS and the server thread's CPU time.
//!
//! The client threads are [`client::load`]'s `Driver`s, each driving its share of the
//! connections with its own kqueue, and their round-trip times go into a
//! [`client::histogram`]: the same client `lab check` drives a server with.
//!
//! Without `--addr` the server runs in this process, started by [`server::spawn`] exactly as the
//! tests start it (no trace), so its counters can be read: kevent calls, changes, events, and
//! the system calls made underneath, by kind. Those are read over the measured phase only, so
//! connecting and the first messages do not blur the steady state. `--compare` runs the
//! kqueue server, the raw epoll backend and the kqueue server with `--no-batch` back to back,
//! several rounds interleaved, and prints the ratios of the same round.
//!
//! [`server::spawn`]: crate::server::spawn
//! [`client::load`]: crate::client::load
//! [`client::histogram`]: crate::client::histogram

mod compare;
mod plan;
mod report;
mod run;
mod system;

pub use self::plan::{Options, Plan};
use crate::Result;

/// `lab bench`.
pub fn run(opts: &Options) -> Result<()> {
    let plan = Plan::new(opts)?;
    if opts.compare {
        return compare::compare(&plan, opts.json);
    }
    let report = run::run_once(&plan, plan.backend, plan.no_batch)?;
    if opts.json {
        println!("{}", report::report_json(&report));
    } else {
        report::print_report(&report);
    }
    // A run cut short by --duration is a result too: the report says so ("complete": false).
    Ok(())
}
