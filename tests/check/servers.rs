//! Small echo servers written for these tests, one flaw each: the kind of server an attendee
//! might write, with the bug `lab check` must catch. Without a flaw the server is correct: one
//! thread per client, TCP_NODELAY, a 6 s read timeout, messages of at most 4,092 bytes.

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The largest message, as in the tutorial (a 4,096-byte buffer less the prefix).
pub const MAX_MESSAGE: usize = 4092;

/// The read timeout of the servers that have one (and of `lab server` in these tests). A
/// server rightly closes a client silent that long, and on a loaded test machine `lab check`
/// itself can be starved for seconds between two messages: at 2 s, correct servers closed the
/// pipelined, concurrent and slow-reader checks' clients mid-check (issue 15). Six seconds is
/// beyond any stall seen there; the idle check waits that long (and a half at most).
pub const IDLE_TIMEOUT_MS: u64 = 6000;

/// How the server is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    /// None: a correct server.
    None,
    /// Accepted sockets keep Nagle's algorithm on, and each echo is its own write (errata 12).
    NoNodelay,
    /// When an echo's write blocks while more messages are buffered, the client is closed
    /// (errata 11). Its send buffer is small (8 KiB), as on a machine with small buffers.
    DropsPipelined,
    /// No read timeout: idle clients stay connected for ever.
    NeverClosesIdle,
    /// Every accepted socket is kept open (a descriptor leak); after 300 the server stops
    /// accepting, as a process does at its open-file limit.
    LeaksDescriptors,
    /// A length over the maximum brings the whole server down.
    CrashesOnOversize,
    /// After the client's EOF the server keeps its side open for ever.
    KeepsHalfClosedOpen,
    /// A client's reset brings the whole server down.
    /// (It serves one client at a time, so it is dead before it accepts the next one.)
    DiesOnReset,
    /// Only the first message of each read is echoed; the rest of the read is dropped.
    OneMessagePerRead,
    /// What is left of a read after its complete frames is thrown away: a frame that arrives
    /// in pieces is lost.
    DropsPartialFrames,
    /// One client at a time: the next is accepted only when the current one leaves.
    OneClientAtATime,
    /// Every echo is written under one global lock, with a blocking write: a client that never
    /// reads holds the lock, and everyone waits. Small send buffers (8 KiB), as above.
    GlobalLockAroundWrites,
}

/// A running flawed server; stopped when dropped.
pub struct Broken {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

/// What the server's threads share.
struct Shared {
    flaw: Flaw,
    addr: SocketAddr,
    /// Set when the test ends, or when a flaw "crashes" the server.
    stopped: Mutex<bool>,
    stop_changed: Condvar,
    leaked: Mutex<Vec<TcpStream>>,
    write_lock: Mutex<()>,
}

impl Shared {
    fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap()
    }

    /// Stop everything: the acceptor wakes up (a connection to itself) and returns, which
    /// closes the listener; the client threads see the flag after their next read. Only the
    /// first stop connects: after a crash the listener is closed, and its port may already
    /// belong to another test's server, which would count a stray client.
    fn stop(&self) {
        let already = std::mem::replace(&mut *self.stopped.lock().unwrap(), true);
        self.stop_changed.notify_all();
        if !already {
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        }
    }

    /// Block this thread until the server stops (a server that hangs on to something).
    fn wait_for_stop(&self) {
        let mut stopped = self.stopped.lock().unwrap();
        while !*stopped {
            stopped = self.stop_changed.wait(stopped).unwrap();
        }
    }
}

impl Broken {
    pub fn start(flaw: Flaw) -> Broken {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let shared = Arc::new(Shared {
            flaw,
            addr,
            stopped: Mutex::new(false),
            stop_changed: Condvar::new(),
            leaked: Mutex::new(Vec::new()),
            write_lock: Mutex::new(()),
        });
        let acceptor = {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || accept_loop(listener, shared))
        };
        Broken {
            addr,
            shared,
            acceptor: Some(acceptor),
        }
    }
}

impl Drop for Broken {
    fn drop(&mut self) {
        self.shared.stop();
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        self.shared.leaked.lock().unwrap().clear();
    }
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((stream, _)) = listener.accept() else {
            return;
        };
        if shared.is_stopped() {
            return;
        }
        if shared.flaw == Flaw::LeaksDescriptors {
            let mut leaked = shared.leaked.lock().unwrap();
            if leaked.len() >= 300 {
                // "Too many open files": nothing more is accepted.
                drop(leaked);
                shared.wait_for_stop();
                return;
            }
            leaked.push(stream.try_clone().expect("try_clone"));
        }
        // A server that dies on a reset also serves one client at a time, so that it is dead
        // before it accepts the next client: in a thread per client, the reset could be
        // noticed only after the check's next client was already served (a race, not a flaw).
        if matches!(shared.flaw, Flaw::OneClientAtATime | Flaw::DiesOnReset) {
            serve(stream, &shared);
            continue;
        }
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || serve(stream, &shared));
    }
}

/// One client: read, take every complete frame, echo it.
fn serve(mut stream: TcpStream, shared: &Shared) {
    let flaw = shared.flaw;
    if flaw != Flaw::NoNodelay {
        let _ = stream.set_nodelay(true);
    }
    if flaw != Flaw::NeverClosesIdle {
        let _ = stream.set_read_timeout(Some(Duration::from_millis(IDLE_TIMEOUT_MS)));
    }
    // Small send buffers, so that a client that does not read blocks this server's writes at
    // once (Linux would otherwise grow a loopback send buffer to megabytes).
    if matches!(flaw, Flaw::DropsPipelined | Flaw::GlobalLockAroundWrites) {
        set_send_buffer(&stream, 8192);
    }
    let mut pending = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) => {
                if flaw == Flaw::KeepsHalfClosedOpen {
                    shared.wait_for_stop();
                }
                return;
            }
            Ok(n) => n,
            Err(err) if err.kind() == ErrorKind::Interrupted => continue,
            Err(err) if err.kind() == ErrorKind::ConnectionReset => {
                if flaw == Flaw::DiesOnReset {
                    shared.stop();
                }
                return;
            }
            // The read timeout (WouldBlock/TimedOut) or any other error: close the client.
            Err(_) => return,
        };
        if shared.is_stopped() {
            return;
        }
        pending.extend_from_slice(&chunk[..n]);
        loop {
            if pending.len() < 4 {
                break;
            }
            let len = u32::from_le_bytes(pending[..4].try_into().unwrap()) as usize;
            if len > MAX_MESSAGE {
                if flaw == Flaw::CrashesOnOversize {
                    shared.stop();
                }
                return;
            }
            if pending.len() < 4 + len {
                break;
            }
            let frame: Vec<u8> = pending.drain(..4 + len).collect();
            if !echo(&mut stream, &frame, &pending, shared) {
                return;
            }
            if flaw == Flaw::OneMessagePerRead {
                pending.clear();
                break;
            }
        }
        if flaw == Flaw::DropsPartialFrames {
            pending.clear();
        }
    }
}

/// Write one echo; false when the client is to be closed.
fn echo(stream: &mut TcpStream, frame: &[u8], still_buffered: &[u8], shared: &Shared) -> bool {
    match shared.flaw {
        Flaw::GlobalLockAroundWrites => {
            let _guard = shared.write_lock.lock().unwrap();
            stream.write_all(frame).is_ok()
        }
        Flaw::DropsPipelined => {
            // Try the write without blocking, as the tutorial's non-blocking server does.
            stream.set_nonblocking(true).unwrap();
            let mut written = 0;
            while written < frame.len() {
                match stream.write(&frame[written..]) {
                    Ok(n) => written += n,
                    Err(err) if err.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => return false,
                }
            }
            stream.set_nonblocking(false).unwrap();
            if written < frame.len() && has_frame(still_buffered) {
                // The write is pending and another message is waiting: as published,
                // writeMessage returns error.PendingMessage and the client is closed.
                return false;
            }
            stream.write_all(&frame[written..]).is_ok()
        }
        _ => stream.write_all(frame).is_ok(),
    }
}

/// Whether `buffered` starts with a complete frame.
fn has_frame(buffered: &[u8]) -> bool {
    buffered.len() >= 4
        && buffered.len() >= 4 + u32::from_le_bytes(buffered[..4].try_into().unwrap()) as usize
}

/// SO_SNDBUF on an accepted socket.
fn set_send_buffer(stream: &TcpStream, size: i32) {
    // SAFETY: setsockopt(2) on a socket we own, reading a live c_int of the size passed.
    let ret = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDBUF,
            (&size as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(ret, 0, "SO_SNDBUF");
}
