//! `lab server --script`: the same action language as every stage (`crate::script`), played by
//! built-in client connections against the server, with the server's own rules on top.

use std::io;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::framing::{read_message, write_message};
use crate::script::{self, Action};
use crate::Result;

/// Parse `--script` before anything runs, with the action language every stage shares
/// ([`crate::script::parse`]: a bad action is a usage error, exit 2, `bad script: …`). Without
/// `--external` the built-in client's connection 1 is open from the start; with it, client
/// actions are refused.
///
/// The server's own rule on top: `read` and `rearm` are refused, because the server reads every
/// message by itself and re-arms nothing by hand (its loop changes the knotes as it goes).
pub fn parse_script(text: &str, external: bool) -> Result<Vec<Action>> {
    let actions = script::parse(text, external)?;
    if let Some(action) = actions
        .iter()
        .find(|a| matches!(a, Action::Read(_) | Action::Rearm | Action::Knote(_)))
    {
        let why = match action {
            Action::Read(_) => "the server reads every message by itself",
            Action::Knote(_) => "the server's loop changes its knotes by itself",
            _ => "the server's loop re-arms its knotes by itself",
        };
        return Err(script::bad(format!(
            "`{}` is for the flag stages; {why} \
             (lab server's scripts use: connect, use N, send TEXT, fill N, close, wait MS, quit)",
            action.name()
        )));
    }
    Ok(actions)
}

/// A scripted connection: the stream, and a thread that reads (and drops) its echoes so the
/// server is never stuck on a client that does not read.
struct ScriptConn {
    stream: TcpStream,
    reader: Option<thread::JoinHandle<()>>,
}

impl ScriptConn {
    fn open(addr: SocketAddr) -> io::Result<ScriptConn> {
        let stream = TcpStream::connect(addr)?;
        let mut echoes = stream.try_clone()?;
        let reader = thread::spawn(move || while let Ok(Some(_)) = read_message(&mut echoes) {});
        Ok(ScriptConn {
            stream,
            reader: Some(reader),
        })
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
    }
}

/// Run the script's actions against the server at `addr`; `stop` (Ctrl-C) ends it early.
/// Without `external`, connection 1 is opened first.
pub fn run_script(addr: SocketAddr, actions: &[Action], external: bool, stop: &AtomicBool) {
    let mut conns: Vec<ScriptConn> = Vec::new();
    let mut current = 0usize;
    if !external {
        if let Ok(conn) = ScriptConn::open(addr) {
            conns.push(conn);
        }
    }
    for action in actions {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        match action {
            Action::Connect => {
                if let Ok(conn) = ScriptConn::open(addr) {
                    conns.push(conn);
                    current = conns.len() - 1;
                }
            }
            Action::Use(n) => current = n - 1,
            Action::Send(bytes) => send(&mut conns, current, bytes),
            Action::Fill(n) => send(&mut conns, current, &vec![b'x'; *n]),
            Action::Close => {
                if let Some(conn) = conns.get_mut(current) {
                    conn.close();
                }
            }
            Action::Wait(ms) => {
                let until = Instant::now() + Duration::from_millis(*ms);
                while Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
                }
            }
            // Refused by `parse_script`: the server reads and changes its knotes by itself.
            Action::Read(_) | Action::Rearm | Action::Knote(_) => {}
            Action::Quit => break,
        }
    }
    for conn in &mut conns {
        conn.close();
    }
}

fn send(conns: &mut [ScriptConn], current: usize, bytes: &[u8]) {
    if let Some(conn) = conns.get_mut(current) {
        let _ = write_message(&mut conn.stream, bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_checked_before_anything_runs() {
        assert_eq!(
            parse_script("send hi\\n; wait 10; connect; use 2; close", false).unwrap(),
            vec![
                Action::Send(b"hi\n".to_vec()),
                Action::Wait(10),
                Action::Connect,
                Action::Use(2),
                Action::Close
            ]
        );
        assert!(parse_script("use 3", false).is_err());
        assert!(parse_script("send hi", true).is_err());
        assert!(parse_script("connect", true).is_err());
        assert!(parse_script("dance", false).is_err());
        assert!(parse_script("wait soon", false).is_err());
        assert_eq!(
            parse_script("wait 5000", true).unwrap(),
            vec![Action::Wait(5000)]
        );
    }

    #[test]
    fn read_and_rearm_are_refused_with_the_reason() {
        for (script, why) in [
            ("read", "reads every message"),
            ("rearm", "re-arms"),
            ("delete", "changes its knotes"),
        ] {
            let err = parse_script(script, false).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let msg = err.to_string();
            assert!(msg.starts_with("bad script: `"), "{msg}");
            assert!(msg.contains(why), "{msg}");
        }
    }

    #[test]
    fn mistakes_are_worded_like_the_flag_stages() {
        let msg = parse_script("dance", false).unwrap_err().to_string();
        assert!(
            msg.starts_with("bad script: unknown action `dance`"),
            "{msg}"
        );
    }
}
