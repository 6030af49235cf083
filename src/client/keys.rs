//! The built-in client that the keys of an interactive `lab server` drive: its connections
//! (`c` opens one, `1`–`9` chooses, `s` sends `ping`, `x` closes) and the tour `t` plays.
//!
//! It acts from the server loop's thread: on loopback a connect completes in the listener's
//! accept queue and an 8-byte write fits in the socket buffer, so neither waits for the server.
//! Each connection has a thread that reads its echoes; it reports each one on a channel and calls
//! `wake`, which wakes the server loop (a `wake` knote) so the trace can say that `ping` came
//! back. What to say about it is the server's business (`crate::server::interactive`).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::framing::{read_message, write_message, PREFIX_LEN};
use super::tour::{Tour, TourPlan};

/// How long a connect waits (it completes in the accept queue at once, unless the queue is
/// full).
const CONNECT_PATIENCE: Duration = Duration::from_secs(2);

/// The message `s` sends (contract: `s` sends `ping`).
pub const PING: &[u8] = b"ping";

/// Wakes the server loop: a client thread has something to report.
pub type Wake = Arc<dyn Fn() + Send + Sync>;

/// What the client threads report.
pub enum Report {
    /// Connection `client` read an echo.
    Echo { client: usize, message: Vec<u8> },
    /// Connection `client` reached end of file (the server closed it) or failed; it was open
    /// until now.
    Closed { client: usize },
    /// The tour started by `t` is over.
    TourDone,
}

/// One connection of the built-in client.
struct Conn {
    stream: TcpStream,
    /// The connection's local address: the server sees it as the peer of one `connN`.
    local: SocketAddr,
    reader: Option<JoinHandle<()>>,
}

impl Conn {
    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// The built-in client's connections, numbered from 1 as the keys name them.
pub struct KeyClient {
    addr: SocketAddr,
    /// Connection N is `conns[N - 1]`; `None` once closed.
    conns: Vec<Option<Conn>>,
    /// The current connection, 1-based (0: none yet).
    current: usize,
    reports_tx: Sender<Report>,
    reports: Receiver<Report>,
    wake: Wake,
    plan: TourPlan,
    tour: Option<JoinHandle<()>>,
    /// The server's stop flag: a tour started by `t` stops starting clients once it is set.
    stop: Arc<AtomicBool>,
}

impl KeyClient {
    pub fn new(addr: SocketAddr, plan: TourPlan, stop: Arc<AtomicBool>, wake: Wake) -> KeyClient {
        let (reports_tx, reports) = mpsc::channel();
        KeyClient {
            addr,
            conns: Vec::new(),
            current: 0,
            reports_tx,
            reports,
            wake,
            plan,
            tour: None,
            stop,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The tour `t` plays.
    pub fn plan(&self) -> &TourPlan {
        &self.plan
    }

    /// The current connection, 1-based (0: none yet).
    pub fn current(&self) -> usize {
        self.current
    }

    /// How many connections were opened (closed ones included).
    pub fn opened(&self) -> usize {
        self.conns.len()
    }

    /// Connection `n`'s local address, while it is open.
    pub fn local_addr(&self, n: usize) -> Option<SocketAddr> {
        Some(self.conns.get(n.checked_sub(1)?)?.as_ref()?.local)
    }

    /// `c`: open a new connection, which becomes the current one: its number and local address.
    pub fn connect(&mut self) -> io::Result<(usize, SocketAddr)> {
        let stream = TcpStream::connect_timeout(&self.addr, CONNECT_PATIENCE)?;
        let _ = stream.set_nodelay(true);
        let local = stream.local_addr()?;
        let echoes = stream.try_clone()?;
        let n = self.conns.len() + 1;
        let reader = self.spawn_reader(n, echoes);
        self.conns.push(Some(Conn {
            stream,
            local,
            reader: Some(reader),
        }));
        self.current = n;
        Ok((n, local))
    }

    /// A thread that reads the echoes on one connection and reports them.
    fn spawn_reader(&self, client: usize, mut echoes: TcpStream) -> JoinHandle<()> {
        let reports = self.reports_tx.clone();
        let wake = Arc::clone(&self.wake);
        thread::spawn(move || {
            while let Ok(Some(message)) = read_message(&mut echoes) {
                if reports.send(Report::Echo { client, message }).is_err() {
                    return;
                }
                wake();
            }
            let _ = reports.send(Report::Closed { client });
            wake();
        })
    }

    /// `1`–`9`: connection `n` becomes the current one; false if there is no such connection.
    pub fn select(&mut self, n: usize) -> bool {
        if n == 0 || n > self.conns.len() {
            return false;
        }
        self.current = n;
        true
    }

    /// `s`: the current connection sends a framed `ping`: its number, its local address and the
    /// bytes written (the prefix included). `None` when no connection is open to send on.
    pub fn send_ping(&mut self) -> Option<(usize, SocketAddr, io::Result<usize>)> {
        let n = self.current;
        let conn = self.open_conn(n)?;
        let sent = write_message(&mut conn.stream, PING).map(|()| PING.len() + PREFIX_LEN);
        Some((n, conn.local, sent))
    }

    /// `x`: the current connection closes (the server sees EV_EOF, B21): its number, or `None`
    /// when no connection is open.
    pub fn close_current(&mut self) -> Option<usize> {
        let n = self.current;
        self.open_conn(n)?.close();
        self.conns[n - 1] = None;
        Some(n)
    }

    fn open_conn(&mut self, n: usize) -> Option<&mut Conn> {
        self.conns.get_mut(n.checked_sub(1)?)?.as_mut()
    }

    /// Whether the tour `t` started is still running.
    pub fn tour_running(&self) -> bool {
        self.tour.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// `t`: play the default tour's clients in a thread of their own (after the previous tour,
    /// if any, is over: see [`KeyClient::tour_running`]).
    pub fn start_tour(&mut self) {
        if let Some(done) = self.tour.take() {
            let _ = done.join();
        }
        let tour = Tour::connect(self.addr, &self.plan);
        let stop = Arc::clone(&self.stop);
        let reports = self.reports_tx.clone();
        let wake = Arc::clone(&self.wake);
        self.tour = Some(thread::spawn(move || {
            tour.run(&stop);
            let _ = reports.send(Report::TourDone);
            wake();
        }));
    }

    /// The next report of the client threads, if any. A connection's end of file is reported
    /// only if it was still open (a close by `x` was said already); the tour's thread is joined
    /// when it reports that it is done.
    pub fn next_report(&mut self) -> Option<Report> {
        while let Ok(report) = self.reports.try_recv() {
            match report {
                Report::Closed { client } => {
                    let Some(mut conn) = self.conns.get_mut(client - 1).and_then(Option::take)
                    else {
                        continue;
                    };
                    conn.close();
                    return Some(Report::Closed { client });
                }
                Report::TourDone => {
                    if let Some(done) = self.tour.take() {
                        let _ = done.join();
                    }
                    return Some(Report::TourDone);
                }
                echo => return Some(echo),
            }
        }
        None
    }

    /// Close the connections and wait for their threads and the tour's. Call it once the
    /// server has closed its sockets, so every client thread sees end of file.
    pub fn finish(mut self) {
        for conn in self.conns.iter_mut().flatten() {
            conn.close();
        }
        if let Some(tour) = self.tour.take() {
            let _ = tour.join();
        }
    }
}
