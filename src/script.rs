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
    /// One kevent change on the current connection's knote, exactly as written (`add`,
    /// `delete`, `enable`, `disable`, `receipt`): one kevent call in the trace.
    Knote(KnoteChange),
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
            Action::Knote(change) => change.name(),
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

const EXPECTED: &str = "expected one of: connect, use N, send TEXT, fill N, read [N], rearm, \
     add [read|write] [level|oneshot|dispatch|clear], delete [read|write], enable [read|write], \
     disable [read|write], receipt [read|write], close, wait MS, quit";

/// The largest `fill`: 64 MiB, the largest message `lab server` can hold (issue: every number
/// has a limit). The stages write it in chunks, so nothing that size is ever allocated there.
pub const FILL_MAX: usize = 64 * 1024 * 1024;

/// The script actions, for `--help` of every flag stage (clap's `after_help`).
pub const STAGE_HELP: &str = "\
Script actions, for --script 'A; B; ...' (keys in a terminal; `?` lists them):
  connect             the built-in client opens a new connection (key c)
  use N               connection N becomes the current one (keys 1-9)
  send TEXT           the client writes TEXT (\\n and \\t escapes) (key s sends ping)
  fill N              the client writes N bytes of x, at most 67108864 (lab write: the server)
  read [N]            the server reads up to N bytes, all by default (key r; key p reads 2)
                      (lab write: the client reads what the server wrote)
  rearm               re-arm the knote the way the stage teaches (key a)
  add [read|write] [level|oneshot|dispatch|clear]
                      EV_ADD on the current connection's knote; default: the stage's filter
                      and flags (key +)
  delete [read|write] EV_DELETE (key -)
  enable [read|write] EV_ENABLE (key e)
  disable [read|write] EV_DISABLE (key d)
  receipt [read|write] EV_ADD|EV_RECEIPT: a receipt entry comes back even on success (key R)
  close               the client closes the current connection (key x)
  wait MS             let the event loop run for MS milliseconds
  quit                end the stage (key q)
Each knote change is one kevent call with an eventlist, so a failing change comes back as an
EV_ERROR entry (B7), e.g. `delete` after a ONESHOT event: ENOENT.";

/// Which filter a knote change is about (`None`: the stage's own).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    Read,
    Write,
}

/// What a knote change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KnoteOp {
    /// EV_ADD with this mode (`None`: the stage's flags). `Some(0)` is a plain, level knote.
    Add(Option<u16>),
    Delete,
    Enable,
    Disable,
}

/// One kevent change typed in a script or by key: `add read oneshot`, `delete`, `receipt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KnoteChange {
    pub op: KnoteOp,
    pub filter: Option<Filter>,
    /// EV_RECEIPT: a receipt entry (EV_ERROR, data 0 on success) comes back for it (B8).
    pub receipt: bool,
}

impl KnoteChange {
    /// The action's name: the word it was written with.
    pub fn name(&self) -> &'static str {
        match self.op {
            KnoteOp::Add(_) if self.receipt => "receipt",
            KnoteOp::Add(_) => "add",
            KnoteOp::Delete => "delete",
            KnoteOp::Enable => "enable",
            KnoteOp::Disable => "disable",
        }
    }
}

/// `add [read|write] [level|oneshot|dispatch|clear]` and the others: the words after the verb.
fn parse_knote_change(word: &str, arg: &str) -> Result<KnoteChange, Error> {
    let (op, receipt) = match word {
        "add" => (KnoteOp::Add(None), false),
        "receipt" => (KnoteOp::Add(None), true),
        "delete" => (KnoteOp::Delete, false),
        "enable" => (KnoteOp::Enable, false),
        "disable" => (KnoteOp::Disable, false),
        _ => unreachable!("only knote verbs come here"),
    };
    let mut change = KnoteChange {
        op,
        filter: None,
        receipt,
    };
    for w in arg.split_whitespace() {
        let mode = match w {
            "read" | "write" if change.filter.is_some() => {
                return Err(bad(format!("`{word} {arg}`: one filter at most")));
            }
            "read" => {
                change.filter = Some(Filter::Read);
                continue;
            }
            "write" => {
                change.filter = Some(Filter::Write);
                continue;
            }
            "level" => 0,
            "oneshot" => crate::kq::EV_ONESHOT,
            "dispatch" => crate::kq::EV_DISPATCH,
            "clear" => crate::kq::EV_CLEAR,
            other => {
                let allowed = if word == "add" {
                    "read, write, level, oneshot, dispatch or clear"
                } else {
                    "read or write"
                };
                return Err(bad(format!(
                    "`{word} {arg}`: `{other}` is not a word `{word}` takes; expected {allowed}"
                )));
            }
        };
        match change.op {
            KnoteOp::Add(None) if word == "add" => change.op = KnoteOp::Add(Some(mode)),
            KnoteOp::Add(Some(_)) => {
                return Err(bad(format!("`{word} {arg}`: one mode at most")));
            }
            _ => {
                return Err(bad(format!(
                    "`{word} {arg}`: `{w}` is a mode, which only `add` takes; expected read or write"
                )));
            }
        }
    }
    Ok(change)
}

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
        "fill" => {
            let n: usize = number("fill", arg, "a byte count N")?;
            if n > FILL_MAX {
                return Err(bad(format!(
                    "`fill {n}`: at most {FILL_MAX} bytes (64 MiB) per fill; fill again for more"
                )));
            }
            Ok(Action::Fill(n))
        }
        "add" | "receipt" | "delete" | "enable" | "disable" => {
            Ok(Action::Knote(parse_knote_change(word, arg)?))
        }
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
    fn knote_changes_parse_with_their_filter_and_mode() {
        use crate::kq::{EV_CLEAR, EV_ONESHOT};
        let change = |op, filter, receipt| {
            Action::Knote(KnoteChange {
                op,
                filter,
                receipt,
            })
        };
        assert_eq!(
            parse(
                "add; add write oneshot; add clear read; add level; delete; enable write; \
                 disable; receipt",
                false
            )
            .unwrap(),
            vec![
                change(KnoteOp::Add(None), None, false),
                change(KnoteOp::Add(Some(EV_ONESHOT)), Some(Filter::Write), false),
                change(KnoteOp::Add(Some(EV_CLEAR)), Some(Filter::Read), false),
                change(KnoteOp::Add(Some(0)), None, false),
                change(KnoteOp::Delete, None, false),
                change(KnoteOp::Enable, Some(Filter::Write), false),
                change(KnoteOp::Disable, None, false),
                change(KnoteOp::Add(None), None, true),
            ]
        );
        assert_eq!(parse_action("receipt").unwrap().name(), "receipt");
        // Server-side changes: allowed with --external.
        assert!(parse("delete; add", true).is_ok());
        let msg = |s: &str| parse(s, false).unwrap_err().to_string();
        assert!(msg("add sideways").contains("`sideways` is not a word"));
        assert!(msg("delete oneshot").contains("only `add` takes"));
        assert!(msg("add oneshot clear").contains("one mode at most"));
        assert!(msg("add read write").contains("one filter at most"));
    }

    /// Issue 14 item 5: `fill 1000000000000` is refused in one line (exit 2), not allocated.
    #[test]
    fn an_absurd_fill_is_a_usage_error() {
        let err = parse("fill 1000000000000", false).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("at most 67108864"), "{err}");
        assert_eq!(
            parse("fill 67108864", false).unwrap(),
            vec![Action::Fill(FILL_MAX)]
        );
    }

    #[test]
    fn bad_scripts_are_usage_errors() {
        assert_eq!(parse("sned x", false).unwrap_err().exit_code(), 2);
    }
}
