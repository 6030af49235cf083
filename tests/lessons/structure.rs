//! Every stage lesson has the same shape, so that an attendee always knows where they are:
//! what you will learn, a prediction, the commands, what to look for (with a checked excerpt),
//! experiments, check-yourself questions with hidden answers, the takeaway and the next lesson.

use super::harness::lesson_files;

/// A facilitator flips through lessons 1 to 5 and finds every section in each, in order, with
/// at least two check-yourself answers hidden in `<details>` blocks and a `--predict` command.
#[test]
fn every_stage_lesson_has_the_full_shape() {
    let sections = [
        "## What you will learn",
        "## Predict first",
        "## Run it",
        "## What to look for",
        "<!-- excerpt:",
        "## Experiments",
        "## Check yourself",
        "## Takeaway",
        "**Next:**",
    ];
    let lessons = lesson_files();
    for (file, markdown) in lessons.iter().filter(|(f, _)| {
        ["01-", "02-", "03-", "04-", "05-"]
            .iter()
            .any(|n| f.starts_with(n))
    }) {
        let mut at = 0;
        for section in sections {
            match markdown[at..].find(section) {
                Some(i) => at += i + section.len(),
                None => panic!("{file}: `{section}` missing or out of order"),
            }
        }
        let answers = markdown.matches("<details><summary>").count();
        assert!(answers >= 2, "{file}: only {answers} hidden answers");
        assert_eq!(
            answers,
            markdown.matches("</details>").count(),
            "{file}: unbalanced <details>"
        );
        assert!(
            markdown.contains("--predict"),
            "{file}: no prediction command"
        );
    }
}

/// Every lesson file starts with its title and is listed by `lab lessons` (the binary embeds
/// exactly the files of `lessons/`, in order).
#[test]
fn the_binary_embeds_every_lesson_file() {
    let files = lesson_files();
    assert_eq!(files.len(), lab::lessons::catalog::LESSONS.len());
    for ((file, markdown), lesson) in files.iter().zip(lab::lessons::catalog::LESSONS.iter()) {
        assert_eq!(file, lesson.file);
        assert_eq!(
            markdown, lesson.text,
            "{file}: the binary embeds a different text"
        );
        assert!(markdown.starts_with("# "), "{file}: no title");
    }
}
