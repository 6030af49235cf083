//! The workshop: the lessons as files (every command in them runs, every trace excerpt matches a
//! real run), `lab lessons` / `lab lesson`, progress, `--predict` and `lab replay`.
//!
//! Every test points LAB_STATE_DIR at a temporary directory of its own: no test reads or writes
//! the real progress file in the user's home.

/// Helpers: a temporary state directory, running `lab` with a deadline, reading the lessons.
mod harness;

/// Every `lab ...` command in the lessons' `sh` blocks runs and exits 0.
mod commands;

/// Every trace excerpt in the lessons agrees with a real run of its command.
mod excerpts;

/// Every stage lesson has the same sections, and the binary embeds every lesson file.
mod structure;

/// The facilitator's guide: the timetables add up, the per-system table covers every lesson.
mod facilitator;

/// `lab lessons`, `lab lesson N`, answers, progress across processes, `--reset`.
mod listing;

/// Progress: only a lesson's own tour (or `--predict`), run to its end, marks it done.
mod progress;

/// `lab <stage> --predict`: the question, the answer on stdin, the verdict.
mod predict;

/// `lab explain B15`, `lab explain errata 11`: the cited behaviour or erratum.
mod explain;

/// `lab lesson N` in a terminal: the pager keeps the colours, `q` returns to the shell.
pub(crate) mod pager;

/// `lab replay FILE`: a saved `--json` trace redrawn as text; bad files give one-line errors.
mod replay;

/// Every lesson command typed into a real terminal (tmux) at 80×24 and 160×50: what the screen
/// shows is what the lesson says.
mod in_terminal;
