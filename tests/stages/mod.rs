//! Integration tests: the flag stages (flood, oneshot, dispatch, clear), driven through the real
//! `lab` binary on port 0: the default tours and what each one proves, bad scripts and ports,
//! `--external` with a real client, output that behaves in pipes, and the interactive mode in a
//! real terminal (tmux).

/// Running `lab` and reading its JSON trace: records, phases between actions, knote tables.
mod run;

/// Each stage's default tour with `--json`, asserting the stage's claim.
mod tours;

/// The kevent changes by script, the partial read, `lab write`, and notes that stay true.
mod actions;

/// Mistakes: a bad script, a port in use.
mod errors;

/// `--external`: a plain TcpStream plays the client, SIGTERM ends the run.
mod external;

/// Output in pipes: no escape codes, `lab flood | head` ends quietly.
mod output;

/// `--pager`: the trace in a pager with its colours, the tour instead of keys, `q` ends the run;
/// piped it does nothing (stages, server, replay).
mod pager;

/// `--external` in a terminal: the footer offers no built-in-client keys, at 80 and 44 columns.
mod external_footer;

/// Interactive mode in a real terminal (tmux): keys, footer, and the terminal restored after q,
/// Ctrl-C, a runtime error and a panic.
mod terminal;

/// A flood that does not fit the eventlist (round-robin) still collapses; counts stay exact.
mod collapse;

/// A trace nobody reads never stalls the run: records are dropped, counted and reported.
mod blocked_output;

/// Traces that fit a laptop: the epoll calls and the lab's own knotes opt-in, notes wrapped in a
/// terminal, the footer keeping `q` and `?`, long knote tables as their changed rows.
mod display;
