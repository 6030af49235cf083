//! System calls every Unix has, wrapped as safe functions (see [`crate::sys`]).

use std::io;

/// RLIMIT_NOFILE as (soft, hard): how many descriptors this process may open.
// `rlim_t` is u64 on Linux and macOS but i64 on FreeBSD: the casts are needed there.
#[allow(clippy::unnecessary_cast)]
pub fn open_files_limit() -> io::Result<(u64, u64)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one struct rlimit, which is live for the call.
    crate::syscall!(getrlimit(libc::RLIMIT_NOFILE, &mut limit))?;
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
    crate::syscall!(setrlimit(libc::RLIMIT_NOFILE, &limit))?;
    Ok(())
}
