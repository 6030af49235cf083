//! The clients of the echo protocol: everything that talks *to* a lab server over a socket.
//!
//! The server (`crate::server`) is the tutorial's code; these are the lab's own traffic, so
//! `lab bench`, the lessons and the tests depend on them and not on the server's internals.
//!
//! - [`framing`]: the protocol, a 4-byte little-endian length and the message (tutorial, Part 2);
//! - [`tour`]: the default tour's demo clients (echo, slow reader, idle), and its declared plan;
//! - [`script`]: `lab server --script`, the action language played by client connections;
//! - [`echo`]: `lab client`, send messages and print their echoes.
//!
//! The interactive server's key-driven client stays beside the server
//! (`crate::server::interactive`): it narrates into the server's trace as it acts.

pub mod echo;
pub mod framing;
pub mod script;
pub mod tour;
