//! `--external` in a terminal: there is no built-in client, so the key footer must not offer
//! its keys (`c connect`, `s send`, `x close`, `t tour`), only those that act on the server's
//! side, and it keeps `?` and `q` at any width from 40 columns. Stages and the server alike.

use crate::support::tmux::Tmux;

/// The footer's keys line: the row under the footer's rule (`── lab ...`).
fn keys_row(rows: &str) -> Option<String> {
    let lines: Vec<&str> = rows.lines().collect();
    let rule = lines.iter().rposition(|l| l.starts_with("── lab "))?;
    lines.get(rule + 1).map(|l| l.trim_end().to_string())
}

/// The footer as drawn, once it is there: its keys line.
fn footer_keys(tmux: &Tmux) -> String {
    let rows = tmux.wait_for_visible("the key footer", |s| {
        keys_row(s).is_some_and(|k| k.contains("q quit"))
    });
    keys_row(&rows).expect("the keys line")
}

/// Keys of the built-in client that must not be offered with `--external`.
const CLIENT_KEYS: [&str; 5] = ["c connect", "s send", "x close", "t tour", "1-9 use"];

/// A facilitator runs `lab oneshot --external --port 0` in an 80×24 terminal, then narrows it
/// to 44 columns. At both widths the footer offers none of the client's keys (no `c connect`,
/// `s send`, `x close`), keeps `q quit` and `?`, and still offers the server's `r read` and
/// `a rearm` at 80. `s` and `c`, pressed anyway, say that there is no built-in client; `q` ends
/// the run.
#[test]
fn a_stage_with_external_offers_only_the_server_side_keys() {
    let tmux = Tmux::start("extfooter", 80, 24, &[]);
    tmux.run_lab("", "oneshot --external --port 0");
    let keys = footer_keys(&tmux);
    for client_key in &CLIENT_KEYS[..3] {
        assert!(!keys.contains(client_key), "{client_key} offered: {keys}");
    }
    assert!(
        keys.contains("r read") && keys.contains("a rearm"),
        "{keys}"
    );
    assert!(keys.contains("? keys") && keys.contains("q quit"), "{keys}");
    tmux.press("s");
    tmux.wait_for("the note for s", |s| {
        s.contains("--external: there is no built-in client for 's' to drive")
    });
    tmux.resize(44, 24);
    // A key redraws the footer at the new width (a resize alone does not).
    tmux.press("k");
    let rows = tmux.wait_for_visible("the footer at 44 columns", |s| {
        keys_row(s).is_some_and(|k| k.chars().count() < 44 && k.contains("q quit"))
    });
    let keys = keys_row(&rows).expect("the keys line");
    assert!(keys.contains("? keys"), "{keys}");
    assert!(
        !keys.contains("c connect") && !keys.contains("s send"),
        "{keys}"
    );
    tmux.press("c");
    tmux.wait_for("the note for c", |s| {
        s.contains("--external: there is no built-in client")
    });
    tmux.press("q");
    tmux.wait_for_exit_status(0);
}

/// The same for `lab server --external --port 0` at 80×24 and at 44×24: `k knotes`, `? keys`
/// and `q quit` only, no `c connect`, `1-9 use`, `s send ping`, `x close` or `t tour`; the
/// rule says `--external`, not "current: none yet" (there is no client to be current). `s`
/// says there is no client to drive; `q` ends the run, exit 0.
#[test]
fn the_server_with_external_offers_only_the_server_side_keys() {
    for width in [80, 44] {
        let tmux = Tmux::start("extfooterserver", width, 24, &[]);
        tmux.run_lab("", "server --external --port 0");
        let keys = footer_keys(&tmux);
        for client_key in CLIENT_KEYS {
            assert!(
                !keys.contains(client_key),
                "{width}: {client_key} offered: {keys}"
            );
        }
        assert!(keys.contains("k knotes"), "{width}: {keys}");
        assert!(
            keys.contains("? keys") && keys.contains("q quit"),
            "{width}: {keys}"
        );
        let rows = tmux.visible();
        assert!(
            rows.contains("── lab server · kqueue · --external ─") && !rows.contains("current:"),
            "{width}: {rows}"
        );
        if width == 80 {
            tmux.press("s");
            tmux.wait_for("the note for s", |s| {
                s.contains("--external: there is no built-in client for 's' to drive")
            });
        }
        tmux.press("q");
        tmux.wait_for_exit_status(0);
    }
}
