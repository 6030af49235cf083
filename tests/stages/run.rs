//! Running `lab <stage> --json` and reading what it wrote.

use std::io::Read;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use crate::support::trace::{self, Field, Value};
use crate::support::{lab, wait_until};

/// Longest any stage run may take in these tests before it counts as hung (the tours last
/// about 1.3 s). Generous: a slow machine makes a test slower, never red.
pub const RUN_PATIENCE: Duration = Duration::from_secs(60);

/// Wait for a child with a deadline; kill it and fail if it hangs.
pub fn wait_output(mut child: Child) -> Output {
    let mut status = None;
    let finished = wait_until(RUN_PATIENCE, || {
        status = child.try_wait().expect("try_wait on lab");
        status.is_some()
    });
    if !finished {
        let _ = child.kill();
        let _ = child.wait();
        panic!("lab did not finish within {RUN_PATIENCE:?}");
    }
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    if let Some(mut out) = child.stdout.take() {
        out.read_to_end(&mut stdout).expect("read lab's stdout");
    }
    if let Some(mut err) = child.stderr.take() {
        err.read_to_end(&mut stderr).expect("read lab's stderr");
    }
    Output {
        status: status.expect("finished"),
        stdout,
        stderr,
    }
}

/// Run `lab` with these arguments (stdin empty, not a terminal) and return its output.
pub fn run_lab(args: &[&str]) -> Output {
    let child = lab(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start lab");
    // Read stdout while waiting so that a long trace cannot fill the pipe and stall lab.
    wait_output_draining(child)
}

fn wait_output_draining(mut child: Child) -> Output {
    let mut out = child.stdout.take().expect("stdout piped");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let mut output = wait_output(child);
    output.stdout = reader.join().expect("stdout reader");
    output
}

/// Run a stage with `--json --port 0` and the extra arguments; it must exit 0. Returns every
/// record, in order.
pub fn run_json(stage: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec![stage, "--json", "--port", "0"];
    args.extend_from_slice(extra);
    let output = run_lab(&args);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "lab {args:?} failed: {:?}\nstderr: {}\nstdout: {stdout}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    parse_lines(&stdout)
}

/// Every line as a JSON record of the contract (`support::trace`).
pub fn parse_lines(text: &str) -> Vec<Value> {
    trace::parse_trace(text)
}

/// What happened to conn1's READ knote between two actions: one phase per action, named by
/// it (`send`, `wait`, ...), holding each conn1 READ event's `data` once per delivery
/// (a collapsed record counts `repeat` times).
#[derive(Debug)]
pub struct Phase {
    pub after: String,
    pub data: Vec<i64>,
}

/// Split the run into phases at the actions that change what the stage does (everything but
/// `wait`), and collect conn1's READ deliveries in each.
pub fn conn1_phases(records: &[Value]) -> Vec<Phase> {
    let mut phases = vec![Phase {
        after: "start".to_string(),
        data: Vec::new(),
    }];
    for r in records {
        match r["type"].str() {
            "action" if r["action"].str() != "wait" => phases.push(Phase {
                after: r["action"].str().to_string(),
                data: Vec::new(),
            }),
            "kevent" => {
                let repeat = r["repeat"].num() as usize;
                for e in r["events"].arr() {
                    if e["label"].str() == "conn1" && e["filter"].str() == "READ" {
                        let phase = phases.last_mut().expect("a phase");
                        for _ in 0..repeat {
                            phase.data.push(e["data"].num() as i64);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    phases
}

/// The states conn1's READ knote was listed in, in order, across all `knotes` records.
pub fn conn1_knote_states(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r["type"].str() == "knotes")
        .filter_map(|r| {
            r["knotes"]
                .arr()
                .iter()
                .find(|k| k["label"].str() == "conn1" && k["filter"].str() == "READ")
                .map(|k| k["state"].str().to_string())
        })
        .collect()
}

/// The one `summary` record (it must be the last record).
pub fn summary(records: &[Value]) -> &Value {
    trace::summary(records)
}
