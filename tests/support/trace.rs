//! The JSON trace as `docs/cli-contract.md` defines it, read with serde_json: one object a
//! line, each with `t` and `type`. This is the tests' only reader of the trace, and it is
//! deliberately not the product's (`lab replay` has its own parser): an expectation read
//! through the code under test would follow that code wherever it went. Field names are the
//! contract's; a missing field reads as `null` (serde_json's indexing), so a test that wants it
//! says so with an assertion.

pub use serde_json::Value;

/// Short readers for the fields a test asserts on. Each panics with the record when the field
/// is not of the type the contract gives it, so a test never compares against a made-up
/// default (an empty string, a zero).
pub trait Field {
    /// A string field (`type`, `label`, `filter`, `state`, ...).
    fn str(&self) -> &str;
    /// A number field (`t`, `data`, `udata`, counts).
    fn num(&self) -> f64;
    /// A list field (`changes`, `events`, `knotes`, `flags`).
    fn arr(&self) -> &[Value];
}

impl Field for Value {
    fn str(&self) -> &str {
        self.as_str()
            .unwrap_or_else(|| panic!("expected a JSON string, found {self}"))
    }

    fn num(&self) -> f64 {
        self.as_f64()
            .unwrap_or_else(|| panic!("expected a JSON number, found {self}"))
    }

    fn arr(&self) -> &[Value] {
        self.as_array()
            .map(Vec::as_slice)
            .unwrap_or_else(|| panic!("expected a JSON list, found {self}"))
    }
}

/// One line of the trace: a JSON object with a number `t` (seconds, never negative) and a
/// string `type`.
pub fn parse_record(line: &str) -> Value {
    let record: Value =
        serde_json::from_str(line).unwrap_or_else(|e| panic!("bad JSON line {line:?}: {e}"));
    assert!(record.is_object(), "a record is a JSON object: {line}");
    let t = record["t"]
        .as_f64()
        .unwrap_or_else(|| panic!("no number t in {line}"));
    assert!(t >= 0.0, "t is seconds since the start: {line}");
    assert!(record["type"].is_string(), "no string type in {line}");
    record
}

/// Every non-empty line of a `--json` run, in order.
pub fn parse_trace(text: &str) -> Vec<Value> {
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(parse_record)
        .collect()
}

/// The records of one `type`, in order.
pub fn of_type<'a>(records: &'a [Value], kind: &'a str) -> impl Iterator<Item = &'a Value> {
    records.iter().filter(move |r| r["type"] == kind)
}

/// The one `summary` record, which the contract makes the last line of a run.
pub fn summary(records: &[Value]) -> &Value {
    let last = records.last().expect("a trace with records");
    assert_eq!(last["type"], "summary", "the last record is the summary");
    last
}

/// Every kevent object in the `events` lists of the run, with its record's `repeat` (a
/// collapsed record stands for `repeat` identical calls).
pub fn events(records: &[Value]) -> impl Iterator<Item = (&Value, u64)> {
    of_type(records, "kevent").flat_map(|call| {
        let repeat = call["repeat"].num() as u64;
        call["events"]
            .arr()
            .iter()
            .map(move |event| (event, repeat))
    })
}

/// Every kevent object in the `changes` lists of the run.
pub fn changes(records: &[Value]) -> impl Iterator<Item = &Value> {
    of_type(records, "kevent").flat_map(|call| call["changes"].arr().iter())
}

/// The flag names of a kevent object (`["ADD", "ONESHOT"]`).
pub fn flags(kevent: &Value) -> Vec<&str> {
    kevent["flags"].arr().iter().map(Field::str).collect()
}

/// Every knote table of the run (the `knotes` records' lists), in order.
pub fn knote_tables(records: &[Value]) -> Vec<&[Value]> {
    of_type(records, "knotes")
        .map(|table| table["knotes"].arr())
        .collect()
}

/// The state (`enabled`, `disabled`, `deleted`) of `label`'s `filter` knote in one table.
pub fn knote_state<'a>(table: &'a [Value], label: &str, filter: &str) -> Option<&'a str> {
    table
        .iter()
        .find(|row| row["label"] == label && row["filter"] == filter)
        .map(|row| row["state"].str())
}
