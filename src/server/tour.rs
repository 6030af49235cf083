//! The built-in traffic of `lab server`: the default tour's demo clients, and `--script`.
//!
//! The tour is deterministic in what it does (timing decides only how the server's batches fall).
//! The clients connect in order, so client N is the trace's `connN`:
//! - **conn1, echo**: pipelines three short messages and hangs up at once (shutdown of its
//!   sending half), then reads the three echoes: the server sees data and EOF together;
//! - **conn2, slow reader**: shrinks its receive buffer (SO_RCVBUF) before connecting, pipelines
//!   buffer-sized messages, and reads its echoes slowly, so the server's writes hit WouldBlock:
//!   write mode, then back to read mode, again and again;
//! - **conn3, idle**: sends one message, then goes quiet until the read timeout closes it;
//! - any further client echoes like conn1.

use std::io::{self, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::FromRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use super::framing::{self, read_message, write_message};
use crate::{Error, Result};

/// What the tour needs to know about the server it talks to.
#[derive(Clone, Debug)]
pub struct TourPlan {
    pub clients: usize,
    pub buffer_size: usize,
    pub read_timeout: Duration,
}

/// Messages the slow reader pipelines, each as large as the buffer allows.
const SLOW_MESSAGES: usize = 16;
/// Its receive buffer: small, so the echoes back up into the server's send buffer.
const SLOW_RCVBUF: i32 = 4096;
/// Its pause after each echo it reads.
const SLOW_PAUSE: Duration = Duration::from_millis(4);

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

/// One sentence per built-in client, for the trace's opening note.
pub fn describe(clients: usize) -> String {
    if clients == 0 {
        return "tour: no built-in clients (--clients 0)".into();
    }
    let parts: Vec<String> = (0..clients)
        .map(|i| {
            let what = match role(i) {
                Role::Echo => "pipelines 3 messages and hangs up at once, then reads the 3 echoes",
                Role::SlowReader => {
                    "shrinks its SO_RCVBUF and reads its echoes slowly: the server's writes hit \
                     WouldBlock (write mode and back)"
                }
                Role::Idle => "sends one message, then goes idle until the read timeout",
            };
            format!("conn{} {what}", i + 1)
        })
        .collect();
    format!("tour: {}", parts.join("; "))
}

/// Run the tour's clients to completion (or until `stop`).
pub fn run_tour(addr: SocketAddr, plan: &TourPlan, stop: &AtomicBool) {
    // Connect one after the other: the accept queue is first in, first out, so client N is the
    // trace's connN. Then everyone starts at once.
    let streams: Vec<(Role, io::Result<TcpStream>)> = (0..plan.clients)
        .map(|i| {
            let stream = match role(i) {
                Role::SlowReader => connect_with_rcvbuf(addr, SLOW_RCVBUF),
                _ => TcpStream::connect(addr),
            };
            (role(i), stream)
        })
        .collect();
    let start = Arc::new(Barrier::new(plan.clients));
    let handles: Vec<_> = streams
        .into_iter()
        .map(|(role, connected)| {
            let start = Arc::clone(&start);
            let plan = plan.clone();
            thread::spawn(move || {
                start.wait();
                let Ok(stream) = connected else { return };
                // Never hang a tour on a server that went away or never answers.
                let _ = stream.set_read_timeout(Some(plan.read_timeout + Duration::from_secs(2)));
                let _ = match role {
                    Role::Echo => echo_client(stream),
                    Role::SlowReader => slow_reader(stream, plan.buffer_size),
                    Role::Idle => idle_client(stream),
                };
            })
        })
        .collect();
    for handle in handles {
        let _ = handle.join();
    }
    let _ = stop.load(Ordering::SeqCst);
}

fn echo_client(mut stream: TcpStream) -> io::Result<()> {
    let messages: [&[u8]; 3] = [b"hello", b"kqueue batches changes", b"one call"];
    let mut burst = Vec::new();
    for message in messages {
        burst.extend_from_slice(&framing::encode(message));
    }
    stream.write_all(&burst)?;
    // Hang up at once (our half only): the messages and the FIN arrive together, so the server
    // sees EV_EOF with data still to read (B21) and must echo before it closes.
    stream.shutdown(Shutdown::Write)?;
    for message in messages {
        let echo = read_message(&mut stream)?;
        if echo.as_deref() != Some(message) {
            return Err(io::Error::other("echo differs"));
        }
    }
    Ok(())
}

fn slow_reader(stream: TcpStream, buffer_size: usize) -> io::Result<()> {
    let size = buffer_size.saturating_sub(framing::PREFIX_LEN).max(1);
    let mut writer = stream.try_clone()?;
    let sender = thread::spawn(move || -> io::Result<()> {
        for i in 0..SLOW_MESSAGES {
            write_message(&mut writer, &vec![b'a' + (i % 26) as u8; size])?;
        }
        Ok(())
    });
    let mut reader = stream;
    for _ in 0..SLOW_MESSAGES {
        if read_message(&mut reader)?.is_none() {
            break;
        }
        thread::sleep(SLOW_PAUSE);
    }
    let _ = sender.join();
    Ok(())
}

fn idle_client(mut stream: TcpStream) -> io::Result<()> {
    write_message(&mut stream, b"and now I go quiet")?;
    read_message(&mut stream)?;
    // Wait for the server to close us: read returns end of file.
    while read_message(&mut stream)?.is_some() {}
    Ok(())
}

/// Connect with SO_RCVBUF set *before* connecting (it sizes the TCP window offered in the
/// handshake), which `std::net` cannot do.
pub fn connect_with_rcvbuf(addr: SocketAddr, rcvbuf: i32) -> io::Result<TcpStream> {
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) with constant arguments; the result is checked.
    let fd = unsafe { libc::socket(family, libc::SOCK_STREAM, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a socket we just created and own; TcpStream closes it on drop.
    let stream = unsafe { TcpStream::from_raw_fd(fd) };
    // SAFETY: setsockopt(2) reads a c_int we own, with its size.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&rcvbuf as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: sockaddr_storage is plain data; zeroed is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(v4) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in.
            let sin = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in) };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.ip().octets());
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            // SAFETY: sockaddr_storage is large enough and aligned for sockaddr_in6.
            let sin6 = unsafe { &mut *(&mut storage as *mut _ as *mut libc::sockaddr_in6) };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_addr.s6_addr = v6.ip().octets();
            sin6.sin6_scope_id = v6.scope_id();
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    // SAFETY: connect(2) on our socket with an address of the stated length.
    let rc = unsafe {
        libc::connect(
            fd,
            (&storage as *const libc::sockaddr_storage).cast(),
            len as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(stream)
}

// ----- --script ---------------------------------------------------------------------------------

/// One scripted action for the server stage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Connect,
    Use(usize),
    Send(Vec<u8>),
    Fill(usize),
    Close,
    Wait(Duration),
    Quit,
}

const KNOWN: &str = "connect, use N, send TEXT, fill N, close, wait MS, quit";

/// Parse `--script` before anything runs: a bad action is a usage error (exit 2). Without
/// `--external` the built-in client's connection 1 is open from the start.
pub fn parse_script(text: &str, external: bool) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    let mut connections = usize::from(!external);
    for raw in text.split(';') {
        let item = raw.trim();
        if item.is_empty() {
            continue;
        }
        let (word, rest) = match item.split_once(char::is_whitespace) {
            Some((w, r)) => (w, r.trim()),
            None => (item, ""),
        };
        let number = |what: &str| -> Result<usize> {
            rest.parse::<usize>().map_err(|_| {
                Error::usage(format!(
                    "--script: '{item}': expected {word} {what} (a whole number)"
                ))
            })
        };
        let needs_connection = |connections: usize| -> Result<()> {
            if connections == 0 {
                Err(Error::usage(format!(
                    "--script: '{item}': no connection yet (add 'connect' before it)"
                )))
            } else {
                Ok(())
            }
        };
        let action = match word {
            "connect" => {
                connections += 1;
                Action::Connect
            }
            "use" => {
                let n = number("N")?;
                if n == 0 || n > connections {
                    return Err(Error::usage(format!(
                        "--script: '{item}': connection {n} does not exist ({connections} opened by then)"
                    )));
                }
                Action::Use(n)
            }
            "send" => {
                needs_connection(connections)?;
                if rest.is_empty() {
                    return Err(Error::usage(format!(
                        "--script: '{item}': expected send TEXT"
                    )));
                }
                Action::Send(unescape(rest).into_bytes())
            }
            "fill" => {
                needs_connection(connections)?;
                Action::Fill(number("N")?)
            }
            "close" => {
                needs_connection(connections)?;
                Action::Close
            }
            "wait" => Action::Wait(Duration::from_millis(number("MS")? as u64)),
            "quit" => Action::Quit,
            "read" | "rearm" => {
                return Err(Error::usage(format!(
                    "--script: '{item}': that action belongs to the flag stages; the server \
                     reads by itself (lab server knows: {KNOWN})"
                )))
            }
            other => {
                return Err(Error::usage(format!(
                    "--script: unknown action '{other}' (lab server knows: {KNOWN})"
                )))
            }
        };
        actions.push(action);
    }
    Ok(actions)
}

fn unescape(text: &str) -> String {
    text.replace("\\n", "\n").replace("\\t", "\t")
}

/// A scripted connection: the stream, and a thread that reads (and drops) its echoes so the
/// server is never stuck on a client that does not read.
struct ScriptConn {
    stream: TcpStream,
    reader: Option<thread::JoinHandle<()>>,
}

impl ScriptConn {
    fn open(addr: SocketAddr) -> io::Result<ScriptConn> {
        let stream = TcpStream::connect(addr)?;
        let mut echoes = stream.try_clone()?;
        let reader = thread::spawn(move || while let Ok(Some(_)) = read_message(&mut echoes) {});
        Ok(ScriptConn {
            stream,
            reader: Some(reader),
        })
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Run the script's actions against the server at `addr`; `stop` (Ctrl-C) ends it early.
/// Without `external`, connection 1 is opened first.
pub fn run_script(addr: SocketAddr, actions: &[Action], external: bool, stop: &AtomicBool) {
    let mut conns: Vec<ScriptConn> = Vec::new();
    let mut current = 0usize;
    if !external {
        if let Ok(conn) = ScriptConn::open(addr) {
            conns.push(conn);
        }
    }
    for action in actions {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match action {
            Action::Connect => {
                if let Ok(conn) = ScriptConn::open(addr) {
                    conns.push(conn);
                    current = conns.len() - 1;
                }
            }
            Action::Use(n) => current = n - 1,
            Action::Send(bytes) => send(&mut conns, current, bytes),
            Action::Fill(n) => send(&mut conns, current, &vec![b'x'; *n]),
            Action::Close => {
                if let Some(conn) = conns.get_mut(current) {
                    conn.close();
                }
            }
            Action::Wait(duration) => {
                let until = Instant::now() + *duration;
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
                }
            }
            Action::Quit => break,
        }
    }
    for conn in &mut conns {
        conn.close();
    }
}

fn send(conns: &mut [ScriptConn], current: usize, bytes: &[u8]) {
    if let Some(conn) = conns.get_mut(current) {
        let _ = write_message(&mut conn.stream, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_checked_before_anything_runs() {
        assert_eq!(
            parse_script("send hi; wait 10; connect; use 2; close", false).unwrap(),
            vec![
                Action::Send(b"hi".to_vec()),
                Action::Wait(Duration::from_millis(10)),
                Action::Connect,
                Action::Use(2),
                Action::Close
            ]
        );
        assert!(parse_script("use 3", false).is_err());
        assert!(parse_script("send hi", true).is_err());
        assert!(parse_script("dance", false).is_err());
        assert!(parse_script("read", false).is_err());
        assert!(parse_script("wait soon", false).is_err());
        assert_eq!(
            parse_script("wait 5000", true).unwrap(),
            vec![Action::Wait(Duration::from_millis(5000))]
        );
    }
}
