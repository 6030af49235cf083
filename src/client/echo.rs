//! `lab client`: connect to a lab server, send each argument (or each line of stdin) as one
//! framed message, and print each echo as it comes back.

use std::io::{self, BufRead, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::framing::{read_message, write_message};
use crate::{Error, Result};

/// How long to wait for an echo before giving up with a message (a server that accepts but
/// never answers, e.g. `--as-published` with its listener disabled, must not hang the client).
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

/// What `lab client` does: where it connects and what it sends.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// Messages to send, one framed message each; none: read lines from stdin.
    pub messages: Vec<String>,
}

/// `lab client`: send each message, print each echo.
pub fn run(args: &Options) -> Result<()> {
    let target = format!("{}:{}", args.host, args.port);
    let addrs: Vec<_> = (args.host.as_str(), args.port)
        .to_socket_addrs()
        .map_err(|err| Error::usage(format!("--host {}: not an address ({err})", args.host)))?
        .collect();
    let mut stream = TcpStream::connect(&addrs[..]).map_err(|err| match err.kind() {
        io::ErrorKind::ConnectionRefused => Error::runtime(format!(
            "cannot connect to {target}: connection refused. Is `lab server --external --port {}` \
             running?",
            args.port
        )),
        _ => Error::runtime(format!("cannot connect to {target}: {err}")),
    })?;
    let _ = stream.set_nodelay(true);
    stream
        .set_read_timeout(Some(ECHO_TIMEOUT))
        .map_err(|err| crate::error::io_context("setting a read timeout", err))?;

    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut echo_one = |message: &[u8]| -> Result<()> {
        write_message(&mut stream, message)
            .map_err(|err| Error::runtime(format!("sending to {target} failed: {err}")))?;
        let echo = match read_message(&mut stream) {
            Ok(Some(echo)) => echo,
            Ok(None) => {
                return Err(Error::runtime(format!(
                    "{target} closed the connection before echoing (a message larger than its \
                     --buffer-size is refused)"
                )))
            }
            Err(err)
                if matches!(
                    err.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Error::runtime(format!(
                    "no echo from {target} within {} s (is the server at its --max-clients?)",
                    ECHO_TIMEOUT.as_secs()
                )))
            }
            Err(err) => {
                return Err(Error::runtime(format!(
                    "reading from {target} failed: {err}"
                )))
            }
        };
        // A closed stdout (`lab client … | head -1`) is success, not an error.
        if writeln!(out, "{}", String::from_utf8_lossy(&echo)).is_err() {
            return Ok(());
        }
        Ok(())
    };

    if args.messages.is_empty() {
        for line in io::stdin().lock().lines() {
            let line = line.map_err(|err| crate::error::io_context("reading stdin", err))?;
            echo_one(line.as_bytes())?;
        }
    } else {
        for message in &args.messages {
            echo_one(message.as_bytes())?;
        }
    }
    Ok(())
}
