//! Collapsing a flood: the one place that decides which kevent calls are "the same again".
//!
//! A level-triggered knote that nobody services is reported by every kevent call (B13), so a
//! flat-out loop makes hundreds of thousands of identical calls a second. The trace shows such
//! a *run* of calls once and counts the rest (contract: `repeat`).
//!
//! What counts as a repeat is the *pattern*, not only the call before: when more knotes are
//! ready than the eventlist holds, kqueue hands them out round-robin (B17), so consecutive calls
//! return different slices of the same ready set (9 ready knotes, an 8-entry eventlist: 9
//! rotations). A run therefore keeps every distinct result it has shown (its *shapes*); a
//! change-free call whose events, as a set, equal one of them is a repeat. A call with a new
//! result joins the run as one more shape while the run has not repeated yet (the rotations
//! being discovered); once it has, a new result ends the run and starts the next one, so
//! "A ×3, then B ×3" still reads as two runs.
//!
//! Both the live [`Tracer`](super::Tracer) and `lab replay` feed calls through [`Collapse`],
//! so a replayed trace shows the same runs, counts and rates as the live one.

use super::{Entry, KeventCall, LabeledKevent, Record};
use crate::kq::Kevent;

/// At most this many distinct results in one run; beyond it a new run starts (each shape is
/// shown once in full, so this bounds what one run can print).
pub const MAX_SHAPES: usize = 64;

/// One distinct result of a run: the call that first returned it, and its repeats.
#[derive(Clone, Debug)]
pub struct Shape {
    /// The first call with this result (its record was written when it happened).
    pub call: KeventCall,
    /// The call number of its first repeat, how many repeats, and their time blocked.
    pub first_repeat: u64,
    pub repeats: u64,
    pub repeats_blocked_s: f64,
    /// Free for the owner: the tracer keeps each event's index in the summary here.
    pub counted: Vec<usize>,
}

/// A run of change-free kevent calls (see the module docs).
#[derive(Clone, Debug)]
pub struct Run {
    pub shapes: Vec<Shape>,
    /// When the run's first call started (its `t` minus the time it blocked): the count line's
    /// span starts here, so N wake-ups of a 1 s timeout read "×N in N s (1.0/s)".
    pub start: f64,
    /// The time of the run's latest call.
    pub last_t: f64,
    /// Every call of the run: one per shape, plus the repeats.
    pub total: u64,
    /// The `call` number of the run's first call.
    first_call: u64,
}

impl Run {
    fn new(t: f64, call: &KeventCall) -> Run {
        let mut run = Run {
            shapes: Vec::new(),
            start: t - call.blocked_s / call.repeat.max(1) as f64,
            last_t: t,
            total: 0,
            first_call: call.call,
        };
        run.add_shape(t, call);
        run
    }

    fn add_shape(&mut self, t: f64, call: &KeventCall) {
        let mut first = call.clone();
        let extra = first.repeat.saturating_sub(1);
        let per_call = first.blocked_s / first.repeat.max(1) as f64;
        first.repeat = 1;
        first.blocked_s = per_call;
        self.shapes.push(Shape {
            call: first,
            first_repeat: 0,
            repeats: 0,
            repeats_blocked_s: 0.0,
            counted: Vec::new(),
        });
        self.total += 1;
        self.last_t = t;
        if extra > 0 {
            // A record that already stands for several calls (a trace being replayed).
            let i = self.shapes.len() - 1;
            self.repeat(i, call.call + 1, extra, call.blocked_s - per_call, t);
        }
    }

    /// Count `n` more calls of shape `i`, the first of them numbered `call`.
    fn repeat(&mut self, i: usize, call: u64, n: u64, blocked_s: f64, t: f64) {
        let shape = &mut self.shapes[i];
        if shape.repeats == 0 {
            shape.first_repeat = call;
        }
        shape.repeats += n;
        shape.repeats_blocked_s += blocked_s;
        self.total += n;
        self.last_t = t;
    }

    /// How many calls were counted but not shown.
    pub fn repeats(&self) -> u64 {
        self.total - self.shapes.len() as u64
    }

    /// Seconds from the start of the first call to the end of the latest.
    pub fn span(&self) -> f64 {
        (self.last_t - self.start).max(0.0)
    }

    /// The shape whose events equal `events` as a set. A kevent call never returns the same
    /// knote twice, so comparing as sets is exact; order differs in a rotation (B17).
    fn find(&self, events: &[Kevent]) -> Option<usize> {
        self.shapes.iter().position(|s| {
            s.call.events.len() == events.len()
                && events
                    .iter()
                    .all(|b| s.call.events.iter().any(|a| a.kevent == *b))
        })
    }

    fn find_labeled(&self, events: &[LabeledKevent]) -> Option<usize> {
        let raw: Vec<Kevent> = events.iter().map(|e| e.kevent).collect();
        self.find(&raw)
    }

    /// Every distinct event the run returned, in first-seen order (the count line's subject).
    pub fn events(&self) -> Vec<&LabeledKevent> {
        let mut all: Vec<&LabeledKevent> = Vec::new();
        for shape in &self.shapes {
            for e in &shape.call.events {
                if !all.iter().any(|a| a.kevent == e.kevent) {
                    all.push(e);
                }
            }
        }
        all
    }

    /// The records that stand for the repeats, one per shape that repeated (contract: `repeat`
    /// is the number of calls the record stands for; `call` is the first of them; `t` is when
    /// the run ended). The shapes' first calls were written already.
    pub fn repeat_records(&self) -> Vec<Entry> {
        let mut shapes: Vec<&Shape> = self.shapes.iter().filter(|s| s.repeats > 0).collect();
        shapes.sort_by_key(|s| s.first_repeat);
        shapes
            .into_iter()
            .map(|s| {
                let mut call = s.call.clone();
                call.call = s.first_repeat;
                call.repeat = s.repeats;
                call.blocked_s = s.repeats_blocked_s;
                call.notes.clear();
                Entry {
                    t: self.last_t,
                    record: Record::Kevent(call),
                }
            })
            .collect()
    }
}

/// What [`Collapse::offer`] made of a call.
#[derive(Debug)]
pub enum Offer {
    /// Counted into the current run: nothing to show now.
    Repeat,
    /// A result not seen in the run: show the call in full. `ended` is the run it ended, if
    /// that run had repeats to report.
    Show { ended: Option<Run> },
}

/// The run being collapsed, if any (see the module docs).
#[derive(Default)]
pub struct Collapse {
    run: Option<Run>,
}

impl Collapse {
    /// A change-free kevent call at time `t`: a repeat of the run, or one to show.
    pub fn offer(&mut self, t: f64, call: &KeventCall) -> Offer {
        if let Some(run) = &mut self.run {
            if let Some(i) = run.find_labeled(&call.events) {
                let number = run.first_call + run.total;
                run.repeat(i, number, call.repeat, call.blocked_s, t);
                return Offer::Repeat;
            }
            if run.repeats() == 0 && run.shapes.len() < MAX_SHAPES {
                run.add_shape(t, call);
                return Offer::Show { ended: None };
            }
        }
        let ended = self.end();
        self.run = Some(Run::new(t, call));
        Offer::Show { ended }
    }

    /// The flood's fast path: count one change-free call that returned `events` if they are a
    /// shape of the run, without building a record. Returns the shape's index.
    pub fn repeat_raw(&mut self, events: &[Kevent], blocked_s: f64, t: f64) -> Option<usize> {
        let run = self.run.as_mut()?;
        let i = run.find(events)?;
        let number = run.first_call + run.total;
        run.repeat(i, number, 1, blocked_s, t);
        Some(i)
    }

    /// End the run (anything other than a change-free call arrived); returns it if it had
    /// repeats, whose count and records are still to be written.
    pub fn end(&mut self) -> Option<Run> {
        self.run.take().filter(|run| run.repeats() > 0)
    }

    /// The run so far.
    pub fn run(&self) -> Option<&Run> {
        self.run.as_ref()
    }

    /// The run so far, for its owner's bookkeeping ([`Shape::counted`]).
    pub fn run_mut(&mut self) -> Option<&mut Run> {
        self.run.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kq;
    use crate::trace::Role;

    fn ready(conn: usize) -> LabeledKevent {
        LabeledKevent {
            kevent: Kevent::new(conn + 5, kq::EVFILT_READ, 0).with_fflags_data(0, 2),
            label: Role::Conn(conn),
        }
    }

    fn call(n: u64, conns: &[usize]) -> KeventCall {
        KeventCall {
            call: n,
            changes: vec![],
            nevents: 2,
            timeout_ms: None,
            events: conns.iter().map(|&c| ready(c)).collect(),
            repeat: 1,
            blocked_s: 0.0,
            os_calls: vec![],
            notes: vec![],
        }
    }

    /// Three ready knotes, a 2-entry eventlist: the calls rotate (1,2), (3,1), (2,3), (1,2)...
    /// The three rotations are shown once; everything after is counted, exactly.
    #[test]
    fn a_rotation_collapses_into_one_run() {
        let mut c = Collapse::default();
        let rotations: [&[usize]; 3] = [&[1, 2], &[3, 1], &[2, 3]];
        let mut shown = 0;
        for n in 0..300u64 {
            match c.offer(n as f64, &call(n + 1, rotations[n as usize % 3])) {
                Offer::Show { ended } => {
                    assert!(ended.is_none());
                    shown += 1;
                }
                Offer::Repeat => {}
            }
        }
        assert_eq!(shown, 3);
        let run = c.end().expect("a run with repeats");
        assert_eq!(run.total, 300);
        let records = run.repeat_records();
        let counts: Vec<(u64, u64)> = records
            .iter()
            .map(|e| match &e.record {
                Record::Kevent(k) => (k.call, k.repeat),
                _ => unreachable!(),
            })
            .collect();
        assert_eq!(counts, vec![(4, 99), (5, 99), (6, 99)]);
        assert_eq!(run.events().len(), 3);
    }

    /// "A ×3 then B ×3" stays two runs: a new result after repeats ends the run.
    #[test]
    fn a_new_result_after_repeats_starts_a_new_run() {
        let mut c = Collapse::default();
        for n in 1..=3 {
            c.offer(0.0, &call(n, &[1]));
        }
        match c.offer(1.0, &call(4, &[2])) {
            Offer::Show { ended: Some(run) } => assert_eq!(run.total, 3),
            other => panic!("{other:?}"),
        }
        assert!(c.repeat_raw(&[ready(2).kevent], 0.0, 2.0).is_some());
        assert!(c.repeat_raw(&[ready(1).kevent], 0.0, 2.0).is_none());
        assert_eq!(c.end().unwrap().total, 2);
    }

    /// Wake-ups of a 999 ms timeout: the span starts when the first call started, so three
    /// calls read as three seconds, about one a second.
    #[test]
    fn the_span_of_slow_repeats_starts_before_the_first_call() {
        let mut c = Collapse::default();
        for n in 1..=3u64 {
            let mut k = call(n, &[]);
            k.blocked_s = 0.999;
            c.offer(n as f64 * 0.999, &k);
        }
        let run = c.end().unwrap();
        assert_eq!(run.total, 3);
        assert!((run.span() - 2.997).abs() < 1e-9, "{}", run.span());
    }

    /// `lab replay` hands over a record that already stands for several calls (`repeat` 5,
    /// 1 s blocked in all): the run shows one, counts four repeats numbered from the next call,
    /// and shares the blocked time out evenly (0.2 s each).
    #[test]
    fn a_replayed_record_of_several_calls_counts_them_all() {
        let mut c = Collapse::default();
        let mut k = call(10, &[1]);
        k.repeat = 5;
        k.blocked_s = 1.0;
        assert!(matches!(c.offer(3.0, &k), Offer::Show { ended: None }));
        let run = c.end().unwrap();
        assert_eq!(run.total, 5);
        assert_eq!(run.repeats(), 4);
        assert!((run.start - 2.8).abs() < 1e-9, "{}", run.start);
        assert!((run.span() - 0.2).abs() < 1e-9, "{}", run.span());
        let shown = &run.shapes[0];
        assert_eq!(shown.call.repeat, 1);
        assert!((shown.call.blocked_s - 0.2).abs() < 1e-9);
        let records = run.repeat_records();
        assert_eq!(records.len(), 1);
        let Record::Kevent(repeats) = &records[0].record else {
            panic!("{records:?}")
        };
        assert_eq!((repeats.call, repeats.repeat), (11, 4));
        assert!(
            (repeats.blocked_s - 0.8).abs() < 1e-9,
            "{}",
            repeats.blocked_s
        );
    }

    /// A run whose shapes did not all repeat: only the shape that repeated gets a `repeat`
    /// record (a record standing for 0 calls would tell a reader of the JSON of a call that
    /// never happened); the fast path numbers its repeats after the calls already counted.
    #[test]
    fn only_shapes_that_repeated_get_a_repeat_record() {
        let mut c = Collapse::default();
        c.offer(0.0, &call(1, &[1]));
        c.offer(0.0, &call(2, &[2]));
        assert_eq!(c.repeat_raw(&[ready(1).kevent], 0.0, 1.0), Some(0));
        assert_eq!(c.repeat_raw(&[ready(1).kevent], 0.0, 1.0), Some(0));
        let run = c.end().expect("a run with repeats");
        assert_eq!(run.total, 4);
        let counts: Vec<(u64, u64)> = run
            .repeat_records()
            .iter()
            .map(|e| match &e.record {
                Record::Kevent(k) => (k.call, k.repeat),
                other => panic!("{other:?}"),
            })
            .collect();
        // Calls 1 and 2 were shown; calls 3 and 4 were the repeats of the first shape.
        assert_eq!(counts, vec![(3, 2)]);
    }

    /// A run that never repeated has nothing left to write when it ends: no count line.
    #[test]
    fn a_run_without_repeats_ends_with_nothing_to_write() {
        let mut c = Collapse::default();
        c.offer(0.0, &call(1, &[1]));
        c.offer(0.0, &call(2, &[2]));
        assert!(c.end().is_none());
        assert!(c.run().is_none());
    }

    /// A run holds at most MAX_SHAPES distinct results: the next new one starts a fresh run
    /// (and the full run, which never repeated, is handed back as nothing to write).
    #[test]
    fn a_run_holds_at_most_max_shapes_results() {
        let mut c = Collapse::default();
        for n in 1..=MAX_SHAPES {
            let offer = c.offer(0.0, &call(n as u64, &[n]));
            assert!(matches!(offer, Offer::Show { ended: None }), "{offer:?}");
        }
        assert_eq!(c.run().unwrap().shapes.len(), MAX_SHAPES);
        let next = MAX_SHAPES + 1;
        let offer = c.offer(0.0, &call(next as u64, &[next]));
        assert!(matches!(offer, Offer::Show { ended: None }), "{offer:?}");
        let run = c.run().unwrap();
        assert_eq!(run.shapes.len(), 1);
        assert_eq!(run.total, 1);
    }
}
