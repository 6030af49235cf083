//! System calls every Unix has, wrapped as safe functions (see [`crate::sys`]).

use std::io;

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
    crate::syscall!(uname(&mut name))?;
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
