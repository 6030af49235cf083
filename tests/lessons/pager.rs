//! `lab lesson N` in a real terminal: a lesson taller than the screen opens in a pager that
//! keeps its colours, as git does.

use crate::support::tmux::{Tmux, SCREEN_PATIENCE};
use crate::support::wait_until;

/// The pager the terminal tests use, whatever the tester's own settings: `less`, with the
/// default `LESS=FRX` that `lab` sets when LESS is unset (a tester's own LESS is overridden
/// with the same value).
pub(crate) fn pager_env() -> Vec<&'static str> {
    let mut env = vec!["PAGER=less"];
    if std::env::var_os("LESS").is_some() {
        env.push("LESS=FRX");
    }
    env
}

/// An attendee on an 80×24 laptop types `lab lesson 1` (about 150 lines). The lesson opens in
/// the pager: its title on the first row, the pager's prompt on the last, the shell not yet
/// back, and the heading in colour. A Ctrl-C in the pager does not end lab behind the pager's
/// back; `q` quits the pager, lab exits 0, and the terminal is intact (canonical mode, echo,
/// commands run).
#[test]
fn a_long_lesson_opens_in_a_pager_with_colour_and_q_returns_to_the_shell() {
    let tmux = Tmux::start("pager", 80, 24, &pager_env());
    tmux.run_lab("", "lesson 1");
    let screen = tmux.wait_for_visible("lesson 1 in the pager", |s| {
        s.contains("Lesson 1: the flood") && s.lines().last().is_some_and(|l| l.starts_with(':'))
    });
    assert!(
        !screen.contains("exit status"),
        "lab did not wait for the pager:\n{screen}"
    );
    let colours = tmux.visible_with_colours();
    assert!(
        colours.contains("\u{1b}["),
        "the pager shows the lesson without colour:\n{colours}"
    );
    tmux.press("C-c");
    // `less` drops keys typed ahead of an interrupt: `G` (to the end) until it is taken, so the
    // `q` after it is not lost.
    let mut rows = String::new();
    let mut looks = 0;
    let at_end = wait_until(SCREEN_PATIENCE, || {
        if looks % 50 == 0 {
            tmux.press("G");
        }
        looks += 1;
        rows = tmux.visible();
        rows.contains("(END)")
    });
    assert!(at_end, "the pager never took a key after Ctrl-C:\n{rows}");
    assert!(!rows.contains("exit status 0"), "Ctrl-C ended lab:\n{rows}");
    tmux.press("q");
    tmux.wait_for_exit_status(0);
    tmux.assert_terminal_usable();
}

/// `--no-pager` prints the lesson straight away: the shell is back at once, exit 0.
#[test]
fn no_pager_prints_the_lesson_straight_to_the_terminal() {
    let tmux = Tmux::start("nopager", 80, 24, &pager_env());
    tmux.run_lab("", "lesson 1 --no-pager");
    tmux.wait_for_exit_status(0);
    let screen = tmux.screen();
    assert!(screen.contains("Takeaway"), "{screen}");
}
