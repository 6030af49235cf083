//! The flag stages of Part 7: `flood`, `oneshot`, `dispatch`, `clear`, and `write`, the
//! WRITE filter on its own.
//!
//! Each stage is one small file that says what the tutorial says: the flags each accepted
//! connection's READ knote is added with, what re-arming means, and what a person should notice
//! when an event is delivered. What they share: the event loop, to hold beside the tutorial's
//! (`event_loop.rs`); setup, the built-in client, the keys and the actions (`harness.rs`); the
//! stage's words for each delivery (`narrate.rs`). The script language, shared with
//! `lab server`, is `crate::script`; the traced kqueue is `crate::trace::traced`.

use crate::kq::Kevent;
use crate::term::TraceOptions;

mod clear;
mod dispatch;
mod event_loop;
mod flood;
pub mod harness;
mod narrate;
mod oneshot;
pub(crate) mod write;

/// Which flag stage to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    Flood,
    Oneshot,
    Dispatch,
    Clear,
    Write,
}

impl Stage {
    /// True for `lab write`: the WRITE filter, the server writes and the client reads.
    pub fn server_writes(&self) -> bool {
        self.filter == crate::kq::EVFILT_WRITE
    }
}

impl StageKind {
    /// The stage's definition (its file's `STAGE`).
    pub fn stage(self) -> &'static Stage {
        match self {
            StageKind::Flood => &flood::STAGE,
            StageKind::Oneshot => &oneshot::STAGE,
            StageKind::Dispatch => &dispatch::STAGE,
            StageKind::Clear => &clear::STAGE,
            StageKind::Write => &write::STAGE,
        }
    }

    /// The command name: `flood`, `oneshot`, `dispatch`, `clear`, `write`.
    pub fn name(self) -> &'static str {
        self.stage().name
    }

    /// The default tour (contract: run when not interactive and no `--script`, and with
    /// `--tour` or `--step`).
    pub fn default_tour(self) -> &'static str {
        self.stage().tour
    }
}

/// What a flag stage is: the lesson in data, read by the harness.
pub struct Stage {
    /// The command name.
    pub name: &'static str,
    /// One line for the header: what the stage shows.
    pub teaches: &'static str,
    /// The filter every accepted connection's knote is added with: EVFILT_READ, or EVFILT_WRITE
    /// for `lab write`, where the server is the one that writes (`fill`) and the client the one
    /// that reads (`read`).
    pub filter: i16,
    /// The flags every accepted connection's knote is added with.
    pub flags: u16,
    /// The default tour, a script.
    pub tour: &'static str,
    /// What `rearm` does for a connection's knote (fd, udata).
    pub rearm: fn(usize, usize) -> Rearm,
    /// A note for the first delivery to a connection's knote (conn label, data), said once
    /// per delivery for the flag modes and once per flood for the level-triggered stage.
    pub delivered: fn(&str, i64) -> Option<String>,
}

/// How to run a flag stage (from the shared options of the command line).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StageConfig {
    /// Where the stage's listener listens (`--host`, `--port`; port 0 picks a free one).
    pub host: String,
    pub port: u16,
    /// No built-in client: wait for real ones (`--external`).
    pub external: bool,
    /// The actions to run instead of keys or the default tour (`--script`).
    pub script: Option<String>,
    /// Keys drive the run (decided once, by the command line: `cli::CommonArgs::interactive`).
    pub interactive: bool,
    /// `--step`: the default tour, waiting for Space before each action (needs a terminal).
    pub step: bool,
    pub trace: TraceOptions,
}

/// How a stage run ended.
#[derive(Clone, Debug)]
pub struct StageRun {
    pub summary: crate::trace::Summary,
    /// The script or tour ran to its last action: not stopped by `q`, Ctrl-C or a signal (the
    /// lessons count only a tour that reached its end).
    pub reached_end: bool,
}

/// What re-arming means in a stage.
pub enum Rearm {
    /// Apply this change, for this reason.
    Change(Kevent, &'static str),
    /// Nothing to do, and why.
    NotNeeded(&'static str),
}

/// `lab flood`, `lab oneshot`, `lab dispatch`, `lab clear`, `lab write`: run a stage, driven by its script,
/// its keys or its default tour, and return its summary (`--predict` and the lessons' progress
/// are handled by the caller, one level up).
pub fn run(kind: StageKind, config: &StageConfig) -> crate::Result<StageRun> {
    harness::run(kind.stage(), config)
}
