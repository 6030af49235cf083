//! An attendee copies every command of every lesson into a terminal. Each one must work: exit
//! 0, no panic, and end by itself. Commands that need a second terminal or wait for real
//! clients are written as plain text in the lessons, outside `sh` blocks, so this test does not
//! see them; every line of an `sh` block that starts with `lab ` is run.

use super::harness::{fences, lesson_files, run_shell, skip_reason, text, with_port_zero, TempDir};

/// The runnable commands of one lesson, in order.
fn commands(markdown: &str) -> Vec<String> {
    fences(markdown)
        .into_iter()
        .filter(|fence| fence.info == "sh")
        .flat_map(|fence| fence.lines)
        .map(|line| line.trim().to_string())
        .filter(|line| line.starts_with("lab "))
        .collect()
}

/// A person follows each lesson from top to bottom, typing every `lab` command it shows (in a
/// fresh directory, with a fresh progress file; stdin is not a terminal, so each stage runs its
/// script or default tour). Every command exits 0 without a panic. The lessons run two at a
/// time; the commands of one lesson run in order, because a later one may read a file an
/// earlier one wrote (`lab replay`).
#[test]
fn every_command_in_the_lessons_runs_and_exits_0() {
    let lessons = lesson_files();
    assert!(
        lessons.len() >= 9,
        "expected the nine lessons, found {}",
        lessons.len()
    );
    let total: usize = lessons.iter().map(|(_, md)| commands(md).len()).sum();
    assert!(
        total >= 20,
        "the lessons should show their commands; found only {total}"
    );

    let (left, right): (Vec<_>, Vec<_>) = lessons
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 2 == 0);
    let worker = |lessons: Vec<(usize, (String, String))>| {
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            for (_, (file, markdown)) in lessons {
                let dir = TempDir::new("cmd");
                let state = TempDir::new("cmd-state");
                for command in commands(&markdown) {
                    if let Some(why) = skip_reason(&command) {
                        eprintln!("{file}: skipped `{command}`: {why}");
                        continue;
                    }
                    let line = with_port_zero(&command);
                    // Tests run side by side: a command that listens must never take the
                    // lessons' fixed port.
                    let listens = ["flood", "oneshot", "dispatch", "clear", "write", "server"]
                        .iter()
                        .any(|stage| command.starts_with(&format!("lab {stage}")));
                    if listens && !line.contains("--port 0") {
                        failures.push(format!("{file}: `{line}` would not listen on port 0"));
                        continue;
                    }
                    let output = run_shell(&line, &dir, &state);
                    let stderr = text(&output.stderr);
                    if !output.status.success() || stderr.contains("panicked") {
                        failures.push(format!(
                            "{file}: `{line}` → {}\n{}",
                            output.status,
                            stderr.trim()
                        ));
                    }
                }
            }
            failures
        })
    };
    let a = worker(left);
    let b = worker(right);
    let mut failures = a.join().expect("worker");
    failures.extend(b.join().expect("worker"));
    assert!(
        failures.is_empty(),
        "lesson commands that failed:\n{}",
        failures.join("\n\n")
    );
}
