//! `lab <stage> --predict`: predict, run, compare (tutorial notes, "openings" 5).
//!
//! Before the default tour runs, the lesson's question is asked and one line is read from stdin
//! (a terminal or a pipe: `echo 2 | lab oneshot --predict`). After the run, the answer is
//! compared with what the trace *counted* (the run's `Summary`), never with a number written
//! here, so the verdict stays honest on every backend.
//!
//! The caller runs the tour (this module runs nothing): [`output`], [`ask`], then the run, then
//! [`verdict`]. What the server question says about its tour comes in as data ([`ServerTour`]),
//! from the tour's own declaration.

use std::io::{BufRead, Write};

use crate::trace::text::group;
use crate::trace::Summary;

/// How an answer is graded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grading {
    /// The answer must equal the count.
    Exact,
    /// The answer must fall in the same band as the count: 0, 1, a few (2–10), many (> 10).
    /// The flood's count depends on the machine's speed; its lesson is "more than one".
    Band,
}

/// The server tour the server question is about, as the tour declares it: the messages the
/// server echoes for each of its three clients (the echo client, the slow reader, the idle one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerTour {
    pub shares: [u64; 3],
}

impl ServerTour {
    /// Messages echoed in the whole tour.
    pub fn total(&self) -> u64 {
        self.shares.iter().sum()
    }
}

/// A question's words: written out, or built from the tour they describe (so the numbers in
/// them cannot drift from what the tour declares).
#[derive(Clone, Copy, Debug)]
pub enum Words {
    Fixed(&'static str),
    Built(fn(&ServerTour) -> String),
}

impl Words {
    pub fn text(&self, tour: &ServerTour) -> String {
        match self {
            Words::Fixed(text) => (*text).to_string(),
            Words::Built(build) => build(tour),
        }
    }
}

/// One stage's checkpoint question.
#[derive(Debug)]
pub struct Question {
    /// The stage (and lesson) name.
    pub stage: &'static str,
    /// What is asked, in the lesson's words.
    pub ask: Words,
    /// What is counted, in words for the verdict (`conn1 READ events`).
    pub counted: &'static str,
    /// Where the answer is in the run's summary.
    count: fn(&Summary) -> u64,
    grading: Grading,
    /// Why the trace shows what it shows.
    pub explain: Words,
}

/// Events delivered for conn1's READ knote.
fn conn1_read(summary: &Summary) -> u64 {
    summary
        .by_label
        .iter()
        .find(|(label, _)| label == "conn1 READ")
        .map_or(0, |(_, n)| *n)
}

/// Messages the server echoed.
fn messages(summary: &Summary) -> u64 {
    summary.server.as_ref().map_or(0, |s| s.messages)
}

/// The server question, with the numbers the tour declares.
fn server_ask(tour: &ServerTour) -> String {
    format!(
        "The tour's {} clients: the first pipelines {} messages and hangs up at once, the second \
         (a slow reader) pipelines {} large ones, the third sends {} and then goes idle until the \
         read timeout closes it. How many messages will the server echo in total?",
        tour.shares.len(),
        tour.shares[0],
        tour.shares[1],
        tour.shares[2],
    )
}

/// Why the default tour echoes what it echoes: each client's share, as the tour declares it.
fn server_explain(tour: &ServerTour) -> String {
    let shares: Vec<String> = tour.shares.iter().map(u64::to_string).collect();
    format!(
        "Every complete message is echoed, however its bytes arrive: {} = {}. The first client's \
         hang-up comes with its data (EV_EOF with bytes still to read), the slow reader's echoes \
         wait in write mode (WRITE enabled, READ disabled) until they fit, and the idle client's \
         message is echoed before its timeout.",
        shares.join(" + "),
        tour.total()
    )
}

/// The questions, one per stage, as the lessons pose them.
pub const QUESTIONS: [Question; 5] = [
    Question {
        stage: "flood",
        ask: Words::Fixed(
            "The built-in client sends \"hello\" once, and the server does not read it for one \
              second. How many READ events will kevent report for conn1 in that second? \
              (a number, or: many)",
        ),
        counted: "conn1 READ events",
        count: conn1_read,
        grading: Grading::Band,
        explain: Words::Fixed(
            "Plain EV_ADD is level-triggered (B12): every kevent call re-checks the socket, \
                  and while the 5 bytes sit unread it is readable, so every call reports it \
                  again. Only the `read` stops the flood.",
        ),
    },
    Question {
        stage: "oneshot",
        ask: Words::Fixed(
            "With EV_ONESHOT, the client sends \"hello\", then \"again\", then the server \
              re-arms once with EV_ADD. Nobody reads. How many READ events for conn1 in total?",
        ),
        counted: "conn1 READ events",
        count: conn1_read,
        grading: Grading::Exact,
        explain: Words::Fixed(
            "The first event deletes the knote (B15), so \"again\" arrives unseen. The \
                  re-arm (EV_ADD) makes a fresh knote; the 10 unread bytes make it fire at once, \
                  and that delivery deletes it again: 2 events.",
        ),
    },
    Question {
        stage: "dispatch",
        ask: Words::Fixed(
            "With EV_DISPATCH, the client sends \"hello\", then \"again\", then the server \
              re-arms once with EV_ENABLE. Nobody reads. How many READ events for conn1 in total?",
        ),
        counted: "conn1 READ events",
        count: conn1_read,
        grading: Grading::Exact,
        explain: Words::Fixed(
            "The first event disables the knote (B16); it is kept but silent, so \"again\" \
                  is not reported. EV_ENABLE turns it back on, the unread bytes make it fire once \
                  more, and that delivery disables it again: 2 events.",
        ),
    },
    Question {
        stage: "clear",
        ask: Words::Fixed(
            "With EV_CLEAR, the client sends \"abc\", then \"def\", the server reads 2 bytes, \
              then the client sends \"g\". How many READ events for conn1 in total?",
        ),
        counted: "conn1 READ events",
        count: conn1_read,
        grading: Grading::Exact,
        explain: Words::Fixed(
            "EV_CLEAR reports a change of state, not a level (B14): each new arrival is one \
                  event (abc, def, g), even with older bytes unread; the partial read is not an \
                  arrival and reports nothing: 3 events.",
        ),
    },
    Question {
        stage: "server",
        ask: Words::Built(server_ask),
        counted: "echoed messages",
        count: messages,
        grading: Grading::Exact,
        explain: Words::Built(server_explain),
    },
];

/// Where the question and the verdict go: stdout, or stderr with `--json` so that the JSON
/// lines stay clean.
pub fn output(json: bool) -> Box<dyn Write> {
    if json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    }
}

/// Ask the stage's question and read the answer from stdin, whether or not it is a terminal (a
/// piped answer is repeated, so the transcript reads as a dialogue).
pub fn ask_stdin(stage: &str, tour: &ServerTour, out: &mut dyn Write) -> crate::Result<Prediction> {
    let echo = !crate::term::stdin_is_terminal();
    ask(stage, tour, &mut std::io::stdin().lock(), out, echo)
}

/// After the run: print the verdict on `out`. A closed pipe is not an error.
pub fn verdict(
    prediction: &Prediction,
    summary: &Summary,
    tour: &ServerTour,
    out: &mut dyn Write,
) -> crate::Result<()> {
    match judge(prediction, summary, tour, out) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(crate::error::io_context("cannot print the verdict", err)),
    }
}

/// The question for a stage, if it has one.
pub fn question(stage: &str) -> Option<&'static Question> {
    QUESTIONS.iter().find(|q| q.stage == stage)
}

/// A prediction, read before the run.
#[derive(Debug, PartialEq, Eq)]
pub struct Prediction {
    pub stage: &'static str,
    /// The number predicted; `None` when no usable answer was given (the run goes on anyway).
    pub answer: Option<u64>,
}

/// Ask the stage's question on `out` and read one line from `input`.
///
/// End of input or a blank line is not an error: the tour runs without a verdict, and the
/// message says how to answer next time.
///
/// `echo_answer` repeats a piped answer after the prompt, so the transcript reads as a dialogue
/// (a terminal already shows what was typed).
pub fn ask(
    stage: &str,
    tour: &ServerTour,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    echo_answer: bool,
) -> crate::Result<Prediction> {
    let question = question(stage)
        .ok_or_else(|| crate::Error::usage(format!("`lab {stage}` has no prediction question")))?;
    let io = |err| crate::error::io_context("cannot ask the question", err);
    writeln!(out, "Predict: {}", question.ask.text(tour)).map_err(io)?;
    write!(out, "Your answer: ").map_err(io)?;
    out.flush().map_err(io)?;

    let mut line = String::new();
    let read = input
        .read_line(&mut line)
        .map_err(|err| crate::error::io_context("cannot read your answer", err))?;
    let answer = parse_answer(&line);
    if read == 0 || line.trim().is_empty() {
        writeln!(
            out,
            "\nNo answer given, so no verdict: the tour runs anyway. Next time type a number, \
             or pipe it in: echo 2 | lab {stage} --predict"
        )
        .map_err(io)?;
    } else if answer.is_none() {
        writeln!(
            out,
            "Could not read a number from {:?}, so no verdict: the tour runs anyway.",
            line.trim()
        )
        .map_err(io)?;
    } else if echo_answer {
        writeln!(out, "{}", line.trim()).map_err(io)?;
    }
    Ok(Prediction {
        stage: question.stage,
        answer,
    })
}

/// The first number in the answer; "many"/"lots" count as many (for the flood's band).
fn parse_answer(line: &str) -> Option<u64> {
    let lower = line.trim().to_ascii_lowercase();
    if ["many", "lots", "hundreds", "thousands", "infinite"]
        .iter()
        .any(|w| lower.contains(w))
    {
        return Some(u64::MAX);
    }
    let digits: String = lower
        .chars()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn band(n: u64) -> &'static str {
    match n {
        0 => "none",
        1 => "exactly one",
        2..=10 => "a few (2 to 10)",
        _ => "many (more than 10)",
    }
}

/// Compare the prediction with what the trace counted, and explain. Returns whether it was right
/// (`None` when there was no answer to grade).
pub fn judge(
    prediction: &Prediction,
    summary: &Summary,
    tour: &ServerTour,
    out: &mut dyn Write,
) -> std::io::Result<Option<bool>> {
    let Some(question) = question(prediction.stage) else {
        return Ok(None);
    };
    let counted = (question.count)(summary);
    writeln!(out)?;
    writeln!(out, "── prediction ──")?;
    let Some(answer) = prediction.answer else {
        writeln!(
            out,
            "The trace counted {} {}. {}",
            group(counted),
            question.counted,
            question.explain.text(tour)
        )?;
        return Ok(None);
    };
    let (right, yours) = match question.grading {
        Grading::Exact => (answer == counted, group(answer)),
        Grading::Band => (
            band(answer) == band(counted),
            if answer == u64::MAX {
                "many".to_string()
            } else {
                format!("{}, {}", group(answer), band(answer))
            },
        ),
    };
    let counted_words = match question.grading {
        Grading::Exact => group(counted),
        Grading::Band => format!("{}, {}", group(counted), band(counted)),
    };
    let verdict = if right { "Right." } else { "Not this time." };
    writeln!(
        out,
        "{verdict} You said {yours}; the trace counted {counted_words} {}.",
        question.counted
    )?;
    writeln!(out, "{}", question.explain.text(tour))?;
    Ok(Some(right))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default tour as the lessons tell it: 3 + 16 + 1 messages.
    const TOUR: ServerTour = ServerTour { shares: [3, 16, 1] };

    fn summary(n: u64) -> Summary {
        Summary {
            by_label: vec![("conn1 READ".to_string(), n)],
            ..Summary::default()
        }
    }

    #[test]
    fn an_exact_answer_is_graded_against_the_trace_count() {
        let p = Prediction {
            stage: "oneshot",
            answer: Some(2),
        };
        let mut out = Vec::new();
        assert_eq!(judge(&p, &summary(2), &TOUR, &mut out).unwrap(), Some(true));
        assert_eq!(
            judge(&p, &summary(3), &TOUR, &mut out).unwrap(),
            Some(false)
        );
    }

    #[test]
    fn the_flood_is_graded_by_band() {
        let p = Prediction {
            stage: "flood",
            answer: Some(u64::MAX),
        };
        let mut out = Vec::new();
        assert_eq!(
            judge(&p, &summary(1234), &TOUR, &mut out).unwrap(),
            Some(true)
        );
        assert_eq!(
            judge(&p, &summary(1), &TOUR, &mut out).unwrap(),
            Some(false)
        );
    }

    /// The server question's numbers are the tour's as declared: the slow reader's 16
    /// messages appear in the question, and 20 in all is graded right.
    #[test]
    fn the_server_question_takes_its_numbers_from_the_tour() {
        let question = question("server").unwrap();
        let ask = question.ask.text(&TOUR);
        assert!(ask.contains("pipelines 16 large"), "{ask}");
        assert!(question.explain.text(&TOUR).contains("3 + 16 + 1 = 20"));
        let p = Prediction {
            stage: "server",
            answer: Some(20),
        };
        let summary = Summary {
            server: Some(crate::trace::ServerSummary {
                messages: 20,
                ..Default::default()
            }),
            ..Summary::default()
        };
        assert_eq!(
            judge(&p, &summary, &TOUR, &mut Vec::new()).unwrap(),
            Some(true)
        );
    }

    #[test]
    fn a_blank_or_missing_answer_runs_without_a_verdict() {
        let mut out = Vec::new();
        let p = ask("clear", &TOUR, &mut &b""[..], &mut out, true).unwrap();
        assert_eq!(p.answer, None);
        assert!(String::from_utf8(out).unwrap().contains("No answer given"));
        let p = ask(
            "clear",
            &TOUR,
            &mut &b"I think 3\n"[..],
            &mut Vec::new(),
            true,
        )
        .unwrap();
        assert_eq!(p.answer, Some(3));
    }
}
