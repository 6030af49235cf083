//! Actions and scripts (contract: "Actions (script and keys)"): the one action language of
//! every stage, the four flag stages and `lab server` alike.
//!
//! A script is `A; B; …`. It is parsed and checked completely before anything runs, so a typo
//! (`sned x`) or a connection that will not exist (`use 3` with one connection) is a usage
//! error (exit 2, `bad script: …`) that names the action and what was expected.
//!
//! [`parse`] applies the rules every stage shares; a stage adds its own on top (the server,
//! which reads and re-arms by itself, refuses `read` and `rearm`: see
//! `crate::client::script::parse_script`).
//!
//! `send TEXT` escapes: `\n` is a newline and `\t` a tab (the contract's two); `\\` is one
//! backslash, so `send a\\nb` sends the four bytes `a\nb`. Any other backslash is sent as is.

use crate::error::Error;

/// One thing the built-in client or the server does, by script or by key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// The built-in client opens a new connection; it becomes the current one.
    Connect,
    /// Connection N becomes the current one.
    Use(usize),
    /// The client writes these bytes on the current connection.
    Send(Vec<u8>),
    /// The client writes N bytes of `x` on the current connection.
    Fill(usize),
    /// The server reads up to N bytes (all that is buffered when `None`).
    Read(Option<usize>),
    /// Re-arm the current connection's knote the way the stage teaches.
    Rearm,
    /// The client closes the current connection.
    Close,
    /// Let the event loop run for this many milliseconds.
    Wait(u64),
    /// End the stage.
    Quit,
}

impl Action {
    /// The action's name as the contract spells it (the JSON `action` field).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Connect => "connect",
            Action::Use(_) => "use",
            Action::Send(_) => "send",
            Action::Fill(_) => "fill",
            Action::Read(_) => "read",
            Action::Rearm => "rearm",
            Action::Close => "close",
            Action::Wait(_) => "wait",
            Action::Quit => "quit",
        }
    }

    /// True for the actions the built-in client performs (none exist with `--external`).
    pub fn needs_client(&self) -> bool {
        matches!(
            self,
            Action::Connect | Action::Send(_) | Action::Fill(_) | Action::Close
        )
    }
}

const EXPECTED: &str =
    "expected one of: connect, use N, send TEXT, fill N, read [N], rearm, close, wait MS, quit";

/// A mistake in a script: a usage error (exit 2) worded `bad script: …` for every stage.
pub fn bad(msg: String) -> Error {
    Error::usage(format!("bad script: {msg}"))
}

/// `send` text with its escapes turned into bytes: `\n` newline, `\t` tab (the contract's
/// two), and `\\` one backslash (so a backslash followed by `n` can be sent, too). Any other
/// backslash, and a trailing one, stays as it is.
fn unescape(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push(b'\n'),
                Some('t') => out.push(b'\t'),
                Some('\\') => out.push(b'\\'),
                Some(other) => {
                    out.push(b'\\');
                    let mut buf = [0u8; 4];
                    out.extend_from_slice(other.encode_utf8(&mut buf).as_bytes());
                }
                None => out.push(b'\\'),
            }
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

fn number<T: std::str::FromStr>(action: &str, arg: &str, what: &str) -> Result<T, Error> {
    if arg.is_empty() {
        return Err(bad(format!("`{action}` needs {what}, e.g. `{action} 300`")));
    }
    arg.parse::<T>()
        .map_err(|_| bad(format!("`{action} {arg}`: expected {what}, a whole number")))
}

/// Parse one action, e.g. `send hello\n` or `wait 300`.
pub fn parse_action(text: &str) -> Result<Action, Error> {
    let text = text.trim();
    let (word, arg) = match text.split_once(char::is_whitespace) {
        Some((w, a)) => (w, a.trim()),
        None => (text, ""),
    };
    let no_arg = |action: Action| -> Result<Action, Error> {
        if arg.is_empty() {
            Ok(action)
        } else {
            Err(bad(format!("`{word}` takes no argument (got `{arg}`)")))
        }
    };
    match word {
        "connect" => no_arg(Action::Connect),
        "rearm" => no_arg(Action::Rearm),
        "close" => no_arg(Action::Close),
        "quit" => no_arg(Action::Quit),
        "use" => {
            let n: usize = number("use", arg, "a connection number N")?;
            if n == 0 {
                return Err(bad("`use 0`: connections are numbered from 1".to_string()));
            }
            Ok(Action::Use(n))
        }
        "send" => {
            if arg.is_empty() {
                Err(bad(
                    "`send` needs TEXT to send, e.g. `send hello` (\\n and \\t allowed)"
                        .to_string(),
                ))
            } else {
                Ok(Action::Send(unescape(arg)))
            }
        }
        "fill" => Ok(Action::Fill(number("fill", arg, "a byte count N")?)),
        "read" => {
            if arg.is_empty() {
                Ok(Action::Read(None))
            } else {
                Ok(Action::Read(Some(number("read", arg, "a byte count N")?)))
            }
        }
        "wait" => Ok(Action::Wait(number("wait", arg, "milliseconds MS")?)),
        "" => Err(bad(format!("an empty action; {EXPECTED}"))),
        other => Err(bad(format!("unknown action `{other}`; {EXPECTED}"))),
    }
}

/// Parse a whole script and check it against the connections that will exist: `connections`
/// open at the start (1 with the built-in client, 0 with `--external`).
pub fn parse(script: &str, external: bool) -> Result<Vec<Action>, Error> {
    let actions: Vec<Action> = script
        .split(';')
        .map(str::trim)
        .filter(|piece| !piece.is_empty())
        .map(parse_action)
        .collect::<Result<_, _>>()?;
    check(&actions, external)?;
    Ok(actions)
}

/// Walk the script as it will run, counting connections, so that `use N` and the client's
/// actions are checked before anything runs.
pub fn check(actions: &[Action], external: bool) -> Result<(), Error> {
    if external {
        if let Some(a) = actions.iter().find(|a| a.needs_client()) {
            return Err(bad(format!(
                "`{}` is done by the built-in client, which --external turns off \
                 (connect, send, fill and close are for your own client, e.g. `nc`)",
                a.name()
            )));
        }
        return Ok(());
    }
    let mut opened = 1usize;
    let mut current = 1usize;
    let mut closed = vec![false; 2];
    for action in actions {
        match action {
            Action::Connect => {
                opened += 1;
                current = opened;
                closed.push(false);
            }
            Action::Use(n) => {
                if *n > opened {
                    return Err(bad(format!(
                        "`use {n}`: there is no connection {n} at that point \
                         ({opened} open so far; `connect` opens another)"
                    )));
                }
                current = *n;
            }
            Action::Send(_) | Action::Fill(_) | Action::Close => {
                if closed[current] {
                    return Err(bad(format!(
                        "`{}`: connection {current} was closed earlier in the script; \
                         `connect` opens a new one",
                        action.name()
                    )));
                }
                if *action == Action::Close {
                    closed[current] = true;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_parses_into_actions() {
        let actions = parse(
            " send hello\\n ; wait 300;read 2; read ; rearm;connect; use 2; fill 10; close; quit ;",
            false,
        )
        .unwrap();
        assert_eq!(
            actions,
            vec![
                Action::Send(b"hello\n".to_vec()),
                Action::Wait(300),
                Action::Read(Some(2)),
                Action::Read(None),
                Action::Rearm,
                Action::Connect,
                Action::Use(2),
                Action::Fill(10),
                Action::Close,
                Action::Quit,
            ]
        );
    }

    #[test]
    fn send_keeps_inner_spaces_and_tabs() {
        assert_eq!(
            parse_action("send a b\\tc").unwrap(),
            Action::Send(b"a b\tc".to_vec())
        );
    }

    #[test]
    fn a_doubled_backslash_sends_one_backslash() {
        assert_eq!(
            parse_action("send a\\\\nb\\q\\").unwrap(),
            Action::Send(b"a\\nb\\q\\".to_vec())
        );
    }

    #[test]
    fn mistakes_name_the_action_and_what_was_expected() {
        let msg = |s: &str| parse(s, false).unwrap_err().to_string();
        assert!(msg("sned x").contains("unknown action `sned`"));
        assert!(msg("sned x").contains("expected one of"));
        assert!(msg("send").contains("`send` needs TEXT"));
        assert!(msg("wait").contains("`wait` needs milliseconds"));
        assert!(msg("wait soon").contains("`wait soon`"));
        assert!(msg("use 2").contains("no connection 2"));
        assert!(msg("close; send x").contains("was closed"));
        assert!(msg("rearm now").contains("takes no argument"));
        assert!(parse("connect; use 2; use 1", false).is_ok());
        assert!(parse("send x", true)
            .unwrap_err()
            .to_string()
            .contains("--external"));
        assert!(parse("wait 10; read", true).is_ok());
    }

    #[test]
    fn bad_scripts_are_usage_errors() {
        assert_eq!(parse("sned x", false).unwrap_err().exit_code(), 2);
    }
}
