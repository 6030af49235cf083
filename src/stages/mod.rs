//! The four flag stages of Part 7: `flood`, `oneshot`, `dispatch`, `clear`.
//!
//! Each stage is one small file that says what the tutorial says: the flags each accepted
//! connection's READ knote is added with, what re-arming means, and what a person should notice
//! when an event is delivered. Everything they share (the listener, the built-in client, the
//! event loop and keys) is in `harness.rs`; the script language, shared with `lab server`, is
//! `crate::script`; the trace machinery is in `crate::trace`.

use crate::cli::StageArgs;
use crate::kq::Kevent;

mod clear;
mod dispatch;
mod flood;
pub mod harness;
mod oneshot;

/// Which flag stage to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    Flood,
    Oneshot,
    Dispatch,
    Clear,
}

impl StageKind {
    /// The stage's definition (its file's `STAGE`).
    pub fn stage(self) -> &'static Stage {
        match self {
            StageKind::Flood => &flood::STAGE,
            StageKind::Oneshot => &oneshot::STAGE,
            StageKind::Dispatch => &dispatch::STAGE,
            StageKind::Clear => &clear::STAGE,
        }
    }

    /// The command name: `flood`, `oneshot`, `dispatch`, `clear`.
    pub fn name(self) -> &'static str {
        self.stage().name
    }

    /// The default tour (contract: run when not interactive and no `--script`).
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
    /// The flags every accepted connection's EVFILT_READ knote is added with.
    pub flags: u16,
    /// The default tour, a script.
    pub tour: &'static str,
    /// What `rearm` does for a connection's knote (fd, udata).
    pub rearm: fn(usize, usize) -> Rearm,
    /// A note for the first delivery to a connection's knote (conn label, data), said once
    /// per delivery for the flag modes and once per flood for the level-triggered stage.
    pub delivered: fn(&str, i64) -> Option<String>,
}

/// What re-arming means in a stage.
pub enum Rearm {
    /// Apply this change, for this reason.
    Change(Kevent, &'static str),
    /// Nothing to do, and why.
    NotNeeded(&'static str),
}

/// `lab flood`, `lab oneshot`, `lab dispatch`, `lab clear`: run a stage, driven by its script,
/// its keys or its default tour, and return its summary (`--predict` and the lessons' progress
/// are handled by the caller, one level up).
pub fn run(kind: StageKind, args: &StageArgs) -> crate::Result<crate::trace::Summary> {
    harness::run(kind.stage(), args)
}
