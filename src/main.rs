//! `lab`: parse the command line, run the chosen stage, map the outcome to an exit status.
//!
//! The lessons hook in here, one level above the runs: `--predict` asks before a stage or server
//! run and grades its summary after, and a lesson's own tour run to its end (not stopped with
//! Ctrl-C) marks the lesson done ([`lessons::run_finished`]). The stages and the server only
//! return their summaries.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use lab::cli::{Cli, ColorChoice, Command, CommonArgs, ServerArgs, StageArgs};
use lab::lessons::{self, predict};
use lab::stages::StageKind;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            // A number out of its range is one line, worded as the other usage errors:
            // `lab: --eventlist must be at most 65536` (the message comes from `cli::range`).
            if let Some(line) = out_of_range(&err) {
                let _ = writeln!(std::io::stderr(), "lab: {line}");
                return ExitCode::from(2);
            }
            // clap prints its own message; help and version are success, anything else usage.
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };

    let outcome = match cli.command {
        None => {
            let _ = Cli::command().print_help();
            Ok(())
        }
        Some(Command::Flood(args)) => run_stage(StageKind::Flood, &args),
        Some(Command::Oneshot(args)) => run_stage(StageKind::Oneshot, &args),
        Some(Command::Dispatch(args)) => run_stage(StageKind::Dispatch, &args),
        Some(Command::Clear(args)) => run_stage(StageKind::Clear, &args),
        Some(Command::Write(args)) => run_stage(StageKind::Write, &args),
        Some(Command::Server(args)) => run_server(&args),
        Some(Command::Client(args)) => lab::client::echo::run(&args.to_options()),
        Some(Command::Bench(args)) => lab::bench::run(&args.to_options()),
        Some(Command::Check(args)) => lab::check::run(&args.to_check_options()),
        Some(Command::Lessons(args)) => {
            lab::lessons::list(args.reset, lab::term::use_color(ColorChoice::Auto))
        }
        Some(Command::Lesson(args)) => lab::lessons::show(&args.to_options()),
        Some(Command::Replay(args)) => lab::replay::run(&args.file, args.color.into(), args.pager),
        Some(Command::Selftest(args)) => lab::selftest::run(&args.to_settings()),
        Some(Command::Explain(args)) => lab::explain::run(&args.topic),
    };

    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // Not eprintln!: it panics when stderr is closed (`lab … 2>&-`), and a panic would
            // turn a clean exit status 1 or 2 into 101.
            let _ = writeln!(std::io::stderr(), "lab: {err}");
            ExitCode::from(err.exit_code())
        }
    }
}

/// The default server tour, as the tour declares it: what the server question is about.
const SERVER_TOUR: predict::ServerTour = predict::ServerTour {
    shares: lab::client::tour::DECLARED_ECHOES,
};

/// `--tour` and `--step` play the lesson's own tour: with the built-in client, and (`--step`)
/// in a terminal that can answer its prompt. Anything else is a usage error, one line, before
/// anything runs (`--step` without a terminal would wait for a key that cannot come).
fn check_tour_flags(common: &CommonArgs, step: bool) -> lab::Result<()> {
    let flag = match (step, common.tour) {
        (true, _) => "--step",
        (false, true) => "--tour",
        (false, false) => return Ok(()),
    };
    if common.script.is_some() {
        return Err(lab::Error::usage(format!(
            "{flag} plays the default tour, so it cannot be combined with --script (which runs \
             your own actions)"
        )));
    }
    if common.external {
        return Err(lab::Error::usage(format!(
            "{flag} plays the tour with the built-in client, so it cannot be combined with \
             --external"
        )));
    }
    if step && common.pager {
        return Err(lab::Error::usage(
            "--step waits for Space, but with --pager the pager owns the keyboard: use one of them",
        ));
    }
    if step && common.json {
        return Err(lab::Error::usage(
            "--step shows its prompt under the text trace, so it cannot be combined with --json",
        ));
    }
    if step && !(lab::term::stdin_is_terminal() && lab::term::stdout_is_terminal()) {
        return Err(lab::Error::usage(
            "--step waits for Space before each step, so it needs a terminal (stdin and \
             stdout); without one, --tour plays the whole tour",
        ));
    }
    Ok(())
}

/// A flag stage. With `--predict`: ask, play the default tour (or the `--script` given: the
/// verdict grades the run that actually happened), then grade what the trace counted.
fn run_stage(kind: StageKind, args: &StageArgs) -> lab::Result<()> {
    check_tour_flags(&args.common, args.step)?;
    let mut config = args.to_config();
    let drive = lessons::Drive {
        script: config.script.is_some(),
        external: config.external,
        interactive: config.interactive,
        reached_end: false,
    };
    if !args.predict {
        let run = lab::stages::run(kind, &config)?;
        lessons::run_finished(kind.name(), drive.ended(run.reached_end));
        return Ok(());
    }
    let mut out = predict::output(args.common.json);
    let prediction = predict::ask_stdin(kind.name(), &SERVER_TOUR, &mut out)?;
    if config.script.is_none() && !config.step {
        // stdin was just used for the answer, so no keys: the default tour, written out.
        config.script = Some(kind.default_tour().to_string());
    }
    let run = lab::stages::run(kind, &config)?;
    let drive = drive.ended(run.reached_end);
    lessons::run_finished(kind.name(), drive);
    predict::verdict(
        &prediction,
        &run.summary,
        &SERVER_TOUR,
        drive.is_tour(),
        &mut out,
    )
}

/// `lab server`. With `--predict`: ask, play the default tour (built-in clients) or the
/// `--script` given, then grade the run's summary.
fn run_server(args: &ServerArgs) -> lab::Result<()> {
    check_tour_flags(&args.common, args.step)?;
    let mut opts = args.to_run_options();
    let lesson = lessons::server_lesson(
        opts.config.as_published,
        opts.config.backend == lab::server::EventApi::Epoll,
    );
    if opts.predict && opts.script.is_none() {
        // The question is about the tour: play it even when --external was given.
        opts.external = false;
    }
    // The server's tour ends by itself; Ctrl-C (a signal: no raw mode) is what stops it early,
    // and `lessons::run_finished` checks for that; under `--step` (raw mode) the run says.
    let drive = lessons::Drive {
        script: opts.script.is_some(),
        external: opts.external,
        interactive: opts.interactive,
        reached_end: false,
    };
    if !opts.predict {
        let run = lab::server::run(&opts, lab::term::sink_for(&args.common))?;
        lessons::run_finished(lesson, drive.ended(run.reached_end));
        return Ok(());
    }
    let mut out = predict::output(opts.json);
    let prediction = predict::ask_stdin("server", &SERVER_TOUR, &mut out)?;
    let run = lab::server::run(&opts, lab::term::sink_for(&args.common))?;
    let drive = drive.ended(run.reached_end);
    lessons::run_finished(lesson, drive);
    match run.summary {
        Some(summary) => predict::verdict(
            &prediction,
            &summary,
            &SERVER_TOUR,
            drive.is_tour(),
            &mut out,
        ),
        // The output went away: nobody to tell.
        None => Ok(()),
    }
}

/// `--flag` and the message of `cli::range` when it refused the flag's value:
/// `--eventlist must be at most 65536`.
fn out_of_range(err: &clap::Error) -> Option<String> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if err.kind() != ErrorKind::ValueValidation {
        return None;
    }
    let ContextValue::String(arg) = err.get(ContextKind::InvalidArg)? else {
        return None;
    };
    // `--eventlist <EVENTLIST>`: the flag is the first word.
    let flag = arg.split_whitespace().next()?;
    let why = std::error::Error::source(err)?.to_string();
    // Only `cli::range` words its message to follow the flag; other parsers keep clap's text.
    why.starts_with("must be").then(|| format!("{flag} {why}"))
}
