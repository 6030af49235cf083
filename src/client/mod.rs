//! The clients of the echo protocol: everything that talks *to* a lab server over a socket.
//!
//! The server (`crate::server`) is the tutorial's code; these are the lab's own traffic, so
//! `lab bench`, the lessons and the tests depend on them and not on the server's internals.
//!
//! - [`framing`]: the protocol, a 4-byte little-endian length and the message (tutorial, Part 2);
//! - [`tour`]: the default tour's demo clients (echo, slow reader, idle), and its declared plan;
//! - [`script`]: `lab server --script`, the action language played by client connections;
//! - [`keys`]: the built-in client an interactive `lab server`'s keys drive (`c`, `1`–`9`, `s`,
//!   `x`, `t`); the server's console (`crate::server::interactive`) says in the trace what it did;
//! - [`echo`]: `lab client`, send messages and print their echoes;
//! - [`load`]: the load generator's client, one kqueue driving many connections with messages
//!   in flight, every echo checked: `lab bench` and `lab check` both drive a server with it;
//! - [`histogram`]: round-trip times in constant memory, for `load`.

pub mod echo;
pub mod framing;
pub mod histogram;
pub mod keys;
pub mod load;
pub mod script;
pub mod tour;
