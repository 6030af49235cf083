//! The integration tests: one binary, one module per area (STYLE.md habit 8).
//! Each test says in its doc comment what a person would do and what they should see.

/// Shared helpers: waiting for conditions with deadlines, loopback sockets, running `lab`.
mod support;

/// The kqueue conformance suite: one narrative test per behaviour B1–B26 of the spec.
mod conformance;
