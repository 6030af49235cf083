//! What one `lab bench` is asked to do, and the plan it runs after checking the request.

use std::net::{SocketAddr, ToSocketAddrs};
use std::time::Duration;

use crate::client::framing::PREFIX_LEN;
use crate::server::{self, Config, EventApi};
use crate::{Error, Result};

/// The bench's options as given (the command line turns its flags into this).
#[derive(Clone, Debug)]
pub struct Options {
    /// Concurrent connections.
    pub connections: usize,
    /// Messages each connection sends.
    pub messages: usize,
    /// Message size in bytes, without the 4-byte length prefix.
    pub size: usize,
    /// Messages in flight per connection.
    pub pipeline: usize,
    /// Target server `host:port`; `None` starts a server in this process on port 0.
    pub addr: Option<String>,
    /// The in-process server's event API.
    pub backend: EventApi,
    /// The in-process server applies every change with its own kevent call.
    pub no_batch: bool,
    /// Write the report as one JSON object.
    pub json: bool,
    /// Run the in-process server three ways back to back and print the ratios.
    pub compare: bool,
    /// Client threads.
    pub threads: usize,
    /// SO_SNDBUF for the in-process server's sockets.
    pub sndbuf: Option<usize>,
    /// With `compare`: rounds of the three servers.
    pub rounds: usize,
    /// Round trips per connection before measuring; `None`: a tenth of `messages`, 1 to 100.
    pub warmup: Option<usize>,
    /// Stop sending after this long even if messages remain.
    pub duration: Duration,
}

/// The validated settings of one bench (STYLE.md habit 7).
#[derive(Clone, Debug)]
pub struct Plan {
    pub connections: usize,
    pub messages: u64,
    pub size: usize,
    pub pipeline: usize,
    pub threads: usize,
    pub warmup: u64,
    pub duration: Duration,
    /// `None`: start a server in this process.
    pub addr: Option<SocketAddr>,
    pub backend: EventApi,
    pub no_batch: bool,
    /// `--compare`: rounds of (kqueue, epoll, kqueue --no-batch), interleaved so that a slow
    /// moment of a shared machine falls on all three alike.
    pub rounds: usize,
    /// SO_SNDBUF for the in-process server's accepted sockets.
    pub sndbuf: Option<usize>,
}

impl Plan {
    /// Check the options against each other and against the in-process server.
    pub fn new(opts: &Options) -> Result<Plan> {
        // A count of zero would measure nothing.
        for (flag, count) in [
            ("--connections", opts.connections),
            ("--messages", opts.messages),
            ("--pipeline", opts.pipeline),
            ("--threads", opts.threads),
            ("--rounds", opts.rounds),
        ] {
            if count == 0 {
                return Err(Error::usage(format!("{flag} must be at least 1")));
            }
        }
        if opts.duration.is_zero() {
            return Err(Error::usage("--duration must be at least 1 (seconds)"));
        }
        let addr = match &opts.addr {
            None => None,
            Some(text) => Some(
                text.to_socket_addrs()
                    .ok()
                    .and_then(|mut addrs| addrs.next())
                    .ok_or_else(|| {
                        Error::usage(format!(
                            "--addr {text}: expected host:port, e.g. 127.0.0.1:5882"
                        ))
                    })?,
            ),
        };
        // The in-process server has the contract's default buffer; a frame must fit in it.
        let buffer = Config::default().buffer_size;
        if addr.is_none() && opts.size + PREFIX_LEN > buffer {
            return Err(Error::usage(format!(
                "--size {} does not fit the server's {buffer}-byte buffer (at most {} bytes \
                 after the 4-byte length)",
                opts.size,
                buffer - PREFIX_LEN
            )));
        }
        if opts.size > u32::MAX as usize - PREFIX_LEN {
            return Err(Error::usage("--size must fit a 4-byte length"));
        }
        // More would wait in the listen queue of a server that has disabled its listener.
        let max_clients = Config::default().max_clients;
        if addr.is_none() && opts.connections > max_clients {
            return Err(Error::usage(format!(
                "--connections {} is more than the in-process server's {max_clients} clients",
                opts.connections
            )));
        }
        if opts.sndbuf == Some(0) {
            return Err(Error::usage("--sndbuf must be at least 1"));
        }
        if addr.is_some() && opts.sndbuf.is_some() {
            return Err(Error::usage(
                "--sndbuf sets the in-process server's sockets: leave out --addr",
            ));
        }
        if opts.compare && addr.is_some() {
            return Err(Error::usage(
                "--compare starts its own servers: leave out --addr",
            ));
        }
        if addr.is_some() && (opts.no_batch || opts.backend != EventApi::Kqueue) {
            return Err(Error::usage(
                "--backend and --no-batch choose the in-process server: leave out --addr",
            ));
        }
        server::check_backend(opts.backend)?;
        let messages = opts.messages as u64;
        Ok(Plan {
            connections: opts.connections,
            messages,
            size: opts.size,
            pipeline: opts.pipeline,
            threads: opts.threads.min(opts.connections),
            warmup: opts
                .warmup
                .map(|w| w as u64)
                .unwrap_or_else(|| (messages / 10).clamp(1, 100)),
            duration: opts.duration,
            addr,
            backend: opts.backend,
            no_batch: opts.no_batch,
            rounds: opts.rounds,
            sndbuf: opts.sndbuf,
        })
    }
}
