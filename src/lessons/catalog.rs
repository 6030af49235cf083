//! The lessons themselves: the Markdown files of `lessons/`, embedded in the binary so that the
//! workshop works offline from one file (the rustlings pattern; tutorial notes, pattern 5).

/// One lesson of the workshop.
#[derive(Debug)]
pub struct Lesson {
    /// Its number, as `lab lessons` lists it and `lab lesson N` takes it.
    pub number: usize,
    /// Its short name, as `lab lesson NAME` takes it and the progress file records it.
    pub name: &'static str,
    /// The file under `lessons/`, for the web page and for error messages.
    pub file: &'static str,
    /// What runs the lesson to its end and marks it done, in words for `lab lessons`.
    pub done_by: &'static str,
    /// The Markdown text.
    pub text: &'static str,
}

impl Lesson {
    /// The lesson's title: its first `# ` heading.
    pub fn title(&self) -> &'static str {
        self.text
            .lines()
            .find_map(|line| line.strip_prefix("# "))
            .map(str::trim)
            .unwrap_or(self.name)
    }

    /// The title without its `Lesson N: ` prefix, for the list (which shows the number).
    pub fn short_title(&self) -> &'static str {
        let title = self.title();
        match title.split_once(": ") {
            Some((prefix, rest)) if prefix.starts_with("Lesson ") => rest,
            _ => title,
        }
    }
}

macro_rules! lesson {
    ($number:expr, $name:expr, $file:expr, $done_by:expr) => {
        Lesson {
            number: $number,
            name: $name,
            file: $file,
            done_by: $done_by,
            text: include_str!(concat!("../../lessons/", $file)),
        }
    };
}

/// The workshop, in order.
pub const LESSONS: [Lesson; 10] = [
    lesson!(0, "welcome", "00-welcome.md", "lab lesson welcome"),
    lesson!(1, "flood", "01-flood.md", "lab flood"),
    lesson!(2, "oneshot", "02-oneshot.md", "lab oneshot"),
    lesson!(3, "dispatch", "03-dispatch.md", "lab dispatch"),
    lesson!(4, "clear", "04-clear.md", "lab clear"),
    lesson!(5, "server", "05-server.md", "lab server"),
    lesson!(6, "bug-hunt", "06-bug-hunt.md", "lab server --as-published"),
    lesson!(7, "epoll", "07-epoll.md", "lab server --backend epoll"),
    lesson!(
        8,
        "facilitator",
        "08-facilitator.md",
        "lab lesson facilitator"
    ),
    // After the facilitator's guide only so that no lesson is renumbered (progress files and
    // links keep working); the lesson and the guide place it right after lesson 5.
    lesson!(9, "check", "09-check.md", "lab check"),
];

/// Find a lesson by number (`2`, `02`), name (`oneshot`) or file stem (`02-oneshot`).
pub fn find(query: &str) -> Option<&'static Lesson> {
    let query = query.trim().to_ascii_lowercase();
    let query = query.strip_suffix(".md").unwrap_or(&query);
    LESSONS.iter().find(|lesson| {
        query.parse::<usize>().ok() == Some(lesson.number)
            || query == lesson.name
            || Some(query) == lesson.file.strip_suffix(".md")
    })
}

/// The valid names, for the one-line error about an unknown lesson.
pub fn valid_names() -> String {
    LESSONS
        .iter()
        .map(|lesson| format!("{} {}", lesson.number, lesson.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The lesson a stage or server run completes (`flood` → lesson 1).
pub fn for_command(name: &str) -> Option<&'static Lesson> {
    LESSONS.iter().find(|lesson| lesson.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lessons_are_found_by_number_name_and_file() {
        assert_eq!(find("2").map(|l| l.name), Some("oneshot"));
        assert_eq!(find("02").map(|l| l.name), Some("oneshot"));
        assert_eq!(find("Oneshot").map(|l| l.name), Some("oneshot"));
        assert_eq!(find("02-oneshot.md").map(|l| l.name), Some("oneshot"));
        assert!(find("nine").is_none());
        assert!(find("99").is_none());
    }

    #[test]
    fn numbers_follow_the_file_names() {
        for (i, lesson) in LESSONS.iter().enumerate() {
            assert_eq!(lesson.number, i);
            assert!(lesson.file.starts_with(&format!("{i:02}-{}", lesson.name)));
        }
    }
}
