//! Where a sink's bytes go when stdout is a pipe: a writer thread behind a bounded queue, so
//! that the run never waits for the reader of its trace.
//!
//! `lab server --external | less`: once the pager stops reading, the pipe fills (64 KiB on
//! Linux) and a plain `write` blocks, and with it the event loop: no client is served until
//! someone scrolls. Here the event loop only queues whole records; a thread writes them out.
//! When the queue holds [`BUDGET_BYTES`] the newest records are dropped and counted, and once
//! the reader catches up the trace says so in its own format: "N trace records dropped while
//! the output was blocked" (as perf and ftrace report lost events). A record is queued whole
//! or not at all, so a JSON trace never holds a partial line.
//!
//! A terminal is written directly, as before: it does not stay blocked, and the live count and
//! the interactive footer need their escape sequences in order with the terminal's own.

use std::collections::VecDeque;
use std::io::{self, IsTerminal, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use super::words::{group, plural};
use super::{Entry, Record};

/// How much trace may wait for a slow reader: far more than a pager reads ahead, little
/// memory.
pub const BUDGET_BYTES: usize = 256 * 1024;

struct State {
    queue: VecDeque<Vec<u8>>,
    /// Bytes in `queue`.
    bytes: usize,
    /// Records dropped and not yet reported.
    dropped: u64,
    /// The write error that ended the writer (a closed pipe), as seen by the next record.
    failed: Option<io::ErrorKind>,
    /// No more records: the writer empties the queue and ends.
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a record is queued, written, or the output closes.
    changed: Condvar,
    budget: usize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the queue half-changed.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The writing end: each `write` call is one whole record, queued or dropped (the sinks write
/// each record with one `write_all`). Dropping it writes what is queued and ends the thread.
pub struct BoundedOutput {
    shared: Arc<Shared>,
    writer: Option<JoinHandle<()>>,
}

/// What a sink asks about its output: how many records were dropped.
#[derive(Clone)]
pub struct Backlog(Arc<Shared>);

impl BoundedOutput {
    /// Queue at most `budget` bytes for `out`, written by a thread of its own.
    pub fn new(mut out: Box<dyn Write + Send>, budget: usize) -> (BoundedOutput, Backlog) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                bytes: 0,
                dropped: 0,
                failed: None,
                closed: false,
            }),
            changed: Condvar::new(),
            budget,
        });
        let theirs = Arc::clone(&shared);
        let writer = std::thread::spawn(move || loop {
            let record = {
                let mut state = theirs.lock();
                while state.queue.is_empty() && !state.closed {
                    state = theirs
                        .changed
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                }
                match state.queue.pop_front() {
                    Some(record) => record,
                    None => return,
                }
            };
            let result = out.write_all(&record).and_then(|()| out.flush());
            let mut state = theirs.lock();
            state.bytes -= record.len();
            if let Err(err) = result {
                state.failed = Some(err.kind());
                state.queue.clear();
                state.bytes = 0;
                theirs.changed.notify_all();
                return;
            }
            theirs.changed.notify_all();
        });
        let backlog = Backlog(Arc::clone(&shared));
        (
            BoundedOutput {
                shared,
                writer: Some(writer),
            },
            backlog,
        )
    }
}

impl Write for BoundedOutput {
    fn write(&mut self, record: &[u8]) -> io::Result<usize> {
        let mut state = self.shared.lock();
        if let Some(kind) = state.failed {
            return Err(kind.into());
        }
        // One record is always taken into an empty queue, however long it is.
        if !state.queue.is_empty() && state.bytes + record.len() > self.shared.budget {
            state.dropped += 1;
        } else {
            state.bytes += record.len();
            state.queue.push_back(record.to_vec());
            self.shared.changed.notify_all();
        }
        Ok(record.len())
    }

    /// Nothing to do: the writer flushes after each record, and waiting here would be
    /// waiting for the reader.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for BoundedOutput {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.changed.notify_all();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

impl Backlog {
    /// The records dropped since the last report, once there is room to say so (the queue at
    /// most half full); 0 when none were, or no room yet. With `wait` (the end of the run),
    /// waits for that room rather than lose the report.
    pub fn take_dropped(&self, wait: bool) -> u64 {
        let mut state = self.0.lock();
        if state.dropped == 0 {
            return 0;
        }
        while wait && state.failed.is_none() && state.bytes > self.0.budget / 2 {
            state = self
                .0
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner());
        }
        if state.bytes > self.0.budget / 2 {
            return 0;
        }
        std::mem::take(&mut state.dropped)
    }

    /// The note to write before `entry`, if records were dropped and there is room to say so
    /// now (before the summary, waiting for it).
    pub fn notice(&self, entry: &Entry) -> Option<Entry> {
        let wait = matches!(entry.record, Record::Summary(_));
        let n = self.take_dropped(wait);
        (n > 0).then(|| Entry {
            t: entry.t,
            record: Record::Note {
                text: format!(
                    "{} trace record{} dropped while the output was blocked",
                    group(n),
                    plural(n)
                ),
            },
        })
    }
}

/// stdout for a sink: behind a [`BoundedOutput`] when it is not a terminal (with the backlog
/// to report drops), directly when it is.
pub fn stdout() -> (Box<dyn Write + Send>, Option<Backlog>) {
    if io::stdout().is_terminal() {
        (Box::new(io::stdout()), None)
    } else {
        bounded(Box::new(io::stdout()))
    }
}

/// `out` behind a [`BoundedOutput`] of [`BUDGET_BYTES`], with the backlog to report drops: for
/// a pipe, and for the pager of `--pager`, which reads only as far as the person scrolls.
pub fn bounded(out: Box<dyn Write + Send>) -> (Box<dyn Write + Send>, Option<Backlog>) {
    let (out, backlog) = BoundedOutput::new(out, BUDGET_BYTES);
    (Box::new(out), Some(backlog))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that blocks until the test opens the gate, then keeps what it was given.
    #[derive(Clone, Default)]
    struct Gate {
        open: Arc<(Mutex<bool>, Condvar)>,
        kept: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cv) = &*self.open;
            let mut open = lock.lock().unwrap();
            while !*open {
                open = cv.wait(open).unwrap();
            }
            self.kept.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Nobody reads: writing never blocks, at most the budget is queued, the rest is counted,
    /// and once the reader catches up every record that was kept arrives whole, in order.
    #[test]
    fn a_blocked_reader_never_blocks_the_writer() {
        let gate = Gate::default();
        let (mut out, backlog) = BoundedOutput::new(Box::new(gate.clone()), 100);
        for i in 0..50 {
            out.write_all(format!("record {i:02}\n").as_bytes())
                .unwrap();
        }
        assert_eq!(backlog.take_dropped(false), 0, "no room to say so yet");
        *gate.open.0.lock().unwrap() = true;
        gate.open.1.notify_all();
        let dropped = backlog.take_dropped(true);
        drop(out);
        let kept = String::from_utf8(gate.kept.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = kept.lines().collect();
        assert!(lines.iter().all(|l| l.len() == 9), "whole records: {kept}");
        assert_eq!(lines.len() as u64 + dropped, 50, "{kept}");
        assert!(dropped > 0 && lines.len() <= 101 / 10 + 1, "{kept}");
        assert_eq!(lines[0], "record 00");
    }
}
