//! A server in a thread of this process, without a trace: for the tests, `lab bench` and
//! `lab check`.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::poller::{OsCallCounter, Waker};
use super::recorder::{Counters, Recorder, Stats};
use super::{check_backend, kqueue_error, new_poller, server, Config};
use crate::{Error, Result};

/// A server running in a thread of this process (tests, `lab bench`). No trace is built.
pub struct ServerHandle {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    waker: Waker,
    counters: Arc<Counters>,
    os_calls: OsCallCounter,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl ServerHandle {
    /// The address the server listens on (port 0 resolved).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters now, while the server runs.
    pub fn stats(&self) -> Stats {
        self.counters.snapshot(self.os_calls.get())
    }

    /// Stop the loop (EVFILT_USER + NOTE_TRIGGER wakes it), wait for its thread, and return the
    /// final counters.
    pub fn stop(mut self) -> Result<Stats> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<Stats> {
        self.stop.store(true, Ordering::SeqCst);
        self.waker
            .wake()
            .map_err(|err| crate::error::io_context("waking the server loop", err))?;
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return Err(kqueue_error("server loop", err)),
                Err(_) => return Err(Error::runtime("the server thread panicked")),
            }
        }
        Ok(self.stats())
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.shutdown();
        }
    }
}

/// Start a server on `config` in a new thread, without a trace. Binds before returning, so
/// `handle.addr()` is ready for clients.
pub fn spawn(config: Config) -> Result<ServerHandle> {
    check_backend(config.backend)?;
    config.check_budget()?;
    let listener = config.bind()?;
    let addr = listener
        .local_addr()
        .map_err(|err| crate::error::io_context("reading the bound address", err))?;
    let counters = Arc::new(Counters::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel::<io::Result<(Waker, OsCallCounter)>>();
    let thread = {
        let counters = Arc::clone(&counters);
        let stop = Arc::clone(&stop);
        std::thread::Builder::new()
            .name("lab-server".into())
            .spawn(move || -> io::Result<()> {
                // Built in this thread: the recorder and the queue stay here.
                let mut rec = Recorder::new(None, false, Arc::clone(&counters));
                let setup = new_poller(&config, Arc::clone(&counters), &mut rec)
                    .and_then(|poller| {
                        server::Server::new(config, poller, rec, listener, Arc::clone(&stop))
                    })
                    .and_then(|server| {
                        let handles = (server.poller.waker()?, server.poller.os_call_counter());
                        Ok((server, handles))
                    });
                let mut server = match setup {
                    Ok((server, handles)) => {
                        let _ = ready_tx.send(Ok(handles));
                        server
                    }
                    Err(err) => {
                        let _ = ready_tx.send(Err(io::Error::new(err.kind(), err.to_string())));
                        return Err(err);
                    }
                };
                let outcome = server.run();
                server.close_all();
                outcome
            })
            .map_err(|err| crate::error::io_context("starting the server thread", err))?
    };
    match ready_rx.recv() {
        Ok(Ok((waker, os_calls))) => Ok(ServerHandle {
            addr,
            stop,
            waker,
            counters,
            os_calls,
            thread: Some(thread),
        }),
        Ok(Err(err)) => {
            let _ = thread.join();
            Err(kqueue_error("starting the server", err))
        }
        Err(_) => {
            let _ = thread.join();
            Err(Error::runtime("the server thread ended before it started"))
        }
    }
}
