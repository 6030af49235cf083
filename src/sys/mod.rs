//! The operating system, wrapped: the lab's system calls outside the native kqueue backend.
//!
//! Every `unsafe` call to the OS that is not part of `kq::native` lives in this module, one
//! small safe function per call, each with a `// SAFETY:` line. The rest of the lab calls these
//! functions and stays free of `unsafe`.
//!
//! - [`unix`]: calls every Unix has (macOS, the BSDs, Linux).
//! - [`linux`]: epoll, eventfd, timerfd and the measurements of the Linux backends (the kqueue
//!   emulation and the raw epoll server), Linux only.

pub mod unix;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub mod linux;

/// Runs a libc call that returns -1 on failure and turns it into an `io::Result`
/// (the `syscall!` macro of mio, in its simplest form).
#[macro_export]
#[doc(hidden)]
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each caller states why the arguments are valid for this call.
        #[allow(unused_unsafe)]
        let result = unsafe { libc::$fn($($arg),*) };
        if result == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(result)
        }
    }};
}
