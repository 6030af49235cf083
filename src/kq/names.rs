//! Numbers to names: the decoder every trace line uses (`0x11<ADD|ONESHOT>`).
//!
//! The values come from the backend's constants, never from literals, because they differ per
//! OS (EVFILT_USER is -11 on FreeBSD and -10 on macOS; spec §4, pitfall P8).

use super::sys::consts::*;

/// The filter's name without `EVFILT_`: `READ`, `WRITE`, `TIMER`, `USER`, or the number.
pub fn filter_name(filter: i16) -> String {
    match filter {
        f if f == EVFILT_READ => "READ".to_string(),
        f if f == EVFILT_WRITE => "WRITE".to_string(),
        f if f == EVFILT_TIMER => "TIMER".to_string(),
        f if f == EVFILT_USER => "USER".to_string(),
        other => format!("FILTER({other})"),
    }
}

/// Every flag the lab names, in the man page's order.
const FLAG_NAMES: [(u16, &str); 10] = [
    (EV_ADD, "ADD"),
    (EV_DELETE, "DELETE"),
    (EV_ENABLE, "ENABLE"),
    (EV_DISABLE, "DISABLE"),
    (EV_ONESHOT, "ONESHOT"),
    (EV_CLEAR, "CLEAR"),
    (EV_RECEIPT, "RECEIPT"),
    (EV_DISPATCH, "DISPATCH"),
    (EV_EOF, "EOF"),
    (EV_ERROR, "ERROR"),
];

/// The names of the flags set in `flags`, without `EV_`; bits the lab does not name are given
/// in hex, so nothing is hidden from the learner.
pub fn flag_names(flags: u16) -> Vec<String> {
    let mut names = Vec::new();
    let mut known = 0u16;
    for (bit, name) in FLAG_NAMES {
        known |= bit;
        if flags & bit != 0 {
            names.push(name.to_string());
        }
    }
    let unknown = flags & !known;
    if unknown != 0 {
        names.push(format!("{unknown:#x}"));
    }
    names
}

/// Symbolic plus raw, as kdump prints it: `0x11<ADD|ONESHOT>`, or `0x0` for no flags.
pub fn describe_flags(flags: u16) -> String {
    let names = flag_names(flags);
    if names.is_empty() {
        format!("{flags:#x}")
    } else {
        format!("{flags:#x}<{}>", names.join("|"))
    }
}

/// The symbolic name of an errno (`ENOENT`), so traces and tests never compare raw numbers
/// (ECONNRESET is 54 on the BSDs and 104 on Linux: pitfall P8).
pub fn errno_name(errno: i32) -> String {
    let known = [
        (libc::EPERM, "EPERM"),
        (libc::ENOENT, "ENOENT"),
        (libc::EINTR, "EINTR"),
        (libc::EBADF, "EBADF"),
        (libc::EAGAIN, "EAGAIN"),
        (libc::ENOMEM, "ENOMEM"),
        (libc::EEXIST, "EEXIST"),
        (libc::EINVAL, "EINVAL"),
        (libc::EMFILE, "EMFILE"),
        (libc::ENFILE, "ENFILE"),
        (libc::EPIPE, "EPIPE"),
        (libc::ENOTSOCK, "ENOTSOCK"),
        (libc::EOPNOTSUPP, "EOPNOTSUPP"),
        (libc::ECONNRESET, "ECONNRESET"),
        (libc::ECONNREFUSED, "ECONNREFUSED"),
        (libc::ETIMEDOUT, "ETIMEDOUT"),
        (libc::ENOTCONN, "ENOTCONN"),
    ];
    known
        .iter()
        .find(|(value, _)| *value == errno)
        .map(|(_, name)| name.to_string())
        .unwrap_or_else(|| format!("errno {errno}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_shown_symbolic_and_raw() {
        assert_eq!(describe_flags(EV_ADD | EV_ONESHOT), "0x11<ADD|ONESHOT>");
        assert_eq!(describe_flags(0), "0x0");
        assert_eq!(flag_names(EV_EOF | EV_CLEAR), vec!["CLEAR", "EOF"]);
    }

    #[test]
    fn filters_are_named_without_prefix() {
        assert_eq!(filter_name(EVFILT_READ), "READ");
        assert_eq!(filter_name(EVFILT_USER), "USER");
    }

    #[test]
    fn errno_names_are_symbolic() {
        assert_eq!(errno_name(libc::ENOENT), "ENOENT");
        assert_eq!(errno_name(libc::ECONNRESET), "ECONNRESET");
    }
}
