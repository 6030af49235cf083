//! Helpers for the workshop tests.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::wait_until;

/// How long one `lab` run may take: the longest default tour lasts a few seconds, so this only
/// catches a command that waits forever (which a lesson must never contain).
pub const RUN_LIMIT: Duration = Duration::from_secs(60);

pub use crate::support::TempDir;

/// `lab ARGS` with its progress kept in `state`, colours off, stdin from `input` (or null).
pub fn run_lab(state: &TempDir, args: &[&str], input: Option<&str>) -> Output {
    let mut command = crate::support::lab(args);
    command.env("LAB_STATE_DIR", state.path());
    run(command, input)
}

/// Run a command to its end with a deadline, feeding `input` on stdin (null stdin when `None`).
pub fn run(mut command: Command, input: Option<&str>) -> Output {
    command.stdin(if input.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    run_inner(command, input)
}

/// Run a command whose stdin the caller has set already (a file), with the same deadline.
pub fn run_with_stdin_set(command: Command) -> Output {
    run_inner(command, None)
}

fn run_inner(mut command: Command, input: Option<&str>) -> Output {
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("start lab");
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all(text.as_bytes()).expect("write stdin");
        // Dropping stdin closes it: the program sees end of input after the answer.
    }
    // Read stdout and stderr on threads so a chatty run cannot block on a full pipe.
    let mut stdout = child.stdout.take().expect("stdout is piped");
    let mut stderr = child.stderr.take().expect("stderr is piped");
    let out_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut buf).ok();
        buf
    });
    let err_thread = std::thread::spawn(move || {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut stderr, &mut buf).ok();
        buf
    });
    let started = Instant::now();
    let mut status = None;
    let finished = wait_until(RUN_LIMIT, || {
        status = child.try_wait().expect("wait for lab");
        status.is_some()
    });
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
        panic!(
            "{command:?} did not finish within {:?}: a lesson command must end by itself",
            started.elapsed()
        );
    }
    Output {
        status: status.expect("finished"),
        stdout: out_thread.join().expect("stdout reader"),
        stderr: err_thread.join().expect("stderr reader"),
    }
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The lesson files, as the repository holds them: (file name, text), in order.
pub fn lesson_files() -> Vec<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("lessons");
    let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("read lessons/")
        .map(|entry| entry.expect("lessons/ entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .map(|path| {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).expect("read a lesson");
            (name, text)
        })
        .collect();
    files.sort();
    files
}

/// A fenced code block of a lesson: its info string (`sh`, `text`), its lines, and the lines
/// just before it (where an excerpt marker sits).
pub struct Fence {
    pub info: String,
    pub lines: Vec<String>,
    pub preceding: Vec<String>,
}

/// The fenced code blocks of a Markdown text (fences may be indented inside list items).
pub fn fences(markdown: &str) -> Vec<Fence> {
    let mut fences = Vec::new();
    let mut before: Vec<String> = Vec::new();
    let mut lines = markdown.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.trim_start().strip_prefix("```") {
            let mut body = Vec::new();
            for code in lines.by_ref() {
                if code.trim_start().starts_with("```") {
                    break;
                }
                body.push(code.to_string());
            }
            fences.push(Fence {
                info: info.trim().to_string(),
                lines: body,
                preceding: before.clone(),
            });
            before.clear();
        } else if !line.trim().is_empty() {
            before.push(line.to_string());
        }
    }
    fences
}

/// Why a lesson command cannot run on this machine, if it cannot: the raw epoll backend of
/// lesson 7 exists only on Linux (on macOS the lesson itself says it exits with a message).
pub fn skip_reason(command: &str) -> Option<&'static str> {
    if command.contains("--backend epoll") && !cfg!(any(target_os = "linux", target_os = "android"))
    {
        return Some("the raw epoll backend exists only on Linux");
    }
    None
}

/// The subcommands that open a port: their `--port` is rewritten to 0, so that tests running
/// side by side never collide on the lessons' port 5882.
const LISTENING: [&str; 5] = ["flood", "oneshot", "dispatch", "clear", "server"];

/// `lab flood --port 5882 --json` → `lab flood --port 0 --json`; a listening command without
/// `--port` gets `--port 0` right after its subcommand (before any redirection).
pub fn with_port_zero(command: &str) -> String {
    let words: Vec<&str> = command.split(' ').collect();
    if words.len() < 2 || words[0] != "lab" || !LISTENING.contains(&words[1]) {
        return command.to_string();
    }
    if let Some(i) = words.iter().position(|w| *w == "--port") {
        let mut words: Vec<String> = words.iter().map(|w| w.to_string()).collect();
        if i + 1 < words.len() {
            words[i + 1] = "0".to_string();
        }
        return words.join(" ");
    }
    format!(
        "lab {} --port 0{}",
        words[1],
        &command[4 + words[1].len()..]
    )
}

/// Insert an option right after the subcommand: `lab clear --port 0` + `--json`.
pub fn with_option(command: &str, option: &str) -> String {
    let words: Vec<&str> = command.splitn(3, ' ').collect();
    match words.as_slice() {
        [lab, sub, rest] => format!("{lab} {sub} {option} {rest}"),
        [lab, sub] => format!("{lab} {sub} {option}"),
        _ => command.to_string(),
    }
}

/// Run one shell command line with `lab` on the PATH (the binary under test), in `dir`, with
/// its progress in `state`, stdin null.
pub fn run_shell(line: &str, dir: &TempDir, state: &TempDir) -> Output {
    let bin_dir = crate::support::lab_path()
        .parent()
        .expect("the binary has a directory")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(line)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("LAB_STATE_DIR", state.path())
        .env("NO_COLOR", "1");
    run(command, None)
}
