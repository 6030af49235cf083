//! The two ways `lab` can fail, and the exit status each one maps to (contract: "Exit status").

use std::fmt;

/// A failure that ends the program with a one-line message on stderr.
#[derive(Debug)]
pub enum Error {
    /// Bad usage, including a bad script: exit status 2.
    Usage(String),
    /// Something failed at run time (a port in use, a socket error): exit status 1.
    /// The message says what failed and what to try.
    Runtime(String),
}

impl Error {
    pub fn usage(msg: impl Into<String>) -> Error {
        Error::Usage(msg.into())
    }

    pub fn runtime(msg: impl Into<String>) -> Error {
        Error::Runtime(msg.into())
    }

    /// The process exit status for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_) => 2,
            Error::Runtime(_) => 1,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) | Error::Runtime(msg) => f.write_str(msg),
        }
    }
}

impl std::error::Error for Error {}

/// Wrap an I/O error with what was being done, as a runtime error.
pub fn io_context(what: &str, err: std::io::Error) -> Error {
    Error::Runtime(format!("{what}: {err}"))
}

pub type Result<T> = std::result::Result<T, Error>;
