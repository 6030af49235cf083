//! `lab server`: the appendix of Part 7, a length-prefixed echo server with a batched changelist.
//!
//! Hold these files next to the tutorial:
//!
//! | tutorial                                                        | here                   |
//! |-----------------------------------------------------------------|------------------------|
//! | `Server` (run, accept, closeClient, enforceTimeout)             | [`server`]             |
//! | `Client` (to_write, writeMessage, write)                        | [`client`]             |
//! | `Reader` (readMessage, bufferedMessage, ensureSpace)            | [`reader`]             |
//! | `KQueue` (change_list, queueChange, wait, readMode, writeMode)  | [`kqueue`]             |
//! | `read_timeout_list`                                             | [`timeouts`]           |
//! | `@intFromPtr(client)` in udata                                  | [`token`] (checked)    |
//! | the 4-byte length prefix (Part 2)                               | [`crate::client::framing`] |
//!
//! Where the names differ: `run`'s `switch (ready.udata)` is `decode` in [`kqueue`] plus
//! `Server::handle_event`; its read loop is `Server::on_readable` and `Server::serve`;
//! `writeMessage`'s copy into `write_buf` is `Client::take_messages`; `readMessage` and
//! `bufferedMessage` are `Reader::read_from` and `Reader::next_frame`. The tutorial's
//! `Client.write` calls `readMode`/`writeMode` itself; here `Client::write` only reports how far
//! it got, and `Server::serve`/`Server::write_mode` stage the flip.
//!
//! Beyond the tutorial: [`poller`] is the seam the loop is written over (so a raw-epoll twin can
//! reuse everything else), [`recorder`] what the loop tells the trace (the knote table it shows
//! is [`crate::trace::knotes`], shared with the flag stages), and [`interactive`] the keys in a
//! terminal. The traffic (the tour's demo clients, `--script`, `lab client`) is in
//! [`crate::client`].
//!
//! Around the loop, this module is the map and three small files: `config.rs` ([`Config`],
//! [`EventApi`]: the settings, plain data), `run.rs` ([`run`]: `lab server` with its trace, the
//! mode, the opening notes and the summary) and `spawn.rs` ([`spawn`]: a server in a thread of
//! this process, without a trace, for the tests, `lab bench` and `lab check`). The epoll twin is
//! chosen here, at module level (`twin`), never with `cfg` inside a function.

pub mod client;
mod config;
/// The raw epoll twin (`--backend epoll`, Linux only).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod epoll;
pub mod interactive;
pub mod kqueue;
pub mod poller;
pub mod reader;
pub mod recorder;
mod run;
#[allow(clippy::module_inception)]
pub mod server;
mod spawn;
/// `--step`: the tour one pass of the event loop per Space.
pub mod step;
pub mod timeouts;
pub mod token;

use std::io;
use std::sync::Arc;

use crate::{Error, Result};

pub use self::config::{Config, EventApi, DEFAULT_MEMORY_BUDGET};
use self::kqueue::KQueue;
use self::poller::{Poller, Words};
pub use self::recorder::Stats;
use self::recorder::{Counters, Recorder};
pub use self::run::{run, RunOptions, ServerRun, TOUR_READ_TIMEOUT, TOUR_SEND_BUFFER};
pub use self::spawn::{spawn, ServerHandle};

/// `--backend epoll` needs Linux's epoll: elsewhere it is a usage error (exit 2).
pub fn check_backend(backend: EventApi) -> Result<()> {
    if backend == EventApi::Epoll && !twin::AVAILABLE {
        return Err(Error::usage("--backend epoll needs Linux"));
    }
    Ok(())
}

/// The event API the config asks for, behind the [`Poller`] seam.
fn new_poller(
    config: &Config,
    counters: Arc<Counters>,
    rec: &mut Recorder,
) -> io::Result<Box<dyn Poller>> {
    match config.backend {
        EventApi::Kqueue => Ok(Box::new(KQueue::new(
            config.kqueue_config(),
            counters,
            rec,
        )?)),
        EventApi::Epoll => twin::poller(config, counters, rec),
    }
}

/// The words of the event API the config asks for, before its poller exists (the opening notes
/// come first); the same as [`Poller::words`] gives once it does.
fn words_for(config: &Config) -> Words {
    match config.backend {
        EventApi::Kqueue => KQueue::words(&config.kqueue_config()),
        EventApi::Epoll => twin::words(config),
    }
}

/// The raw epoll twin, where Linux has it (the backend is chosen here, at module level:
/// STYLE.md habit 3).
#[cfg(any(target_os = "linux", target_os = "android"))]
mod twin {
    use super::*;

    pub const AVAILABLE: bool = true;

    pub fn poller(
        config: &Config,
        counters: Arc<Counters>,
        rec: &mut Recorder,
    ) -> io::Result<Box<dyn Poller>> {
        Ok(Box::new(epoll::Epoll::new(
            config.event_list,
            counters,
            rec,
        )?))
    }

    pub fn words(config: &Config) -> Words {
        epoll::Epoll::words(config.event_list)
    }
}

/// No epoll here: [`check_backend`] refuses `--backend epoll` before anything asks for it.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod twin {
    use super::*;

    pub const AVAILABLE: bool = false;

    pub fn poller(
        _config: &Config,
        _counters: Arc<Counters>,
        _rec: &mut Recorder,
    ) -> io::Result<Box<dyn Poller>> {
        Err(io::Error::from_raw_os_error(libc::ENOSYS))
    }

    pub fn words(config: &Config) -> Words {
        KQueue::words(&config.kqueue_config())
    }
}

fn kqueue_error(what: &str, err: io::Error) -> Error {
    if err.raw_os_error() == Some(libc::ENOSYS) {
        Error::runtime(format!(
            "{what}: the kqueue backend is not available in this build ({err})"
        ))
    } else {
        crate::error::io_context(what, err)
    }
}
