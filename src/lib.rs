//! # kqueue-lab
//!
//! An interactive kqueue teaching lab, following Part 7 ("Kqueue") of the series *TCP Server in
//! Zig*. Each stage runs live with a built-in client and prints an annotated trace of every
//! kevent call: changes in, events out, decoded, and explained.
//!
//! Comments, notes in the trace and tests cite the behaviours **B1–B26** of
//! `docs/kqueue-semantics.md` and the **errata** of the published tutorial in `docs/errata.md`.
//!
//! # Layout
//!
//! - [`kq`]: the portable kqueue API. `native.rs` is the real kqueue (macOS, BSDs) through
//!   `libc`; `emulated/` is the lab's emulation over epoll on Linux, with FreeBSD semantics.
//! - [`trace`]: the records of a run (the JSON contract); `traced`, the one traced kqueue the
//!   stages and the server call (timing, labels as a typed `Role`, the shadow knote table of
//!   `knotes`, the OS calls, the records); `collapse`, the one place that decides which calls
//!   repeat; the renderers: `text` (with `words` and `palette`) and `json` (serde, written and
//!   read back); `sink_output`, the bounded queue between a sink and a pipe.
//! - [`term`]: the terminal guard, key reading, TTY detection, and `screen`, the live text sink.
//! - [`stages`]: `flood`, `oneshot`, `dispatch`, `clear`, one file each; `event_loop`, the loop
//!   to hold beside the tutorial's; the harness they share (setup, built-in client, actions).
//! - [`script`]: the action language of `--script` (and the keys), one parser for every stage.
//! - [`server`]: the tutorial's full echo server: the loop, the client, the reader, the batched
//!   changelist, the interactive console; and the raw epoll twin. Plain settings in
//!   (`Config`, `RunOptions`), the summary out.
//! - [`client`]: everything that talks to a server: the framing (Part 2), the tour's demo
//!   clients, the `--script` driver, the client the interactive server's keys drive, `lab client`.
//! - [`bench`](mod@bench): `lab bench`, the load generator: plan, run, report, compare.
//! - [`check`]: `lab check`, the scorecard for a server an attendee wrote, over TCP.
//! - [`lessons`]: the workshop, embedded from `lessons/`, with progress and predictions. Nothing
//!   in the run path calls it: `main.rs` asks, runs, grades and records progress.
//! - [`replay`]: `lab replay`, a saved `--json` trace rendered as annotated text.
//! - [`selftest`]: `lab selftest`, the kqueue conformance scenarios (B1–B26) that `cargo test`
//!   also runs, checked in the binary against the kqueue of the machine it is on.
//! - [`sys`]: the OS calls outside the kqueue backends, each wrapped with its `// SAFETY:` line.
//! - [`cli`]: the clap types, and the conversions into the modules' plain settings (only it and
//!   `main.rs` know clap); [`error`]: the failures and their exit statuses.

pub mod bench;
pub mod check;
pub mod cli;
pub mod client;
pub mod error;
pub mod kq;
pub mod lessons;
pub mod replay;
pub mod script;
pub mod selftest;
pub mod server;
pub mod stages;
pub mod sys;
pub mod term;
pub mod trace;

pub use error::{Error, Result};
