//! `lab <stage> --predict`: predict, run, compare (tutorial notes, "openings" 5).
//!
//! Before the default tour runs, the lesson's questions are asked and one line is read from stdin
//! for each (a terminal or a pipe: `echo 2 | lab oneshot --predict`). An answer is a number
//! (`2`, `two`), a band (`none`, `a few`, `many`) or, for a comparison, `more`/`fewer`/`same`;
//! anything else is asked again with a hint. After the run, the answers are compared with what
//! the trace *counted* (the run's `Summary`), never with a number written here, so the verdict
//! stays honest on every backend, and for a `--script` as much as for the tour.
//!
//! The caller runs the tour (this module runs nothing): [`output`], [`ask`], then the run, then
//! [`verdict`]. What the server question says about its tour comes in as data ([`ServerTour`]),
//! from the tour's own declaration.

use std::io::{BufRead, Write};

use crate::trace::text::group;
use crate::trace::words::wrap_hanging;
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
    /// What kind of answer it takes, and where the truth is in the run's summary.
    kind: Kind,
    /// Why the trace shows what it shows (on the default tour).
    pub explain: Words,
}

/// What a question asks for.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// A count, found in the summary, graded as [`Grading`] says.
    Count(fn(&Summary) -> u64, Grading),
    /// More, fewer or the same: the first count of the summary against the second.
    Compare(fn(&Summary) -> u64, fn(&Summary) -> u64),
}

/// Events delivered for conn1's READ knote.
fn conn1_read(summary: &Summary) -> u64 {
    summary
        .by_label
        .iter()
        .find(|(label, _)| label == "conn1 READ")
        .map_or(0, |(_, n)| *n)
}

/// Changes the run submitted, and the kevent calls that carried them (lesson 5's second
/// question: does batching make changes outnumber calls?).
fn changes(summary: &Summary) -> u64 {
    summary.changes
}

fn kevent_calls(summary: &Summary) -> u64 {
    summary.kevent_calls
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
pub const QUESTIONS: [Question; 6] = [
    Question {
        stage: "flood",
        ask: Words::Fixed(
            "The built-in client sends \"hello\" once, and the server does not read it for one \
              second. How many READ events will kevent report for conn1 in that second? \
              (a number such as 3 or three, or: none, a few, many)",
        ),
        counted: "conn1 READ events",
        kind: Kind::Count(conn1_read, Grading::Band),
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
        kind: Kind::Count(conn1_read, Grading::Exact),
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
        kind: Kind::Count(conn1_read, Grading::Exact),
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
        kind: Kind::Count(conn1_read, Grading::Exact),
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
        kind: Kind::Count(messages, Grading::Exact),
        explain: Words::Built(server_explain),
    },
    // Lesson 5 asks a second question "while you wait": the batching one.
    Question {
        stage: "server",
        ask: Words::Fixed(
            "And will the trace show more changes than kevent calls, or fewer? (more, fewer, \
             or same)",
        ),
        counted: "changes against kevent calls",
        kind: Kind::Compare(changes, kevent_calls),
        explain: Words::Fixed(
            "Changes are staged in the change_list and ride on the next kevent wait, several \
             to a call, while many calls carry none: batching is why changes can outnumber \
             calls. `--no-batch` gives every change a call of its own; compare the summaries.",
        ),
    },
];

/// Where the question and the verdict go: stdout, or stderr with `--json` so that the JSON
/// lines stay clean. In a terminal the text wraps to its width (up to 100 columns, as the
/// lessons); piped, a sentence stays on one line.
pub fn output(json: bool) -> Box<dyn Write> {
    use std::io::IsTerminal;
    let (out, terminal): (Box<dyn Write>, bool) = if json {
        (Box::new(std::io::stderr()), std::io::stderr().is_terminal())
    } else {
        (Box::new(std::io::stdout()), std::io::stdout().is_terminal())
    };
    let width = crossterm::terminal::size()
        .ok()
        .map(|(w, _)| usize::from(w));
    match width {
        Some(width) if terminal => Box::new(Wrapped::new(out, width.min(100))),
        _ => out,
    }
}

/// A writer that wraps each line it is given to `width` columns at spaces; a continuation keeps
/// the line's own indent. A partial line (the `Your answer: ` prompt) goes out as it is on
/// `flush`, so the answer is typed after it.
struct Wrapped<W: Write> {
    out: W,
    width: usize,
    line: String,
}

impl<W: Write> Wrapped<W> {
    fn new(out: W, width: usize) -> Wrapped<W> {
        Wrapped {
            out,
            width,
            line: String::new(),
        }
    }
}

impl<W: Write> Write for Wrapped<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.push_str(&String::from_utf8_lossy(buf));
        while let Some(end) = self.line.find('\n') {
            let line: String = self.line.drain(..=end).collect();
            let line = line.trim_end_matches('\n');
            let indent = line.len() - line.trim_start_matches(' ').len();
            for part in wrap_hanging(line, self.width, indent) {
                writeln!(self.out, "{part}")?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let partial = std::mem::take(&mut self.line);
        self.out.write_all(partial.as_bytes())?;
        self.out.flush()
    }
}

impl<W: Write> Drop for Wrapped<W> {
    fn drop(&mut self) {
        // Nothing to report on: a closed pipe is not an error here (STYLE.md habit 6).
        let _ = self.flush();
    }
}

/// Ask the stage's questions and read the answers from stdin, whether or not it is a terminal
/// (a piped answer is repeated, so the transcript reads as a dialogue).
pub fn ask_stdin(stage: &str, tour: &ServerTour, out: &mut dyn Write) -> crate::Result<Prediction> {
    let echo = !crate::term::stdin_is_terminal();
    ask(stage, tour, &mut std::io::stdin().lock(), out, echo)
}

/// After the run: print the verdict on `out`. `tour`: whether the run was the default tour
/// (the explanations are about the tour; a script's count is graded all the same). A closed
/// pipe is not an error.
pub fn verdict(
    prediction: &Prediction,
    summary: &Summary,
    tour: &ServerTour,
    was_tour: bool,
    out: &mut dyn Write,
) -> crate::Result<()> {
    let result = (|| -> std::io::Result<()> {
        writeln!(out)?;
        writeln!(out, "── prediction ──")?;
        if !was_tour {
            writeln!(
                out,
                "Graded against the run you asked for, not the default tour; the explanation \
                 is the tour's."
            )?;
        }
        for (question, answer) in &prediction.answers {
            judge(question, *answer, summary, tour, out)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(crate::error::io_context("cannot print the verdict", err)),
    }
}

/// The questions for a stage, in the order the lesson asks them (none: no checkpoint).
pub fn questions(stage: &str) -> impl Iterator<Item = &'static Question> + '_ {
    QUESTIONS.iter().filter(move |q| q.stage == stage)
}

/// An answer, as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    /// A number: `2`, `two`, `none` (0), `a hundred`.
    Count(u64),
    /// "a few", "several", "some": 2 to 10.
    Few,
    /// "many", "lots", "thousands": more than 10.
    Many,
    /// A comparison: more, fewer, the same.
    More,
    Fewer,
    Same,
}

/// The predictions, read before the run: each question with its answer (`None` when none was
/// given; the run goes on anyway).
#[derive(Debug, PartialEq, Eq)]
pub struct Prediction {
    pub stage: &'static str,
    pub answers: Vec<(&'static Question, Option<Answer>)>,
}

impl PartialEq for Question {
    fn eq(&self, other: &Question) -> bool {
        std::ptr::eq(self, other)
    }
}
impl Eq for Question {}

/// The longest answer line read: enough for any sentence, and `--predict < /dev/zero` cannot
/// read one endless line into memory.
pub const MAX_ANSWER_BYTES: u64 = 256;

/// How many times an unreadable answer is asked again before the run goes on without it.
const TRIES: usize = 5;

/// Ask the stage's questions on `out` and read one line for each from `input`.
///
/// End of input or a blank line is not an error: the run goes on without a verdict for that
/// question, and the message says how to answer next time. An answer that is not a count (or,
/// for a comparison, not more/fewer/same) is asked again with a hint.
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
    let first = questions(stage)
        .next()
        .ok_or_else(|| crate::Error::usage(format!("`lab {stage}` has no prediction question")))?;
    let io = |err| crate::error::io_context("cannot ask the question", err);
    let mut answers = Vec::new();
    let mut input_over = false;
    for question in questions(stage) {
        if input_over {
            answers.push((question, None));
            continue;
        }
        writeln!(out, "Predict: {}", question.ask.text(tour)).map_err(io)?;
        let mut answer = None;
        for _ in 0..TRIES {
            write!(out, "Your answer: ").map_err(io)?;
            out.flush().map_err(io)?;
            let line = match read_answer_line(input)? {
                Line::End => {
                    writeln!(
                        out,
                        "\nNo answer given, so no verdict: the run goes on anyway. Next time \
                         type a number, or pipe it in: echo 2 | lab {stage} --predict"
                    )
                    .map_err(io)?;
                    input_over = true;
                    break;
                }
                Line::TooLong => {
                    writeln!(
                        out,
                        "\nThat answer is longer than {MAX_ANSWER_BYTES} bytes (is stdin a \
                         file?), so no verdict: the run goes on anyway."
                    )
                    .map_err(io)?;
                    input_over = true;
                    break;
                }
                Line::Text(line) => line,
            };
            if line.trim().is_empty() {
                writeln!(
                    out,
                    "No answer given, so no verdict for this one: the run goes on anyway."
                )
                .map_err(io)?;
                break;
            }
            if echo_answer {
                writeln!(out, "{}", line.trim()).map_err(io)?;
            }
            match parse_for(question, &line) {
                Ok(parsed) => {
                    answer = Some(parsed);
                    break;
                }
                Err(hint) => writeln!(out, "{hint}").map_err(io)?,
            }
        }
        answers.push((question, answer));
    }
    Ok(Prediction {
        stage: first.stage,
        answers,
    })
}

enum Line {
    Text(String),
    End,
    TooLong,
}

/// One line of at most [`MAX_ANSWER_BYTES`], read as bytes (any encoding reads as text).
fn read_answer_line(input: &mut dyn BufRead) -> crate::Result<Line> {
    let mut bytes = Vec::new();
    let read = std::io::Read::take(&mut *input, MAX_ANSWER_BYTES)
        .read_until(b'\n', &mut bytes)
        .map_err(|err| crate::error::io_context("cannot read your answer", err))?;
    if read == 0 {
        return Ok(Line::End);
    }
    if bytes.last() != Some(&b'\n') && read as u64 == MAX_ANSWER_BYTES {
        return Ok(Line::TooLong);
    }
    Ok(Line::Text(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Read an answer to `question`, or say what would be understood.
fn parse_for(question: &Question, line: &str) -> Result<Answer, String> {
    let shown = line.trim();
    match question.kind {
        Kind::Count(..) => match parse_count(line) {
            Some(answer) => Ok(answer),
            None if shown.starts_with('-') => Err(format!(
                "{shown:?}: a count cannot be negative. Type a number (2 or two), `none`, \
                 `a few` or `many`."
            )),
            None => Err(format!(
                "Could not read a count from {shown:?}. Type a number (2 or two), `none`, \
                 `a few` or `many`."
            )),
        },
        Kind::Compare(..) => parse_comparison(line).ok_or_else(|| {
            format!("Could not read {shown:?} as a comparison. Type `more`, `fewer` or `same`.")
        }),
    }
}

/// The words of a line, lower case, punctuation gone (`1,000` stays one number).
fn words(line: &str) -> Vec<String> {
    line.to_lowercase()
        .split(|c: char| c.is_whitespace() || matches!(c, '.' | '!' | '?' | ';' | ':' | '(' | ')'))
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-')
                .to_string()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// The number words an attendee may type, zero to twenty, and the tens.
const NUMBER_WORDS: [(&str, u64); 28] = [
    ("zero", 0),
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
];

/// A count: the first number in the line (`I think 3`, `twenty`, `a hundred`, `2 thousand`),
/// `none`/`no`/`nothing` for 0, or a band: `a few`/`several`/`some`, `many`/`lots`. `None`
/// when there is no count in it, or it is negative (`-1` is not 1).
fn parse_count(line: &str) -> Option<Answer> {
    let words = words(line);
    let has = |w: &str| words.iter().any(|x| x == w);
    for (i, word) in words.iter().enumerate() {
        let next = words.get(i + 1).map(String::as_str);
        let scale = match next {
            Some("hundred") => 100,
            Some("thousand") => 1000,
            Some("million") => 1_000_000,
            _ => 1,
        };
        if word.starts_with('-') && word[1..].starts_with(|c: char| c.is_ascii_digit()) {
            return None;
        }
        let digits: String = word.chars().filter(|c| *c != ',' && *c != '_').collect();
        if let Ok(n) = digits.parse::<u64>() {
            return Some(Answer::Count(n.saturating_mul(scale)));
        }
        if let Some((_, n)) = NUMBER_WORDS.iter().find(|(w, _)| w == word) {
            // "twenty one" reads as 21.
            let ones = next
                .and_then(|w| NUMBER_WORDS[1..10].iter().find(|(x, _)| *x == w))
                .filter(|_| *n >= 20)
                .map_or(0, |(_, k)| *k);
            return Some(Answer::Count((n + ones).saturating_mul(scale)));
        }
        match word.as_str() {
            "hundred" => return Some(Answer::Count(100)),
            "thousand" => return Some(Answer::Count(1000)),
            "million" => return Some(Answer::Count(1_000_000)),
            _ => {}
        }
    }
    if has("none") || has("nothing") || has("never") {
        return Some(Answer::Count(0));
    }
    if has("few") || has("several") || has("some") || has("couple") {
        return Some(Answer::Few);
    }
    if [
        "many",
        "lots",
        "hundreds",
        "thousands",
        "millions",
        "infinite",
        "endless",
        "loads",
    ]
    .iter()
    .any(|w| has(w))
    {
        return Some(Answer::Many);
    }
    None
}

/// More, fewer, the same.
fn parse_comparison(line: &str) -> Option<Answer> {
    let words = words(line);
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    if has(&["more", "greater", "larger", "higher", "bigger"]) {
        Some(Answer::More)
    } else if has(&["fewer", "less", "smaller", "lower"]) {
        Some(Answer::Fewer)
    } else if has(&["same", "equal", "equally"]) {
        Some(Answer::Same)
    } else {
        None
    }
}

/// The band of a count: 0, 1, a few (2–10), many (> 10).
fn band(n: u64) -> &'static str {
    match n {
        0 => "none",
        1 => "exactly one",
        2..=10 => "a few (2 to 10)",
        _ => "many (more than 10)",
    }
}

/// An answer in words, for the verdict.
fn said(answer: Answer, grading: Grading) -> String {
    match answer {
        Answer::Count(n) if grading == Grading::Band => format!("{}, {}", group(n), band(n)),
        Answer::Count(n) => group(n),
        Answer::Few => "a few".to_string(),
        Answer::Many => "many".to_string(),
        Answer::More => "more".to_string(),
        Answer::Fewer => "fewer".to_string(),
        Answer::Same => "the same".to_string(),
    }
}

/// Compare one answer with what the trace counted, and explain. Returns whether it was right
/// (`None` when there was no answer to grade).
pub fn judge(
    question: &Question,
    answer: Option<Answer>,
    summary: &Summary,
    tour: &ServerTour,
    out: &mut dyn Write,
) -> std::io::Result<Option<bool>> {
    let (counted_words, right) = match question.kind {
        Kind::Count(count, grading) => {
            let counted = count(summary);
            let words = match grading {
                Grading::Exact => group(counted),
                Grading::Band => format!("{}, {}", group(counted), band(counted)),
            };
            let right = answer.map(|answer| match answer {
                Answer::Count(n) if grading == Grading::Exact => n == counted,
                Answer::Count(n) => band(n) == band(counted),
                // A band for an exact question is right when the count falls in it.
                Answer::Few => band(counted) == band(2),
                Answer::Many => band(counted) == band(11),
                Answer::More | Answer::Fewer | Answer::Same => false,
            });
            (format!("{words} {}", question.counted), right)
        }
        Kind::Compare(left, right_side) => {
            let (a, b) = (left(summary), right_side(summary));
            let truth = match a.cmp(&b) {
                std::cmp::Ordering::Greater => Answer::More,
                std::cmp::Ordering::Less => Answer::Fewer,
                std::cmp::Ordering::Equal => Answer::Same,
            };
            (
                format!(
                    "{} ({} changes, {} kevent calls)",
                    said(truth, Grading::Exact),
                    group(a),
                    group(b)
                ),
                answer.map(|answer| answer == truth),
            )
        }
    };
    let grading = match question.kind {
        Kind::Count(_, grading) => grading,
        Kind::Compare(..) => Grading::Exact,
    };
    match (answer, right) {
        (Some(answer), Some(right)) => {
            let verdict = if right { "Right." } else { "Not this time." };
            writeln!(
                out,
                "{verdict} You said {}; the trace counted {counted_words}.",
                said(answer, grading)
            )?;
        }
        _ => writeln!(out, "The trace counted {counted_words}.")?,
    }
    writeln!(out, "{}", question.explain.text(tour))?;
    Ok(right)
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

    fn first(stage: &str) -> &'static Question {
        questions(stage).next().unwrap()
    }

    /// In a terminal a long question or explanation wraps to its width, an indented line
    /// under its own indent; the prompt, a partial line, goes out whole on flush.
    #[test]
    fn text_in_a_terminal_wraps_to_its_width() {
        let mut buf = Vec::new();
        {
            let mut out = Wrapped::new(&mut buf, 30);
            write!(out, "Predict: how many READ events will the flood deliver in one second?\n  an indented line that is long enough to wrap\nYour answer: ").unwrap();
            out.flush().unwrap();
        }
        let text = String::from_utf8(buf).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.iter().all(|l| l.chars().count() <= 30), "{text}");
        assert!(lines[0].starts_with("Predict: how many"), "{text}");
        assert!(
            text.contains("\n  an indented line that is\n  long enough"),
            "{text}"
        );
        assert!(text.ends_with("\nYour answer: "), "{text:?}");
    }

    #[test]
    fn an_exact_answer_is_graded_against_the_trace_count() {
        let q = first("oneshot");
        let mut out = Vec::new();
        let two = Some(Answer::Count(2));
        assert_eq!(
            judge(q, two, &summary(2), &TOUR, &mut out).unwrap(),
            Some(true)
        );
        assert_eq!(
            judge(q, two, &summary(3), &TOUR, &mut out).unwrap(),
            Some(false)
        );
    }

    #[test]
    fn the_flood_is_graded_by_band() {
        let q = first("flood");
        let mut out = Vec::new();
        let many = Some(Answer::Many);
        assert_eq!(
            judge(q, many, &summary(1234), &TOUR, &mut out).unwrap(),
            Some(true)
        );
        assert_eq!(
            judge(q, many, &summary(1), &TOUR, &mut out).unwrap(),
            Some(false)
        );
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("You said many;"), "{text}");
        assert!(!text.contains("18446744073709551615"), "{text}");
    }

    /// The server question's numbers are the tour's as declared: the slow reader's 16
    /// messages appear in the question, and 20 in all is graded right.
    #[test]
    fn the_server_question_takes_its_numbers_from_the_tour() {
        let question = first("server");
        let ask = question.ask.text(&TOUR);
        assert!(ask.contains("pipelines 16 large"), "{ask}");
        assert!(question.explain.text(&TOUR).contains("3 + 16 + 1 = 20"));
        let summary = Summary {
            server: Some(crate::trace::ServerSummary {
                messages: 20,
                ..Default::default()
            }),
            ..Summary::default()
        };
        let right = judge(
            question,
            Some(Answer::Count(20)),
            &summary,
            &TOUR,
            &mut Vec::new(),
        );
        assert_eq!(right.unwrap(), Some(true));
    }

    /// Lesson 5 asks two questions; both are asked, the second about changes against calls.
    #[test]
    fn the_server_asks_both_of_its_questions() {
        let mut out = Vec::new();
        let p = ask("server", &TOUR, &mut &b"20\nmore\n"[..], &mut out, true).unwrap();
        let answers: Vec<_> = p.answers.iter().map(|(_, a)| *a).collect();
        assert_eq!(answers, vec![Some(Answer::Count(20)), Some(Answer::More)]);
        let summary = Summary {
            kevent_calls: 21,
            changes: 37,
            ..Summary::default()
        };
        let q = p.answers[1].0;
        assert_eq!(
            judge(q, Some(Answer::More), &summary, &TOUR, &mut Vec::new()).unwrap(),
            Some(true)
        );
    }

    #[test]
    fn counts_are_read_from_digits_words_and_bands() {
        let count = |s: &str| parse_count(s);
        assert_eq!(count("I think 3"), Some(Answer::Count(3)));
        assert_eq!(count("three"), Some(Answer::Count(3)));
        assert_eq!(count("One."), Some(Answer::Count(1)));
        assert_eq!(count("twenty one"), Some(Answer::Count(21)));
        assert_eq!(count("a hundred"), Some(Answer::Count(100)));
        assert_eq!(count("2 thousand"), Some(Answer::Count(2000)));
        assert_eq!(count("1,000"), Some(Answer::Count(1000)));
        assert_eq!(count("none"), Some(Answer::Count(0)));
        assert_eq!(count("a few"), Some(Answer::Few));
        assert_eq!(count("several"), Some(Answer::Few));
        assert_eq!(count("many"), Some(Answer::Many));
        assert_eq!(count("-1"), None);
        assert_eq!(count("banana"), None);
    }

    #[test]
    fn an_unreadable_answer_is_asked_again_with_a_hint() {
        let mut out = Vec::new();
        let p = ask(
            "clear",
            &TOUR,
            &mut &b"banana\n-1\nthree\n"[..],
            &mut out,
            true,
        )
        .unwrap();
        assert_eq!(p.answers[0].1, Some(Answer::Count(3)));
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.contains("Could not read a count from \"banana\""),
            "{text}"
        );
        assert!(text.contains("cannot be negative"), "{text}");
    }

    #[test]
    fn an_endless_line_is_cut_and_reported_once() {
        let zeros = vec![0u8; 100_000];
        let mut out = Vec::new();
        let p = ask("flood", &TOUR, &mut &zeros[..], &mut out, true).unwrap();
        assert_eq!(p.answers[0].1, None);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.matches("longer than").count(), 1, "{text}");
    }

    #[test]
    fn a_blank_or_missing_answer_runs_without_a_verdict() {
        let mut out = Vec::new();
        let p = ask("clear", &TOUR, &mut &b""[..], &mut out, true).unwrap();
        assert_eq!(p.answers[0].1, None);
        assert!(String::from_utf8(out).unwrap().contains("No answer given"));
    }
}
