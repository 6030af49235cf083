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
//!   `knotes`, the OS calls, the records); the renderers: `text` (with `words` and `palette`)
//!   and `json` (serde, written and read back).
//! - [`term`]: the terminal guard, key reading, TTY detection, and `screen`, the live text sink.
//! - [`stages`]: `flood`, `oneshot`, `dispatch`, `clear`, one file each; `event_loop`, the loop
//!   to hold beside the tutorial's; the harness they share (setup, built-in client, actions).
//! - [`script`]: the action language of `--script` (and the keys), one parser for every stage.
//! - [`server`]: the tutorial's full echo server: the loop, the client, the reader, the batched
//!   changelist; `lab client`; and the raw epoll twin.
//! - [`bench`](mod@bench): `lab bench`, the load generator.
//! - [`lessons`]: the workshop, embedded from `lessons/`, with progress and predictions.
//! - [`replay`]: `lab replay`, a saved `--json` trace rendered as annotated text.
//! - [`cli`]: clap types only; [`error`]: the failures and their exit statuses.

pub mod bench;
pub mod cli;
pub mod error;
pub mod kq;
pub mod lessons;
pub mod replay;
pub mod script;
pub mod server;
pub mod stages;
pub mod sys;
pub mod term;
pub mod trace;

pub use error::{Error, Result};
