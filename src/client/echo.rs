//! `lab client`: connect to a lab server, send each argument (or each line of stdin) as one
//! framed message, and print each echo as it comes back.
//!
//! Messages are bytes, not text: an argument or a line that is not UTF-8 is sent as it is, and
//! an echo is printed as it came back when stdout is a pipe (`lab client … | xxd`), lossily on
//! a terminal (a stray byte must not drive it), or as hex with `--hex`.

use std::io::{self, BufRead, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use super::framing::{read_message, write_message, PREFIX_LEN};
use crate::{Error, Result};

/// How long to wait for an echo before giving up with a message (a server that accepts but
/// never answers, e.g. `--as-published` with its listener disabled, must not hang the client).
const ECHO_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest line read from stdin: the largest message any lab server accepts (its largest
/// `--buffer-size`, 64 MiB, less the length prefix). A longer line could never be echoed, so it
/// is refused before it is sent, and `lab client < /dev/zero` stops after 64 MiB instead of
/// reading one endless line until memory runs out.
pub const MAX_LINE: usize = 64 * 1024 * 1024 - PREFIX_LEN;

/// What `lab client` does: where it connects and what it sends.
#[derive(Clone, Debug)]
pub struct Options {
    pub host: String,
    pub port: u16,
    /// Messages to send, one framed message each; none: read lines from stdin.
    pub messages: Vec<Vec<u8>>,
    /// Print each echo as hex instead of its bytes.
    pub hex: bool,
}

/// How an echo reaches stdout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Print {
    /// The bytes as they came back (stdout is a pipe or a file).
    Raw,
    /// Invalid UTF-8 replaced by U+FFFD (stdout is a terminal).
    Lossy,
    /// Two hex digits a byte (`--hex`).
    Hex,
}

/// `host:port`, with an IPv6 host in brackets: `[::1]:5882`, not `::1:5882`.
pub fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// `lab client`: send each message, print each echo.
pub fn run(args: &Options) -> Result<()> {
    let target = host_port(&args.host, args.port);
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

    let print = if args.hex {
        Print::Hex
    } else if crate::term::stdout_is_terminal() {
        Print::Lossy
    } else {
        Print::Raw
    };
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut echo_one = |message: &[u8]| -> Result<()> {
        let echo = echo(&mut stream, message, &target)?;
        // A closed stdout (`lab client … | head -1`) is success, not an error.
        let _ = print_echo(&mut out, &echo, print);
        Ok(())
    };

    if args.messages.is_empty() {
        let mut stdin = io::stdin().lock();
        let mut number = 0;
        while let Some(line) = read_line(&mut stdin)? {
            number += 1;
            let line = line.ok_or_else(|| {
                Error::usage(format!(
                    "stdin line {number} is longer than {MAX_LINE} bytes, the largest message a \
                     lab server accepts (--buffer-size 64 MiB); nothing was sent for it"
                ))
            })?;
            echo_one(&line)?;
        }
    } else {
        for message in &args.messages {
            echo_one(message)?;
        }
    }
    Ok(())
}

/// The next line of `input` without its `\n` or `\r\n`: `None` at the end, `Some(None)` for a
/// line longer than [`MAX_LINE`] (read no further than that).
fn read_line(input: &mut impl BufRead) -> Result<Option<Option<Vec<u8>>>> {
    let mut line = Vec::new();
    // At most MAX_LINE bytes, the newline, and one more to tell "too long" from "just fits".
    input
        .take(MAX_LINE as u64 + 2)
        .read_until(b'\n', &mut line)
        .map_err(|err| crate::error::io_context("reading stdin", err))?;
    if line.is_empty() {
        return Ok(None);
    }
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.len() > MAX_LINE {
        return Ok(Some(None));
    }
    Ok(Some(Some(line)))
}

/// Send `message` and read its echo, with a sentence that says what went wrong otherwise.
fn echo(stream: &mut TcpStream, message: &[u8], target: &str) -> Result<Vec<u8>> {
    // A server refuses a message larger than its buffer by closing the connection while the
    // message's bytes are still unread, so the close arrives as a reset (RST), on the write or
    // on the read: the same refusal as a clean close, and it deserves the same sentence.
    let refused = || {
        Error::runtime(format!(
            "{target} closed the connection before echoing this {}-byte message (a message \
             larger than its --buffer-size less {PREFIX_LEN} is refused)",
            message.len()
        ))
    };
    let reset = |err: &io::Error| {
        matches!(
            err.kind(),
            io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        )
    };
    write_message(stream, message).map_err(|err| {
        if reset(&err) {
            refused()
        } else {
            Error::runtime(format!("sending to {target} failed: {err}"))
        }
    })?;
    match read_message(stream) {
        Ok(Some(echo)) => Ok(echo),
        Ok(None) => Err(refused()),
        Err(err) if reset(&err) => Err(refused()),
        Err(err)
            if matches!(
                err.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            Err(Error::runtime(format!(
                "no echo from {target} within {} s (is the server at its --max-clients?)",
                ECHO_TIMEOUT.as_secs()
            )))
        }
        Err(err) => Err(Error::runtime(format!(
            "reading from {target} failed: {err}"
        ))),
    }
}

/// One echo and its newline, the way `print` says.
fn print_echo(out: &mut impl Write, echo: &[u8], print: Print) -> io::Result<()> {
    match print {
        Print::Raw => out.write_all(echo)?,
        Print::Lossy => out.write_all(String::from_utf8_lossy(echo).as_bytes())?,
        Print::Hex => {
            for byte in echo {
                write!(out, "{byte:02x}")?;
            }
        }
    }
    out.write_all(b"\n")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_lose_their_line_ending_and_keep_every_other_byte() {
        let mut input = &b"caf\xe9\r\nsecond\nlast"[..];
        assert_eq!(
            read_line(&mut input).unwrap(),
            Some(Some(b"caf\xe9".to_vec()))
        );
        assert_eq!(
            read_line(&mut input).unwrap(),
            Some(Some(b"second".to_vec()))
        );
        assert_eq!(read_line(&mut input).unwrap(), Some(Some(b"last".to_vec())));
        assert_eq!(read_line(&mut input).unwrap(), None);
    }

    #[test]
    fn an_ipv6_host_is_bracketed() {
        assert_eq!(host_port("::1", 1), "[::1]:1");
        assert_eq!(host_port("127.0.0.1", 1), "127.0.0.1:1");
        assert_eq!(host_port("localhost", 1), "localhost:1");
    }
}
