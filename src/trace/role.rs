//! What an ident is, for a person: the [`Role`] of a knote's ident in the lab.
//!
//! The trace labels every change, event and knote with its role (contract: the `label` field,
//! `listener`, `conn1`, `keys`, ...). The role is typed so that the renderer can ask "is this
//! the listener?" without re-reading a string; the JSON contract still carries the same
//! strings, written by `Display` and read back by [`Role::parse`] (replay).

use std::fmt;

/// What an ident stands for in a run.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The listening socket (`listener`): its READ event means connections wait in the
    /// accept queue (B18).
    Listener,
    /// The self-pipe that SIGINT/SIGTERM write to (`signal`).
    Signal,
    /// The EVFILT_USER knote the key reader thread triggers (`keys`, B24).
    Keys,
    /// The server's EVFILT_USER knote that another thread triggers to wake the loop (`wake`).
    Wake,
    /// Accepted connection N, counted from 1 (`connN`).
    Conn(usize),
    /// An EVFILT_USER knote the lab did not name (`userN`, N the ident).
    User(usize),
    /// A descriptor the lab did not name (`fdN`, N the fd).
    Fd(usize),
    /// A label read from a saved trace that is none of the above (replay of a foreign file).
    Other(String),
}

impl Role {
    /// The role a `label` string names (the inverse of `Display`).
    pub fn parse(label: &str) -> Role {
        let numbered = |prefix: &str| {
            label
                .strip_prefix(prefix)
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<usize>().ok())
        };
        match label {
            "listener" => Role::Listener,
            "signal" => Role::Signal,
            "keys" => Role::Keys,
            "wake" => Role::Wake,
            _ => {
                if let Some(n) = numbered("conn") {
                    Role::Conn(n)
                } else if let Some(n) = numbered("user") {
                    Role::User(n)
                } else if let Some(n) = numbered("fd") {
                    Role::Fd(n)
                } else {
                    Role::Other(label.to_string())
                }
            }
        }
    }

    /// A client connection's socket.
    pub fn is_conn(&self) -> bool {
        matches!(self, Role::Conn(_))
    }
}

impl fmt::Display for Role {
    /// Pads like a string, so a table can align labels (`{:<8}`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Listener => f.pad("listener"),
            Role::Signal => f.pad("signal"),
            Role::Keys => f.pad("keys"),
            Role::Wake => f.pad("wake"),
            Role::Conn(n) => f.pad(&format!("conn{n}")),
            Role::User(n) => f.pad(&format!("user{n}")),
            Role::Fd(n) => f.pad(&format!("fd{n}")),
            Role::Other(s) => f.pad(s),
        }
    }
}

/// Tests and callers compare a role with the label it prints as (`role == "conn1"`).
impl PartialEq<str> for Role {
    fn eq(&self, other: &str) -> bool {
        *self == Role::parse(other)
    }
}

impl PartialEq<&str> for Role {
    fn eq(&self, other: &&str) -> bool {
        *self == Role::parse(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_reads_back_as_itself() {
        for role in [
            Role::Listener,
            Role::Signal,
            Role::Keys,
            Role::Wake,
            Role::Conn(12),
            Role::User(3),
            Role::Fd(9),
            Role::Other("mystery".into()),
            Role::Other("conn".into()),
        ] {
            assert_eq!(Role::parse(&role.to_string()), role);
        }
        assert_eq!(Role::Conn(1), "conn1");
    }
}
