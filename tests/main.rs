//! The integration tests: one binary, one module per area (STYLE.md habit 8).
//! Each test says in its doc comment what a person would do and what they should see.

/// Shared helpers: waiting for conditions with deadlines, loopback sockets, running `lab`.
mod support;

/// The kqueue conformance suite: one narrative test per behaviour B1–B26 of the spec.
mod conformance;

/// The flag stages (flood, oneshot, dispatch, clear): default tours, scripts, keys, terminal.
mod stages;

/// `lab server` and `lab client`: the echo server over real sockets.
mod server;

/// `lab bench` and the epoll backend: correctness of the load generator.
mod bench;

/// `lab check`: the scorecard for a server an attendee wrote, against flawed servers.
mod check;

/// The workshop: lessons, progress, predictions, replay, and every command in the lessons.
mod lessons;

/// Nothing lost, nothing unbounded: long lines, odd progress files, quiet servers, big tours.
mod robust;
