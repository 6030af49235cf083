//! The server's settings: which event API, the limits, the sizes, where to listen.

use std::io;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use super::kqueue::KQueueConfig;
use crate::{Error, Result};

/// The event API a server runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum EventApi {
    /// The portable kqueue (native, or emulated over epoll on Linux).
    #[default]
    Kqueue,
    /// Raw epoll, the way Part 6 does it (Linux only): the baseline.
    Epoll,
}

impl EventApi {
    /// Its name in the footer, the bench report and the lessons: `kqueue` or `epoll`.
    pub fn name(self) -> &'static str {
        match self {
            EventApi::Kqueue => "kqueue",
            EventApi::Epoll => "epoll",
        }
    }
}

/// The server's validated settings (STYLE.md habit 7: parsed flags are not the config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    /// When this many clients are connected the listener is disabled.
    pub max_clients: usize,
    /// A client that sends no complete message for this long is closed.
    pub read_timeout: Duration,
    /// Per-client read buffer and write buffer; the largest message is 4 bytes less.
    pub buffer_size: usize,
    /// Staged changes before an early flush.
    pub change_list: usize,
    /// Eventlist capacity.
    pub event_list: usize,
    /// Apply every change with its own kevent call.
    pub no_batch: bool,
    /// Keep the published bugs (errata 4, 5, 8; show where 9 and 11 would strike).
    pub as_published: bool,
    /// SO_SNDBUF for accepted sockets; `None` keeps the OS's (self-tuning) size.
    pub send_buffer: Option<usize>,
    /// The event API underneath: the kqueue, or raw epoll (Linux only).
    pub backend: EventApi,
    /// The most bytes of client buffers the server may hold at once, all clients together
    /// (`--memory-budget-mib`). Each client holds a read and a write buffer of `buffer_size`, so
    /// at most `memory_budget / (2 × buffer_size)` clients are served; connections beyond that
    /// are accepted and closed at once (shed), with a note and a count.
    pub memory_budget: usize,
}

/// The default `--memory-budget-mib`: 256 MiB, eight times what the default 4,096 clients of
/// 4,096-byte buffers need (32 MiB), and two clients at the largest `--buffer-size` (64 MiB).
pub const DEFAULT_MEMORY_BUDGET: usize = 256 * 1024 * 1024;

impl Default for Config {
    /// The contract's defaults, on port 0.
    fn default() -> Config {
        Config {
            host: "127.0.0.1".into(),
            port: 0,
            max_clients: 4096,
            read_timeout: Duration::from_millis(60_000),
            buffer_size: 4096,
            change_list: 16,
            event_list: 128,
            no_batch: false,
            as_published: false,
            send_buffer: None,
            backend: EventApi::Kqueue,
            memory_budget: DEFAULT_MEMORY_BUDGET,
        }
    }
}

impl Config {
    /// The bytes one client holds in the server: its read buffer and its write buffer.
    pub fn bytes_per_client(&self) -> usize {
        self.buffer_size.saturating_mul(2)
    }

    /// How many clients the memory budget holds.
    pub fn clients_in_budget(&self) -> usize {
        self.memory_budget / self.bytes_per_client().max(1)
    }

    /// A budget that cannot hold even one client is a usage error (exit 2).
    pub fn check_budget(&self) -> Result<()> {
        if self.clients_in_budget() == 0 {
            return Err(Error::usage(format!(
                "--memory-budget-mib: {} bytes cannot hold one client's two {}-byte buffers \
                 (raise it, or lower --buffer-size)",
                self.memory_budget, self.buffer_size
            )));
        }
        Ok(())
    }

    pub(super) fn kqueue_config(&self) -> KQueueConfig {
        KQueueConfig {
            change_list: self.change_list,
            event_list: self.event_list,
            no_batch: self.no_batch,
            as_published: self.as_published,
        }
    }

    /// Bind the listening socket (std sets SO_REUSEADDR, as the tutorial does).
    pub fn bind(&self) -> Result<TcpListener> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|err| Error::usage(format!("--host {}: not an address ({err})", self.host)))?
            .collect();
        TcpListener::bind(&addrs[..]).map_err(|err| match err.kind() {
            io::ErrorKind::AddrInUse => Error::runtime(format!(
                "port {} on {} is in use: try --port 0 (any free port)",
                self.port, self.host
            )),
            io::ErrorKind::AddrNotAvailable => Error::runtime(format!(
                "cannot listen on {}: not an address of this machine (try --host 127.0.0.1)",
                self.host
            )),
            io::ErrorKind::PermissionDenied => Error::runtime(format!(
                "not allowed to listen on port {}: try a port above 1023, or --port 0",
                self.port
            )),
            // `[::1]:5882`, not `::1:5882`: an IPv6 host is bracketed before its port.
            _ if self.host.contains(':') => Error::runtime(format!(
                "cannot listen on [{}]:{}: {err}",
                self.host, self.port
            )),
            _ => Error::runtime(format!(
                "cannot listen on {}:{}: {err}",
                self.host, self.port
            )),
        })
    }
}
