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
//! - [`kq`]: the portable kqueue API (`Kqueue`, `Kevent`, the constants and their `names`).
//!   `native.rs` is the real kqueue (macOS, BSDs) through `libc`; `emulated/` is the lab's
//!   emulation over epoll on Linux, with FreeBSD semantics, one file per filter or concern.
//! - [`trace`]: the records of a run (the JSON contract); `traced`, the one traced kqueue the
//!   stages and the server call (timing, labels as a typed `role::Role`, the shadow knote table
//!   of `knotes`, the OS calls, the records); `collapse`, the one place that decides which calls
//!   repeat; the renderers: `text` (with `words` and `palette`) and `json` (serde, written and
//!   read back; `Num`, the reports' numbers); `sink_output`, the bounded queue between a sink and
//!   a pipe.
//! - [`term`]: the terminal guard, key reading, TTY detection; `screen`, the live text sink; and
//!   `sink_for`, which picks the sink for a run from its `TraceOptions` (JSON or text), so the
//!   trace flows one way: stage → traced kqueue → record → renderer → terminal.
//! - [`stages`]: `flood`, `oneshot`, `dispatch`, `clear`, one file each; `event_loop`, the loop
//!   to hold beside the tutorial's; `narrate`, the stage's words for each delivery; the harness
//!   they share (setup, built-in client, keys, `harness/actions`).
//! - [`script`]: the action language of `--script` (and the keys), one parser for every stage.
//! - [`server`]: the tutorial's full echo server: the loop, the client, the reader, the batched
//!   changelist, the timeouts, the interactive console, its narration; and the raw epoll twin.
//!   Plain settings in (`Config`, `RunOptions`), the summary out; `spawn` for an untraced
//!   server in a thread (tests, bench, check).
//! - [`client`]: everything that talks to a server: the framing (Part 2), the tour's demo
//!   clients, the `--script` driver, the client the interactive server's keys drive,
//!   `lab client` (`echo`), and `load`, the kqueue-driven load client with its `histogram` of
//!   round trips, which `lab bench` and `lab check` both drive servers with.
//! - [`bench`](mod@bench): `lab bench`: plan, run, report, compare, and `system` (open-file
//!   limit, RSS, the server thread's CPU time).
//! - [`check`]: `lab check`, the scorecard for a server an attendee wrote, over TCP: `checks`,
//!   `proc` (what the server process did, `--pid`), `report` (text or JSON lines).
//! - [`lessons`]: the workshop, embedded from `lessons/`: the catalog, the Markdown renderer,
//!   progress and predictions. Nothing in the run path calls it (and it imports neither
//!   `stages` nor `server`): `main.rs` asks, runs, grades and records progress.
//! - [`replay`]: `lab replay`, a saved `--json` trace rendered as annotated text.
//! - [`pager`]: long output through `$PAGER`/`less -R` when taller than the terminal, as git,
//!   and a run's trace with `--pager`.
//! - [`explain`]: `lab explain B15` / `errata 11`, the cited behaviour or erratum, from `docs/`.
//! - [`selftest`]: `lab selftest`, the kqueue conformance scenarios (B1–B26, in `scenarios/`)
//!   that `cargo test` also runs, checked in the binary against the kqueue of the machine it is
//!   on; `support`, their sockets and waits; `report`, the lines and the bug report's JSON.
//! - [`sys`]: the OS calls outside the kqueue backends (`unix`, every Unix; `linux`, epoll and
//!   the Linux measurements), each wrapped with its `// SAFETY:` line; every descriptor they
//!   make is close-on-exec. `unsafe` lives only here and in `kq::native`.
//! - [`cli`]: the clap types, and the conversions into the modules' plain settings (only it and
//!   `main.rs` know clap); [`error`]: the failures and their exit statuses.

pub mod bench;
pub mod check;
pub mod cli;
pub mod client;
pub mod error;
pub mod explain;
pub mod kq;
pub mod lessons;
pub mod pager;
pub mod replay;
pub mod script;
pub mod selftest;
pub mod server;
pub mod stages;
pub mod sys;
pub mod term;
pub mod trace;

pub use error::{Error, Result};
