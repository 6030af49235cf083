//! System calls every Unix has, wrapped as safe functions (see [`crate::sys`]).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

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
/// before is closed (which, on a BSD, also removes its knotes, B22).
pub fn dup2(from: RawFd, onto: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes no pointers; the caller owns `onto` and means to replace its file.
    syscall!(dup2(from, onto)).map(|_| ())
}

/// `pipe()`: the reading end and the writing end, owned.
pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    syscall!(pipe(fds.as_mut_ptr()))?;
    // SAFETY: both descriptors were just created by pipe() and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Sets O_NONBLOCK on a descriptor (std's pipe ends and raw sockets have no setter).
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: F_GETFL takes no pointer.
    let flags = syscall!(fcntl(fd, libc::F_GETFL))?;
    // SAFETY: F_SETFL takes an int, no pointer.
    syscall!(fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK)).map(|_| ())
}

/// A TCP socket bound to 127.0.0.1 on a port the OS picks, **not listening** (std binds and
/// listens in one step): the socket and its port.
pub fn tcp_socket_bound_to_loopback() -> io::Result<(OwnedFd, u16)> {
    // SAFETY: socket() takes no pointers.
    let fd = syscall!(socket(libc::AF_INET, libc::SOCK_STREAM, 0))?;
    // SAFETY: `fd` was just returned by socket() and is owned by nobody else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_in is a valid value (port 0, address 0).
    let mut addr: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    addr.sin_family = libc::AF_INET as libc::sa_family_t;
    addr.sin_addr.s_addr = u32::from(Ipv4Addr::LOCALHOST).to_be();
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
}
