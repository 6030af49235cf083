//! `lab`: parse the command line, run the chosen stage, map the outcome to an exit status.

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use lab::cli::{Cli, Command};
use lab::stages::StageKind;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
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
        Some(Command::Flood(args)) => lab::stages::run(StageKind::Flood, &args),
        Some(Command::Oneshot(args)) => lab::stages::run(StageKind::Oneshot, &args),
        Some(Command::Dispatch(args)) => lab::stages::run(StageKind::Dispatch, &args),
        Some(Command::Clear(args)) => lab::stages::run(StageKind::Clear, &args),
        Some(Command::Server(args)) => lab::server::run(&args),
        Some(Command::Client(args)) => lab::server::echo_client::run(&args),
        Some(Command::Bench(args)) => lab::bench::run(&args),
        Some(Command::Lessons(args)) => lab::lessons::list(&args),
        Some(Command::Lesson(args)) => lab::lessons::show(&args),
        Some(Command::Replay(args)) => lab::replay::run(&args.file, args.color.into()),
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
