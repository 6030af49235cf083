//! `lab explain`: the behaviour or erratum a trace cites, printed from the documents.

use super::harness::{run_lab, text, TempDir};

/// An attendee reads "(B15)" at the end of a ONESHOT note and types `lab explain B15`: the
/// behaviour's own text from docs/kqueue-semantics.md appears, exit 0. The lower-case form
/// gives the same text.
#[test]
fn lab_explain_b15_prints_the_behaviour() {
    let state = TempDir::new("explain-b");
    let upper = run_lab(&state, &["explain", "B15"], None);
    assert!(upper.status.success(), "{}", text(&upper.stderr));
    let out = text(&upper.stdout);
    assert!(out.starts_with("B15. EV_ONESHOT."), "{out}");
    assert!(out.contains("A later\nEV_DELETE gives ENOENT"), "{out}");
    assert!(
        !out.contains("B16."),
        "the next behaviour leaked in:\n{out}"
    );
    let lower = run_lab(&state, &["explain", "b15"], None);
    assert_eq!(text(&lower.stdout), out);
}

/// The server's trace says "(errata 11)": `lab explain errata 11` and `lab explain E11` print
/// that erratum (the dropped pipelined clients), with its status and evidence.
#[test]
fn lab_explain_errata_11_prints_the_erratum_in_either_form() {
    let state = TempDir::new("explain-e");
    let long = run_lab(&state, &["explain", "errata", "11"], None);
    assert!(long.status.success(), "{}", text(&long.stderr));
    let out = text(&long.stdout);
    assert!(out.starts_with("Erratum 11"), "{out}");
    assert!(out.contains("Pipelined clients are dropped"), "{out}");
    assert!(
        out.contains("Status:") && out.contains("Evidence:"),
        "{out}"
    );
    let short = run_lab(&state, &["explain", "E11"], None);
    assert_eq!(text(&short.stdout), out);
}

/// Something that is neither: one line on stderr naming the valid forms, nothing on stdout,
/// exit 2 (a usage error). B99 and errata 99 do not exist either.
#[test]
fn an_unknown_topic_is_one_usage_line() {
    let state = TempDir::new("explain-bad");
    for args in [
        &["explain", "B99"][..],
        &["explain", "errata", "99"],
        &["explain", "flood"],
    ] {
        let out = run_lab(&state, args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains("B1 to B26") && err.contains("errata N"),
            "{err}"
        );
    }
}
