//! `--step`, the part the stages and the server share: the keys of a step prompt, and the
//! prompt line itself (the footer's place, under the trace).
//!
//! A step prompt names what comes next and waits: Space or Enter goes on, `q`, Esc (the key
//! reader turns it into `q`) and Ctrl-C end the run with its summary, any other key does
//! nothing. One press is one step: a key pressed while a step runs, before the next prompt is
//! up, does not count for that prompt. What a step *is* differs: the stages' is one action of
//! their tour (`stages::harness::steps`), the server's one pass of its event loop
//! (`server::step`).

use super::Key;

/// What a key does at a step prompt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Press {
    /// Space or Enter while the prompt is up: go on.
    Next,
    /// `q`, Esc or Ctrl-C: end the run.
    Quit,
    /// Any other key, or Space while a step runs.
    Nothing,
}

/// A step prompt: whether it is up, and whether Space has been pressed since.
#[derive(Debug, Default)]
pub struct Gate {
    waiting: bool,
    passed: bool,
}

impl Gate {
    /// Put the prompt up: from now on Space goes on.
    pub fn open(&mut self) {
        self.waiting = true;
        self.passed = false;
    }

    /// The step runs: Space does nothing until the next prompt.
    pub fn close(&mut self) {
        self.waiting = false;
    }

    /// Space (or Enter) was pressed while the prompt was up.
    pub fn passed(&self) -> bool {
        self.passed
    }

    /// A key pressed now.
    pub fn press(&mut self, key: Key) -> Press {
        match key {
            Key::Char(' ') | Key::Char('\n') if self.waiting => {
                self.passed = true;
                Press::Next
            }
            Key::Interrupt | Key::Char('q') => Press::Quit,
            Key::Char(_) => Press::Nothing,
        }
    }
}

/// The prompt while it waits: `▶ {what} · Space: {next}, q: quit`.
pub fn waiting_line(what: &str, next: &str) -> String {
    format!("▶ {what} · Space: {next}, q: quit")
}

/// The prompt while the step runs: `▶ {what} · running · q: quit`.
pub fn running_line(what: &str) -> String {
    format!("▶ {what} · running · q: quit")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Space counts only while the prompt is up: one press, one step.
    #[test]
    fn space_goes_on_only_while_the_prompt_waits() {
        let mut gate = Gate::default();
        assert_eq!(gate.press(Key::Char(' ')), Press::Nothing);
        gate.open();
        assert!(!gate.passed());
        assert_eq!(gate.press(Key::Char('x')), Press::Nothing);
        assert_eq!(gate.press(Key::Char('\n')), Press::Next);
        assert!(gate.passed());
        gate.close();
        assert_eq!(gate.press(Key::Char(' ')), Press::Nothing);
        gate.open();
        assert!(!gate.passed(), "a new prompt waits for a new press");
    }

    /// q and Ctrl-C end the run whether the prompt is up or a step runs.
    #[test]
    fn q_and_ctrl_c_quit_at_any_time() {
        let mut gate = Gate::default();
        assert_eq!(gate.press(Key::Char('q')), Press::Quit);
        gate.open();
        assert_eq!(gate.press(Key::Interrupt), Press::Quit);
        assert!(!gate.passed());
    }
}
