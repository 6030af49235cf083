//! What the bench asks the operating system about itself: the open-file limit, the resident
//! memory, and the CPU time of the in-process server's thread.
//!
//! The memory and CPU figures come from Linux's `/proc`; elsewhere they are simply not reported
//! (`None`). The backend is chosen at module level (STYLE.md habit 3).

use std::io;

pub use self::procfs::{rss_kib, server_thread_cpu};

/// Make sure this process may open `needed` descriptors: raise the soft RLIMIT_NOFILE up to the
/// hard limit if it is lower. Returns `Some((old, new))` when it was raised.
pub fn ensure_open_files(needed: u64) -> io::Result<Option<(u64, u64)>> {
    let (soft, hard) = crate::sys::unix::open_files_limit()?;
    if soft >= needed {
        return Ok(None);
    }
    if hard < needed {
        return Err(io::Error::other(format!(
            "{needed} open files are needed but the hard limit is {hard}: use fewer \
             --connections, or raise it (ulimit -Hn)"
        )));
    }
    crate::sys::unix::set_open_files_limit(needed, hard)?;
    Ok(Some((soft, needed)))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
mod procfs {
    use std::time::Duration;

    /// This process's resident set (VmRSS of /proc/self/status), in KiB.
    pub fn rss_kib() -> Option<u64> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// CPU time used so far by this process's thread named `name` (the in-process server is
    /// `lab-server`): the first field of its /proc schedstat, nanoseconds on the CPU.
    pub fn server_thread_cpu(name: &str) -> Option<Duration> {
        for task in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
            let path = task.path();
            let comm = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
            if comm.trim_end() != name {
                continue;
            }
            let schedstat = std::fs::read_to_string(path.join("schedstat")).ok()?;
            let ns: u64 = schedstat.split_whitespace().next()?.parse().ok()?;
            return Some(Duration::from_nanos(ns));
        }
        None
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod procfs {
    use std::time::Duration;

    /// Not measured on this OS.
    pub fn rss_kib() -> Option<u64> {
        None
    }

    /// Not measured on this OS.
    pub fn server_thread_cpu(_name: &str) -> Option<Duration> {
        None
    }
}
