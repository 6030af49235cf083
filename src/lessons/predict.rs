//! `lab <stage> --predict`: predict, run, compare (tutorial notes, "openings" 5).
//!
//! Before the default tour runs, the lesson's question is asked and one line is read from stdin
//! (a terminal or a pipe: `echo 2 | lab oneshot --predict`). After the run, the answer is
//! compared with what the trace *counted* (the run's `Summary`), never with a number written
//! here, so the verdict stays honest on every backend.

use std::io::{BufRead, Write};

use crate::client::tour;
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

/// A question's words: written out, or built from the constants of the tour they describe (so
/// the numbers in them cannot drift from what the tour does).
#[derive(Clone, Copy, Debug)]
pub enum Words {
    Fixed(&'static str),
    Built(fn() -> String),
}

impl Words {
    pub fn text(&self) -> String {
        match self {
            Words::Fixed(text) => (*text).to_string(),
            Words::Built(build) => build(),
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

/// The server question, with the numbers of the tour's own constants.
fn server_ask() -> String {
    format!(
        "The tour's {} clients: the first pipelines {} messages and hangs up at once, the second \
         (a slow reader) pipelines {} large ones, the third sends {} and then goes idle until the \
         read timeout closes it. How many messages will the server echo in total?",
        tour::DEFAULT_CLIENTS,
        tour::messages_echoed_by(0),
        tour::messages_echoed_by(1),
        tour::messages_echoed_by(2),
    )
}

/// Why the default tour echoes what it echoes: each client's share, from the tour's constants.
fn server_explain() -> String {
    let shares: Vec<String> = (0..tour::DEFAULT_CLIENTS)
        .map(|i| tour::messages_echoed_by(i).to_string())
        .collect();
    format!(
        "Every complete message is echoed, however its bytes arrive: {} = {}. The first client's \
         hang-up comes with its data (EV_EOF with bytes still to read), the slow reader's echoes \
         wait in write mode (WRITE enabled, READ disabled) until they fit, and the idle client's \
         message is echoed before its timeout.",
        shares.join(" + "),
        tour::messages_echoed(tour::DEFAULT_CLIENTS)
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

/// `lab <stage> --predict`, for the stages' one-line hook: ask the question (stdin, whether or
/// not it is a terminal), run `default_tour` through `run`, mark the lesson done, then print the
/// verdict. The question and the verdict go to stdout, or to stderr with `--json` so that the
/// JSON lines stay clean.
pub fn run_stage(
    stage: &str,
    default_tour: &str,
    args: &crate::cli::StageArgs,
    run: impl FnOnce(&crate::cli::StageArgs) -> crate::Result<Summary>,
) -> crate::Result<()> {
    let mut out: Box<dyn Write> = if args.common.json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let echo = !crate::term::stdin_is_terminal();
    let prediction = ask(stage, &mut std::io::stdin().lock(), &mut out, echo)?;
    // The question is about the default tour: run exactly that, without the keyboard (stdin
    // was just used for the answer).
    let mut tour_args = args.clone();
    tour_args.common.script = Some(default_tour.to_string());
    let summary = run(&tour_args)?;
    super::stage_finished(stage);
    match judge(&prediction, &summary, &mut out) {
        Ok(_) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(crate::error::io_context("cannot print the verdict", err)),
    }
}

/// `lab server --predict`, for the server's hook: the same as [`run_stage`], with the server's
/// default tour (no `--script`, built-in clients) and its own arguments.
pub fn run_server(
    args: &crate::cli::ServerArgs,
    run: impl FnOnce(&crate::cli::ServerArgs) -> crate::Result<Option<Summary>>,
) -> crate::Result<()> {
    let mut out: Box<dyn Write> = if args.common.json {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let echo = !crate::term::stdin_is_terminal();
    let prediction = ask("server", &mut std::io::stdin().lock(), &mut out, echo)?;
    let mut tour_args = args.clone();
    tour_args.common.script = None;
    tour_args.common.external = false;
    let summary = run(&tour_args)?;
    super::server_finished(args);
    let Some(summary) = summary else {
        return Ok(());
    };
    match judge(&prediction, &summary, &mut out) {
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
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    echo_answer: bool,
) -> crate::Result<Prediction> {
    let question = question(stage)
        .ok_or_else(|| crate::Error::usage(format!("`lab {stage}` has no prediction question")))?;
    let io = |err| crate::error::io_context("cannot ask the question", err);
    writeln!(out, "Predict: {}", question.ask.text()).map_err(io)?;
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
            question.explain.text()
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
    writeln!(out, "{}", question.explain.text())?;
    Ok(Some(right))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert_eq!(judge(&p, &summary(2), &mut out).unwrap(), Some(true));
        assert_eq!(judge(&p, &summary(3), &mut out).unwrap(), Some(false));
    }

    #[test]
    fn the_flood_is_graded_by_band() {
        let p = Prediction {
            stage: "flood",
            answer: Some(u64::MAX),
        };
        let mut out = Vec::new();
        assert_eq!(judge(&p, &summary(1234), &mut out).unwrap(), Some(true));
        assert_eq!(judge(&p, &summary(1), &mut out).unwrap(), Some(false));
    }

    /// The server question's numbers are the tour's: its slow reader's message count appears
    /// in the question, and the tour's total is graded right.
    #[test]
    fn the_server_question_takes_its_numbers_from_the_tour() {
        let question = question("server").unwrap();
        let ask = question.ask.text();
        assert!(
            ask.contains(&format!("pipelines {} large", tour::SLOW_MESSAGES)),
            "{ask}"
        );
        let total = tour::messages_echoed(tour::DEFAULT_CLIENTS) as u64;
        assert!(question.explain.text().contains(&format!("= {total}")));
        let p = Prediction {
            stage: "server",
            answer: Some(total),
        };
        let summary = Summary {
            server: Some(crate::trace::ServerSummary {
                messages: total,
                ..Default::default()
            }),
            ..Summary::default()
        };
        assert_eq!(judge(&p, &summary, &mut Vec::new()).unwrap(), Some(true));
    }

    #[test]
    fn a_blank_or_missing_answer_runs_without_a_verdict() {
        let mut out = Vec::new();
        let p = ask("clear", &mut &b""[..], &mut out, true).unwrap();
        assert_eq!(p.answer, None);
        assert!(String::from_utf8(out).unwrap().contains("No answer given"));
        let p = ask("clear", &mut &b"I think 3\n"[..], &mut Vec::new(), true).unwrap();
        assert_eq!(p.answer, Some(3));
    }
}
