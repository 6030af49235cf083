//! The built-in traffic of `lab server`: the default tour's demo clients (`--script` is in `script.rs`).
//!
//! The tour is deterministic in what it does (timing decides only how the server's batches fall).
//! The clients connect in order, so client N is the trace's `connN`:
//! - **conn1, echo**: pipelines three short messages and hangs up (shutdown of its sending half)
//!   before the server loop even starts, then reads the three echoes and the server's close: the
//!   server sees data and EOF together in its first READ event for it;
//! - **conn2, slow reader**: shrinks its receive buffer (SO_RCVBUF) before connecting, pipelines
//!   buffer-sized messages, and reads its echoes slowly, so the server's writes hit WouldBlock:
//!   write mode, then back to read mode, again and again;
//! - **conn3, idle**: sends one message, then goes quiet until the read timeout closes it;
//! - any further client echoes like conn1.
//!
//! Why conn1 goes first, alone, before the loop runs: its burst and its FIN must reach the server
//! together, on every run and every OS. [`Tour::connect`] connects the clients and lets conn1
//! write and hang up while the server has not accepted anyone yet: the kernel completes the
//! handshake in the listener's accept queue, and the bytes and the FIN wait in the
//! not-yet-accepted socket. So the server's first READ event for conn1 carries `data` = 47 and
//! EV_EOF at once (B21): it echoes, then closes. As published, the echo staged `readMode`, and
//! those changes outlive the client: the next kevent returns them as EV_ERROR receipts
//! (errata 9) in every run, not only when a thread happens to win a race. The other clients start
//! only once conn1 has seen the server's close, so nothing else is staged before those receipts
//! (no early flush of the changelist), and every client socket exists before conn1's descriptor
//! is freed, so the number is not reused and the receipts say EBADF, not ENOENT. Under
//! `lab server --step` they start at once instead ([`TourPlan::step`]).

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use super::framing::{self, read_message, write_message};

/// What the tour needs to know about the server it talks to.
#[derive(Clone, Debug)]
pub struct TourPlan {
    pub clients: usize,
    pub buffer_size: usize,
    pub read_timeout: Duration,
    /// `lab server --step`: a person holds the server between kevent calls, for as long as
    /// they talk. The clients then have no deadline of their own (none could be right; the
    /// server closes every socket when the run ends, `q` included, which ends every read and
    /// write), and all start at once, conn1 too: a client that waited for conn1 would sit
    /// silent past its read deadline, which is real time, while the facilitator narrates.
    pub step: bool,
}

/// The messages an echo client pipelines (conn1's burst: 47 bytes with their prefixes).
pub const ECHO_MESSAGES: [&[u8]; 3] = [b"hello", b"kqueue batches changes", b"one call"];
/// Built-in clients when `--clients` is not given: one of each role.
pub const DEFAULT_CLIENTS: usize = 3;
/// The default tour as the lessons describe it, written out as data: the messages the server
/// echoes for each of its clients (conn1 the echo client, conn2 the slow reader, conn3 the idle
/// one), 20 in all. `lab server --predict` explains its verdict with these numbers; a test holds
/// the tour's code to them, so the expectation does not come from the code it checks.
pub const DECLARED_ECHOES: [u64; DEFAULT_CLIENTS] = [3, 16, 1];
/// Messages the slow reader pipelines, each as large as the buffer allows.
pub const SLOW_MESSAGES: usize = 16;
/// The one message the idle client sends before it goes quiet.
pub const IDLE_MESSAGE: &[u8] = b"and now I go quiet";
/// Its receive buffer: small, so the echoes back up into the server's send buffer.
const SLOW_RCVBUF: usize = 4096;
/// Its pause after each echo it reads.
const SLOW_PAUSE: Duration = Duration::from_millis(4);
/// Clients connected before the server loop starts. Far below any listen backlog (128 or more),
/// so these connects complete in the accept queue without the server; any further clients
/// connect once the loop runs.
const PRECONNECTED: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Echo,
    SlowReader,
    Idle,
}

fn role(index: usize) -> Role {
    match index {
        1 => Role::SlowReader,
        2 => Role::Idle,
        _ => Role::Echo,
    }
}

/// Messages the server echoes for client `index` (0 is conn1) in a whole tour.
pub fn messages_echoed_by(index: usize) -> usize {
    match role(index) {
        Role::Echo => ECHO_MESSAGES.len(),
        Role::SlowReader => SLOW_MESSAGES,
        Role::Idle => 1,
    }
}

/// Messages the server echoes in a whole tour of `clients` built-in clients: what `lab server
/// --predict` expects (conn1 3 + conn2 16 + conn3 1 for the default three).
pub fn messages_echoed(clients: usize) -> usize {
    (0..clients).map(messages_echoed_by).sum()
}

/// One sentence per built-in client, for the trace's opening note.
pub fn describe(clients: usize) -> String {
    describe_from(clients, 1)
}

/// [`describe`], for `lab server --step`, whose clients all start at once (`TourPlan::step`).
pub fn describe_stepped(clients: usize) -> String {
    if clients < 2 {
        return describe(clients);
    }
    let text = describe_with(clients, 1, "; under --step all start at once");
    format!(
        "{text} (a client that waited for conn1 would stay silent past its read deadline while \
         you talk)"
    )
}

/// [`describe`], for clients the server numbers from `conn{first}` on: the interactive `t`
/// after `c` opened connections of its own (the tour's conn1 is then `conn{first}`).
pub fn describe_from(clients: usize, first: usize) -> String {
    describe_with(
        clients,
        first,
        &format!("; the others start once conn{first} is done"),
    )
}

/// The sentence, with `after` said of the clients after the first.
fn describe_with(clients: usize, first: usize, after: &str) -> String {
    if clients == 0 {
        return "tour: no built-in clients (--clients 0)".into();
    }
    let echoes = ECHO_MESSAGES.len();
    let parts: Vec<String> = (0..clients)
        .map(|i| {
            let what = match (role(i), i) {
                (Role::Echo, 0) => format!(
                    "pipelines {echoes} messages and hangs up before the loop starts, then reads \
                     the {echoes} echoes"
                ),
                (Role::Echo, _) => format!(
                    "pipelines {echoes} messages and hangs up at once, then reads the {echoes} \
                     echoes"
                ),
                (Role::SlowReader, _) => format!(
                    "shrinks its SO_RCVBUF, pipelines {SLOW_MESSAGES} buffer-sized messages and \
                     reads its echoes slowly: the server's writes hit WouldBlock (write mode and \
                     back)"
                ),
                (Role::Idle, _) => {
                    "sends one message, then goes idle until the read timeout".to_string()
                }
            };
            format!("conn{} {what}", first + i)
        })
        .collect();
    let after = if clients > 1 { after } else { "" };
    let numbering = if first > 1 {
        let shown = clients.min(DEFAULT_CLIENTS);
        let labels = |from: usize| -> Vec<String> {
            (from..from + shown).map(|n| format!("conn{n}")).collect()
        };
        format!(
            " (the server numbers connections as it accepts them: the lessons' {} are {} here)",
            labels(1).join(", "),
            labels(first).join(", ")
        )
    } else {
        String::new()
    };
    format!("tour: {}{after}{numbering}", parts.join("; "))
}

/// The tour's clients, connected before the server loop runs (see the module's notes).
pub struct Tour {
    addr: SocketAddr,
    plan: TourPlan,
    /// Client `i`'s connection, for the first [`PRECONNECTED`] clients.
    connected: Vec<io::Result<TcpStream>>,
}

impl Tour {
    /// Connect the clients in order, and let conn1 send its burst and hang up, all before the
    /// server loop starts: the listener is bound, so the kernel queues the connections, conn1's
    /// bytes and its FIN until the server accepts.
    pub fn connect(addr: SocketAddr, plan: &TourPlan) -> Tour {
        let connected = (0..plan.clients.min(PRECONNECTED))
            .map(|i| {
                let stream = connect_as(addr, role(i), plan)?;
                if i == 0 {
                    send_burst_and_hang_up(&stream)?;
                }
                Ok(stream)
            })
            .collect();
        Tour {
            addr,
            plan: plan.clone(),
            connected,
        }
    }

    /// Run the clients to completion: conn1 reads its echoes and the server's close first, then
    /// the other preconnected clients start at once, and any further client as soon as it is
    /// connected (unless `stop` says the server has stopped meanwhile). Returns one line per
    /// client that did not get all its echoes.
    pub fn run(self, stop: &AtomicBool) -> Vec<String> {
        let Tour {
            addr,
            plan,
            connected,
        } = self;
        let preconnected = connected.len();
        let mut failures = Vec::new();
        let mut connected = connected.into_iter();
        let conn1 = connected.next();
        // The other preconnected clients start together: once conn1 is done, or at once under
        // `--step` (`TourPlan::step`).
        let together: Vec<(usize, io::Result<TcpStream>)> =
            connected.enumerate().map(|(i, s)| (i + 1, s)).collect();
        let mut handles = Vec::new();
        let mut waiting = Some(together);
        if plan.step {
            handles = start_together(waiting.take().unwrap_or_default(), &plan);
        }
        match conn1 {
            Some(Ok(conn1)) => {
                if let Err(err) = read_echoes(conn1) {
                    failures.push(failure(0, &err));
                }
            }
            Some(Err(err)) => failures.push(failure(0, &err)),
            None => {}
        }
        if let Some(together) = waiting {
            if stop.load(Ordering::SeqCst) {
                return failures; // the server stopped (Ctrl-C): nobody would answer the others
            }
            handles = start_together(together, &plan);
        }
        // Clients beyond the first PRECONNECTED connect now, still in order (accept is FIFO),
        // and each starts as soon as it is connected. Not after all of them are connected: the
        // server's read timeout starts when it accepts a client, and connecting thousands, one
        // after the other, can take longer than that; the first ones would be closed as idle
        // before they sent a byte (issue 14: 2,000 clients, 1,116 of 6,011 echoes).
        // An echo client even sends its burst and hangs up here, before the next one connects,
        // so it is never silent while the tour connects the rest.
        for index in preconnected..plan.clients {
            let stream = connect_as(addr, role(index), &plan).and_then(|stream| {
                if role(index) == Role::Echo {
                    send_burst_and_hang_up(&stream)?;
                }
                Ok(stream)
            });
            let plan = plan.clone();
            handles.push((
                index,
                thread::spawn(move || match (role(index), stream) {
                    (Role::Echo, Ok(stream)) => read_echoes(stream),
                    (role, stream) => play(role, stream, &plan),
                }),
            ));
        }
        for (index, handle) in handles {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(err)) => failures.push(failure(index, &err)),
                Err(_) => failures.push(format!("conn{}: its thread panicked", index + 1)),
            }
        }
        failures
    }
}

/// Start these clients on threads of their own, all at the same moment.
fn start_together(
    together: Vec<(usize, io::Result<TcpStream>)>,
    plan: &TourPlan,
) -> Vec<(usize, thread::JoinHandle<io::Result<()>>)> {
    let start = Arc::new(Barrier::new(together.len()));
    together
        .into_iter()
        .map(|(index, stream)| {
            let start = Arc::clone(&start);
            let plan = plan.clone();
            let handle = thread::spawn(move || {
                start.wait();
                play(role(index), stream, &plan)
            });
            (index, handle)
        })
        .collect()
}

/// One client's part of the tour, from its connection to the server's close.
fn play(role: Role, connected: io::Result<TcpStream>, plan: &TourPlan) -> io::Result<()> {
    let stream = connected?;
    match role {
        Role::Echo => send_burst_and_hang_up(&stream).and_then(|()| read_echoes(stream)),
        Role::SlowReader => slow_reader(stream, plan.buffer_size),
        Role::Idle => idle_client(stream),
    }
}

/// `connN: what went wrong`, for the line that says the tour did not finish.
fn failure(index: usize, err: &io::Error) -> String {
    let what = match err.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            "no echo within its read timeout".to_string()
        }
        io::ErrorKind::ConnectionReset => "reset by the server".to_string(),
        _ => err.to_string(),
    };
    format!("conn{}: {what}", index + 1)
}

/// Connect client `role`, with the timeouts that keep a tour from hanging on a server that went
/// away or never answers.
fn connect_as(addr: SocketAddr, role: Role, plan: &TourPlan) -> io::Result<TcpStream> {
    let stream = match role {
        Role::SlowReader => connect_with_rcvbuf(addr, SLOW_RCVBUF)?,
        _ => TcpStream::connect(addr)?,
    };
    // No deadline under --step: see `TourPlan::step`.
    let patience = (!plan.step).then(|| plan.read_timeout + Duration::from_secs(2));
    stream.set_read_timeout(patience)?;
    stream.set_write_timeout(patience)?;
    Ok(stream)
}

/// The echo client's burst: every message in one write, then our sending half shut down, so the
/// messages and the FIN arrive together and the server sees EV_EOF with data still to read (B21):
/// it must echo before it closes.
fn send_burst_and_hang_up(mut stream: &TcpStream) -> io::Result<()> {
    let burst: Vec<u8> = ECHO_MESSAGES
        .iter()
        .flat_map(|m| framing::encode(m))
        .collect();
    stream.write_all(&burst)?;
    stream.shutdown(Shutdown::Write)
}

/// Read the echoes of the burst, then the server's close (end of file).
fn read_echoes(mut stream: TcpStream) -> io::Result<()> {
    for (got, message) in ECHO_MESSAGES.iter().enumerate() {
        match read_message(&mut stream)? {
            None => return Err(closed_after(got, ECHO_MESSAGES.len())),
            Some(echo) if echo != *message => return Err(io::Error::other("echo differs")),
            Some(_) => {}
        }
    }
    while read_message(&mut stream)?.is_some() {}
    Ok(())
}

fn slow_reader(stream: TcpStream, buffer_size: usize) -> io::Result<()> {
    let size = buffer_size.saturating_sub(framing::PREFIX_LEN).max(1);
    // One socket, written by one thread and read by another (`&TcpStream` is both): no dup, so
    // the tour opens no descriptor once the loop runs.
    thread::scope(|scope| {
        let sender = scope.spawn(|| -> io::Result<()> {
            let mut writer = &stream;
            for i in 0..SLOW_MESSAGES {
                write_message(&mut writer, &vec![b'a' + (i % 26) as u8; size])?;
            }
            Ok(())
        });
        let mut reader = &stream;
        for got in 0..SLOW_MESSAGES {
            if read_message(&mut reader)?.is_none() {
                return Err(closed_after(got, SLOW_MESSAGES));
            }
            thread::sleep(SLOW_PAUSE);
        }
        sender
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the sender panicked")))
    })
}

fn idle_client(mut stream: TcpStream) -> io::Result<()> {
    write_message(&mut stream, IDLE_MESSAGE)?;
    if read_message(&mut stream)?.is_none() {
        return Err(closed_after(0, 1));
    }
    // Wait for the server to close us: read returns end of file.
    while read_message(&mut stream)?.is_some() {}
    Ok(())
}

/// The server closed a client before it had echoed everything.
fn closed_after(got: usize, owed: usize) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("closed by the server after {got} of {owed} echoes"),
    )
}

/// Connect with SO_RCVBUF set *before* connecting (it sizes the TCP window offered in the
/// handshake), which `std::net` cannot do: `socket2` creates the socket, sets the option, then
/// connects.
pub fn connect_with_rcvbuf(addr: SocketAddr, rcvbuf: usize) -> io::Result<TcpStream> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_recv_buffer_size(rcvbuf)?;
    socket.connect(&addr.into())?;
    Ok(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The tour's code sends what the lessons say it sends: each client's share of the echoes
    /// matches the declaration the predict question is built from.
    #[test]
    fn the_tour_plays_what_it_declares() {
        for (index, declared) in DECLARED_ECHOES.iter().enumerate() {
            assert_eq!(
                messages_echoed_by(index) as u64,
                *declared,
                "client {index}"
            );
        }
        assert_eq!(messages_echoed(DEFAULT_CLIENTS), 20);
    }
}
