//! System calls every Unix has, wrapped as safe functions (see [`crate::sys`]).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::syscall;

/// RLIMIT_NOFILE as (soft, hard): how many descriptors this process may open.
// `rlim_t` is u64 on Linux and macOS but i64 on FreeBSD: the casts are needed there.
#[allow(clippy::unnecessary_cast)]
pub fn open_files_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct rlimit, which is live for the call.
    syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut limit))?;
    Ok((limit.rlim_cur as u64, limit.rlim_max as u64))
}

// `rlim_t` is u64 on Linux and macOS but i64 on FreeBSD: the casts are needed there.
#[allow(clippy::unnecessary_cast)]
/// Set RLIMIT_NOFILE's soft and hard values (the soft one must not exceed the hard one).
pub fn set_open_files_limit(soft: u64, hard: u64) -> io::Result<()> {
    let limit = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads one struct rlimit, which is live for the call.
    syscall!(setrlimit(libc::RLIMIT_NOFILE, &limit))?;
    Ok(())
}

/// `dup2(from, onto)`: descriptor number `onto` now names `from`'s open file; the file it named
/// before is closed (which, on a BSD, also removes its knotes, B22). `onto` stays
/// close-on-exec, like every descriptor the lab makes (`cloexec` below); `from == onto` is an
/// error (EINVAL), as it is for dup3.
pub fn dup2(from: RawFd, onto: RawFd) -> io::Result<()> {
    if from == onto {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    cloexec::dup2(from, onto)
}

/// Whether descriptor number `fd` is open (`fcntl(fd, F_GETFD)` succeeds).
pub fn is_open(fd: RawFd) -> bool {
    // SAFETY: F_GETFD takes no argument and only reads the descriptor table.
    syscall!(fcntl(fd, libc::F_GETFD)).is_ok()
}

/// `fcntl(from, F_DUPFD_CLOEXEC, lowest)`: a new descriptor for `from`'s file, with the lowest
/// free number that is at least `lowest` (so exactly `lowest` when that number is free).
pub fn dup_at_least(from: RawFd, lowest: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC takes an int, no pointer.
    let fd = syscall!(fcntl(from, libc::F_DUPFD_CLOEXEC, lowest))?;
    // SAFETY: `fd` was just returned by fcntl() and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `pipe()`: the reading end and the writing end, owned, both close-on-exec.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    cloexec::pipe()
}

/// Sets O_NONBLOCK on a descriptor (std's pipe ends and raw sockets have no setter).
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL takes no pointer.
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    // SAFETY: F_SETFL takes an int, no pointer.
    syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK)).map(|_| ())
}

/// A TCP socket bound to 127.0.0.1 on a port the OS picks, **not listening** (std binds and
/// listens in one step): the socket (close-on-exec) and its port.
pub fn tcp_socket_bound_to_loopback() -> io::Result<(OwnedFd, u16)> {
    let socket = cloexec::tcp_socket()?;
    let fd = socket.as_raw_fd();
    let mut addr = sockaddr_in(std::net::SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));
    let mut len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let sockaddr = (&mut addr as *mut libc::sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: `sockaddr` points to a live sockaddr_in of `len` bytes.
    syscall!(bind(fd, sockaddr, len))?;
    // SAFETY: as above; getsockname writes at most `len` bytes into it.
    syscall!(getsockname(fd, sockaddr, &mut len))?;
    Ok((socket, u16::from_be(addr.sin_port)))
}

/// `listen(fd, backlog)`.
pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: listen() takes no pointers.
    syscall!(listen(fd, backlog)).map(|_| ())
}

/// What `uname(3)` says about the running kernel (`lab selftest` names it in its summary).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uname {
    /// `Darwin`, `FreeBSD`, `Linux`.
    pub sysname: String,
    /// The kernel's release, e.g. `23.5.0`, `14.1-RELEASE`, `6.8.0-49-generic`.
    pub release: String,
    /// The kernel's build string.
    pub version: String,
    /// The hardware: `arm64`, `x86_64`, `amd64`, `aarch64`.
    pub machine: String,
}

/// `uname(3)`: the kernel this process runs on.
pub fn uname() -> io::Result<Uname> {
    // SAFETY: utsname is plain C data (arrays of c_char), for which all zeroes is valid.
    let mut name: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `name` is a live, writable utsname, which uname fills.
    syscall!(uname(&mut name))?;
    Ok(Uname {
        sysname: c_chars_to_string(&name.sysname),
        release: c_chars_to_string(&name.release),
        version: c_chars_to_string(&name.version),
        machine: c_chars_to_string(&name.machine),
    })
}

/// A NUL-terminated C string kept in a fixed array, as text (lossy: uname's fields are ASCII).
fn c_chars_to_string(chars: &[libc::c_char]) -> String {
    let bytes: Vec<u8> = chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

// ---- the terminal's self-pipe and signals (term) ----

/// A pipe whose two ends are non-blocking and close-on-exec: `[read end, write end]`.
pub fn pipe_nonblocking() -> io::Result<[RawFd; 2]> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe(2) writes two descriptors into the array we own.
    syscall!(pipe(fds.as_mut_ptr()))?;
    for fd in fds {
        // SAFETY: fcntl(2) on descriptors we just created and own.
        let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
        // SAFETY: as above.
        syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK))?;
        // SAFETY: as above.
        syscall!(fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC))?;
    }
    Ok(fds)
}

/// Write one byte, ignoring the outcome. Async-signal-safe: no allocation, no lock, so a
/// signal handler may call it (a full non-blocking pipe loses the byte instead of blocking).
pub fn write_byte(fd: RawFd, byte: u8) {
    // SAFETY: write(2) of one byte from a local we own; write is async-signal-safe.
    let _ = syscall!(write(fd, (&byte as *const u8).cast(), 1));
}

/// read(2) into `buf`: how many bytes came (0 at end of file).
pub fn read(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: read(2) into a buffer we own, at most its length.
    let n = syscall!(read(fd, buf.as_mut_ptr().cast(), buf.len()))?;
    Ok(n as usize)
}

/// Run `handler` when the signal `sig` arrives (sigaction(2), empty mask, no flags). The
/// handler must do only async-signal-safe work.
pub fn on_signal(sig: libc::c_int, handler: extern "C" fn(libc::c_int)) -> io::Result<()> {
    sigaction(sig, handler, 0)
}

/// The same with SA_RESTART: the calls the signal interrupts are restarted, those that never
/// are (kevent, B11) fail with EINTR.
pub fn on_signal_restarting(
    sig: libc::c_int,
    handler: extern "C" fn(libc::c_int),
) -> io::Result<()> {
    sigaction(sig, handler, libc::SA_RESTART)
}

/// `pthread_kill(thread, sig)`: the signal goes to that thread of this process. The thread
/// must not have been joined yet.
pub fn signal_thread(
    thread: std::os::unix::thread::RawPthread,
    sig: libc::c_int,
) -> io::Result<()> {
    // SAFETY: pthread_kill takes no pointers; the caller's thread is alive or not joined yet,
    // so its pthread_t is valid. (std's RawPthread is an integer; libc's pthread_t is a
    // pointer on musl: `as` converts.)
    #[allow(clippy::unnecessary_cast)]
    match unsafe { libc::pthread_kill(thread as libc::pthread_t, sig) } {
        0 => Ok(()),
        errno => Err(io::Error::from_raw_os_error(errno)),
    }
}

fn sigaction(
    sig: libc::c_int,
    handler: extern "C" fn(libc::c_int),
    flags: libc::c_int,
) -> io::Result<()> {
    // SAFETY: a zeroed sigaction is a valid value of this plain C struct.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    // SAFETY: sigemptyset(3) on the mask of the sigaction we own.
    syscall!(sigemptyset(&mut action.sa_mask))?;
    action.sa_flags = flags;
    // SAFETY: sigaction(2) reads the action we own; no old action is asked for.
    syscall!(sigaction(sig, &action, std::ptr::null_mut()))?;
    Ok(())
}

/// A TCP socket, not connected yet (std offers none): "WRITE means connected" (B19).
/// Close-on-exec.
pub fn tcp_socket() -> io::Result<OwnedFd> {
    cloexec::tcp_socket()
}

/// `addr` as the C `sockaddr_in` the socket calls take (the BSDs also want its length inside).
fn sockaddr_in(addr: std::net::SocketAddrV4) -> libc::sockaddr_in {
    // SAFETY: an all-zero sockaddr_in is a valid value, filled in below.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = addr.port().to_be();
    sin.sin_addr.s_addr = u32::from(*addr.ip()).to_be();
    #[cfg(any(
        target_os = "macos",
        target_os = "ios",
        target_os = "freebsd",
        target_os = "dragonfly",
        target_os = "netbsd",
        target_os = "openbsd"
    ))]
    {
        sin.sin_len = std::mem::size_of::<libc::sockaddr_in>() as u8;
    }
    sin
}

/// `connect(fd, addr)`; on a non-blocking socket an `Err` of EINPROGRESS means "under way".
pub fn connect(fd: RawFd, addr: std::net::SocketAddrV4) -> io::Result<()> {
    let sin = sockaddr_in(addr);
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let sockaddr = (&sin as *const libc::sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: `sockaddr` points to a live sockaddr_in of `len` bytes.
    syscall!(connect(fd, sockaddr, len)).map(|_| ())
}

/// `getsockopt(SO_ERROR)`: the socket's pending error, which this call takes (0 if none).
pub fn take_socket_error(fd: RawFd) -> io::Result<i32> {
    let mut value: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    let out = (&mut value as *mut libc::c_int).cast::<libc::c_void>();
    // SAFETY: `out` points to a live int and `len` is its size.
    syscall!(getsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_ERROR,
        out,
        &mut len
    ))?;
    Ok(value)
}

/// `poll(POLLIN)` with a zero timeout: whether a read would find something now.
pub fn readable_now(fd: RawFd) -> io::Result<bool> {
    let mut entry = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `entry` is one live pollfd, and the count passed is 1.
    syscall!(poll(&mut entry, 1, 0))?;
    Ok(entry.revents & libc::POLLIN != 0)
}

/// What [`wait_readable`] saw on a descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readiness {
    /// A read would find something now.
    Readable,
    /// Nothing came within the timeout.
    Quiet,
    /// The other end is gone (POLLHUP or POLLERR; POLLNVAL on a closed descriptor): a
    /// terminal whose window, tmux server or SSH session went away. A read would return 0 or
    /// fail with EIO, for ever.
    HungUp,
    /// poll(2) cannot tell: the descriptor is open, yet poll calls it invalid (POLLNVAL), as
    /// macOS does for some devices.
    Unknown,
}

/// `poll(POLLIN)` for at most `timeout_ms` milliseconds: whether `fd` has something to read,
/// nothing yet, or has hung up.
pub fn wait_readable(fd: RawFd, timeout_ms: i32) -> io::Result<Readiness> {
    let mut entry = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `entry` is one live pollfd, and the count passed is 1.
    let n = syscall!(poll(&mut entry, 1, timeout_ms))?;
    let revents = entry.revents;
    Ok(if n == 0 {
        Readiness::Quiet
    } else if revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        // Checked before POLLIN: a hung-up terminal is also "readable" (a read returns 0).
        Readiness::HungUp
    } else if revents & libc::POLLNVAL != 0 {
        if is_open(fd) {
            Readiness::Unknown
        } else {
            Readiness::HungUp
        }
    } else {
        Readiness::Readable
    })
}

// ---- descriptors that a child process does not inherit ----

/// Every descriptor these wrappers create is close-on-exec, as std's own are: another thread
/// may start a child process (`lab check` runs servers, the tests run `lab`) at any moment,
/// and a child that inherited a pipe end or a socket would hold it open (a pipe that never
/// reads end of file, a port that stays bound).
///
/// Linux and FreeBSD set the flag in the call that creates the descriptor (SOCK_CLOEXEC,
/// pipe2, dup3), so no child can slip in between.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
mod cloexec {
    use std::io;
    use std::os::fd::{FromRawFd, OwnedFd, RawFd};

    use crate::syscall;

    pub fn tcp_socket() -> io::Result<OwnedFd> {
        // SAFETY: socket() takes no pointers.
        let fd = syscall!(socket(
            libc::AF_INET,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0
        ))?;
        // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe2() writes.
        syscall!(pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC))?;
        // SAFETY: both descriptors were just created by pipe2() and are owned by nobody else.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    pub fn dup2(from: RawFd, onto: RawFd) -> io::Result<()> {
        // SAFETY: dup3 takes no pointers; the caller owns `onto` and means to replace its file.
        syscall!(dup3(from, onto, libc::O_CLOEXEC)).map(|_| ())
    }
}

/// macOS has neither SOCK_CLOEXEC, pipe2 nor dup3: the flag is set with fcntl right after the
/// call. A child started by another thread in that instant still inherits the descriptor;
/// std's own sockets and pipes on macOS have the same window.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
mod cloexec {
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

    use crate::syscall;

    fn set_cloexec(fd: RawFd) -> io::Result<()> {
        // SAFETY: F_SETFD takes an int, no pointer.
        syscall!(fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC)).map(|_| ())
    }

    pub fn tcp_socket() -> io::Result<OwnedFd> {
        // SAFETY: socket() takes no pointers.
        let fd = syscall!(socket(libc::AF_INET, libc::SOCK_STREAM, 0))?;
        // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
        let socket = unsafe { OwnedFd::from_raw_fd(fd) };
        set_cloexec(socket.as_raw_fd())?;
        Ok(socket)
    }

    pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two descriptors pipe() writes.
        syscall!(pipe(fds.as_mut_ptr()))?;
        // SAFETY: both descriptors were just created by pipe() and are owned by nobody else.
        let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        set_cloexec(ends.0.as_raw_fd())?;
        set_cloexec(ends.1.as_raw_fd())?;
        Ok(ends)
    }

    pub fn dup2(from: RawFd, onto: RawFd) -> io::Result<()> {
        // SAFETY: dup2 takes no pointers; the caller owns `onto` and means to replace its file.
        syscall!(dup2(from, onto))?;
        // dup2 clears close-on-exec on `onto`: set it again.
        set_cloexec(onto)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// uname names the kernel the tests run on, as the compiler knows it.
    #[test]
    fn uname_names_this_kernel() {
        let name = uname().expect("uname");
        let expected = match std::env::consts::OS {
            "macos" => "Darwin",
            "freebsd" => "FreeBSD",
            "linux" => "Linux",
            other => other,
        };
        assert_eq!(name.sysname, expected);
        assert!(!name.release.is_empty());
    }

    /// The key reader's view of the terminal, on a pipe: nothing yet, something to read, and
    /// once the other end is closed, hung up (not "readable" for ever).
    #[test]
    fn wait_readable_tells_quiet_readable_and_hung_up_apart() {
        let (read_end, write_end) = pipe().expect("pipe");
        let fd = read_end.as_raw_fd();
        assert_eq!(wait_readable(fd, 0).expect("poll"), Readiness::Quiet);
        write_byte(write_end.as_raw_fd(), b'q');
        assert_eq!(wait_readable(fd, 0).expect("poll"), Readiness::Readable);
        let mut buf = [0u8; 4];
        assert_eq!(read(fd, &mut buf).expect("read"), 1);
        drop(write_end);
        assert_eq!(wait_readable(fd, 0).expect("poll"), Readiness::HungUp);
    }

    /// Whether close-on-exec is set on `fd`.
    fn is_cloexec(fd: RawFd) -> bool {
        // SAFETY: F_GETFD takes no pointer.
        let flags = syscall!(fcntl(fd, libc::F_GETFD)).expect("F_GETFD");
        flags & libc::FD_CLOEXEC != 0
    }

    /// A child process started by another thread inherits none of the descriptors these
    /// wrappers make: the pipe's ends, the sockets, and a descriptor replaced by dup2.
    #[test]
    fn new_descriptors_are_close_on_exec() {
        let (read_end, write_end) = pipe().expect("pipe");
        let (bound, _port) = tcp_socket_bound_to_loopback().expect("socket");
        let socket = tcp_socket().expect("socket");
        // A descriptor without the flag, then replaced: dup2 leaves it close-on-exec.
        // SAFETY: F_SETFD takes an int, no pointer.
        syscall!(fcntl(socket.as_raw_fd(), libc::F_SETFD, 0)).expect("clear FD_CLOEXEC");
        dup2(read_end.as_raw_fd(), socket.as_raw_fd()).expect("dup2");
        for fd in [&read_end, &write_end, &bound, &socket] {
            assert!(
                is_cloexec(fd.as_raw_fd()),
                "fd {} is inherited",
                fd.as_raw_fd()
            );
        }
        assert!(dup2(socket.as_raw_fd(), socket.as_raw_fd()).is_err());
    }
}
