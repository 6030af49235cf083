//! System calls every Unix has, wrapped as safe functions (see [`crate::sys`]).

// ---- the terminal's self-pipe and signals, the server's send buffer (term, server) ----

use std::io;
use std::os::fd::RawFd;

use crate::syscall;

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
    // SAFETY: a zeroed sigaction is a valid value of this plain C struct.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as usize;
    // SAFETY: sigemptyset(3) on the mask of the sigaction we own.
    syscall!(sigemptyset(&mut action.sa_mask))?;
    action.sa_flags = 0;
    // SAFETY: sigaction(2) reads the action we own; no old action is asked for.
    syscall!(sigaction(sig, &action, std::ptr::null_mut()))?;
    Ok(())
}

/// SO_SNDBUF: ask the kernel for a send buffer of `size` bytes on socket `fd`.
pub fn set_send_buffer(fd: RawFd, size: usize) -> io::Result<()> {
    let size = libc::c_int::try_from(size).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt(2) on a socket the caller owns, reading a c_int we own, with its size.
    syscall!(setsockopt(
        fd,
        libc::SOL_SOCKET,
        libc::SO_SNDBUF,
        (&size as *const libc::c_int).cast(),
        std::mem::size_of::<libc::c_int>() as libc::socklen_t,
    ))?;
    Ok(())
}
