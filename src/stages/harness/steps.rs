//! `--step`: the default tour one step at a time, so that a facilitator can narrate it at the
//! projector. Before each step one prompt line (the footer's place, under the trace) names the
//! next action and waits for Space or Enter; `q` or Ctrl-C ends the run with its summary.
//!
//! The loop keeps running while the prompt waits: it blocks in `kevent` with no timeout, and a
//! key wakes it through the `keys` EVFILT_USER knote (B24), exactly as in interactive mode. So
//! events still show between steps (a flood keeps flooding), and the prompt, being the footer,
//! never stays in the trace: it is redrawn under each new line and erased at the end.
//!
//! A step is one action of the tour together with the `wait`s that follow it: a `wait` only
//! lets the loop run, which it does anyway while the prompt waits, so it needs no key of its
//! own. The built-in client's `connect` is the first step.

use super::{Lab, Step};
use crate::error::Error;
use crate::script::{self, Action};
use crate::term::step::{self, Gate, Press};
use crate::term::Key;

/// The note that opens a `--step` run.
pub(in crate::stages) const INTRO: &str = "--step: the tour one step at a time; Space (or Enter) \
     performs the step the line at the bottom names, q or Ctrl-C ends the run; the loop keeps \
     running in between, so events still show";

/// One step of the tour: what the prompt calls it, and its actions.
pub(in crate::stages) struct TourStep {
    what: String,
    actions: Vec<Action>,
}

/// The tour as steps: `connect` first, then each action of `tour` with the waits after it.
pub(in crate::stages) fn plan(tour: &str) -> Result<Vec<TourStep>, Error> {
    let mut steps = vec![TourStep {
        what: "connect".to_string(),
        actions: vec![Action::Connect],
    }];
    for piece in tour.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let action = script::parse_action(piece)?;
        match (&action, steps.last_mut()) {
            (Action::Wait(ms), Some(last)) => {
                last.what.push_str(&format!(", then wait {ms} ms"));
                last.actions.push(action);
            }
            _ => steps.push(TourStep {
                what: piece.to_string(),
                actions: vec![action],
            }),
        }
    }
    Ok(steps)
}

/// Where a `--step` run is.
pub(in crate::stages) struct Stepping {
    steps: usize,
    /// The prompt's keys (`term::step`, shared with `lab server --step`).
    gate: Gate,
}

impl Stepping {
    pub(in crate::stages) fn new(steps: usize) -> Stepping {
        Stepping {
            steps,
            gate: Gate::default(),
        }
    }
}

impl Lab {
    /// Play the steps, each once Space is pressed, until the last or `q`.
    pub(super) fn step_through(&mut self, tour: &[TourStep]) -> Step {
        for (i, step) in tour.iter().enumerate() {
            if self.quit {
                break;
            }
            self.wait_for_space(i + 1, &step.what)?;
            self.show_step(Some((i + 1, &step.what, false)))?;
            for action in &step.actions {
                if self.quit {
                    break;
                }
                self.perform(action)?;
            }
        }
        Ok(())
    }

    /// Show the prompt for step `n` and run the loop until Space, `q`, Ctrl-C or a signal.
    fn wait_for_space(&mut self, n: usize, what: &str) -> Step {
        if let Some(stepping) = self.stepping.as_mut() {
            stepping.gate.open();
        }
        self.show_step(Some((n, what, true)))?;
        while !self.quit && !self.stepping.as_ref().is_some_and(|s| s.gate.passed()) {
            self.poll(None)?;
        }
        if let Some(stepping) = self.stepping.as_mut() {
            stepping.gate.close();
        }
        Ok(())
    }

    /// A key during a `--step` run: Space or Enter starts the step the prompt names (a key
    /// pressed while a step runs is ignored, so one press is one step), `q`, Esc and Ctrl-C
    /// quit; any other key does nothing (`term::step::Gate`).
    pub(super) fn step_key(&mut self, key: Key) -> Step {
        let press = self
            .stepping
            .as_mut()
            .map_or(Press::Nothing, |s| s.gate.press(key));
        match press {
            Press::Quit => self.perform(&Action::Quit),
            Press::Next | Press::Nothing => Ok(()),
        }
    }

    /// The line under the trace: the step waiting for Space (`waiting`), the step running, or
    /// (before the first) the run's name. One line, cut to the terminal's width by the screen.
    pub(super) fn show_step(&mut self, step: Option<(usize, &str, bool)>) -> Step {
        let steps = self.stepping.as_ref().map_or(0, |s| s.steps);
        let line = match step {
            None => format!(
                "── lab {} --step: the tour in {steps} steps · q: quit",
                self.stage.name
            ),
            Some((n, what, true)) => {
                step::waiting_line(&format!("step {n} of {steps}: {what}"), "next step")
            }
            Some((n, what, false)) => step::running_line(&format!("step {n} of {steps}: {what}")),
        };
        self.tracer.tracer.set_footer(Some(line))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flood's tour in steps: the connect, then each action with the waits after it.
    #[test]
    fn a_step_is_an_action_and_the_waits_after_it() {
        let steps = plan("send hello; wait 1000; read; wait 300").unwrap();
        let what: Vec<&str> = steps.iter().map(|s| s.what.as_str()).collect();
        assert_eq!(
            what,
            [
                "connect",
                "send hello, then wait 1000 ms",
                "read, then wait 300 ms"
            ]
        );
        assert_eq!(
            steps[1].actions,
            [Action::Send(b"hello".to_vec()), Action::Wait(1000)]
        );
    }

    /// A tour that starts with a wait (`lab write`): the wait goes with the connect.
    #[test]
    fn a_leading_wait_goes_with_the_connect() {
        let steps = plan("wait 300; fill 10").unwrap();
        assert_eq!(steps[0].what, "connect, then wait 300 ms");
        assert_eq!(steps.len(), 2);
    }
}
