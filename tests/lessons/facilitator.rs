//! The facilitator's guide (lesson 8): a room can be run from it alone, so its numbers must
//! hold: the timetables add up, and the per-system table covers every lesson.

use super::harness::lesson_files;

fn guide() -> String {
    lesson_files()
        .into_iter()
        .find(|(file, _)| file.starts_with("08-"))
        .map(|(_, text)| text)
        .expect("lessons/08-facilitator.md")
}

/// The rows of the first Markdown table after `heading`, as cells, without the header and
/// separator rows.
fn table_after(text: &str, heading: &str) -> Vec<Vec<String>> {
    let start = text
        .find(heading)
        .unwrap_or_else(|| panic!("no {heading:?} in the guide"));
    text[start..]
        .lines()
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2)
        .map(|line| {
            // `\|` is a pipe inside a cell (`EV_ADD\|EV_ONESHOT`), not a column.
            line.replace("\\|", "\u{0}")
                .trim_matches('|')
                .split('|')
                .map(|cell| cell.trim().replace('\u{0}', "|"))
                .collect()
        })
        .collect()
}

/// `1:35` → 95 minutes.
fn minutes(clock: &str) -> u32 {
    let (h, m) = clock.split_once(':').expect("a h:mm start time");
    h.parse::<u32>().unwrap() * 60 + m.parse::<u32>().unwrap()
}

/// A facilitator plans the day from a timetable: each slot starts when the one before it ends,
/// and the slots fill exactly the format's length (120 minutes for two hours, 210 for a half
/// day), with lesson 9 right after lesson 5.
#[test]
fn both_timetables_add_up() {
    let guide = guide();
    for (heading, length) in [("### Two hours", 120), ("### Half a day", 210)] {
        let rows = table_after(&guide, heading);
        assert!(rows.len() >= 8, "{heading}: {rows:?}");
        let mut clock = 0;
        for row in &rows {
            assert_eq!(
                minutes(&row[0]),
                clock,
                "{heading}: {row:?} starts late or early"
            );
            clock += row[3].parse::<u32>().unwrap_or_else(|_| panic!("{row:?}"));
        }
        assert_eq!(clock, length, "{heading} adds up to {clock} minutes");
        let order: Vec<&str> = rows.iter().map(|row| row[1].as_str()).collect();
        let five = order
            .iter()
            .position(|l| l.starts_with("5 "))
            .expect("lesson 5");
        assert!(order[five + 1].starts_with("9 "), "{heading}: {order:?}");
    }
}

/// A Mac and a Linux attendee compare traces: the guide's table has a column for each system
/// and a row for every lesson with a command.
#[test]
fn the_system_table_covers_every_lesson() {
    let guide = guide();
    let start = guide
        .find("## What differs")
        .expect("the per-system section");
    let header = guide[start..]
        .lines()
        .find(|line| line.starts_with('|'))
        .unwrap();
    for system in ["macOS", "FreeBSD", "Linux"] {
        assert!(header.contains(system), "{header}");
    }
    let rows = table_after(&guide, "## What differs");
    for lesson in ["0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "6 ", "7 ", "9 "] {
        assert!(
            rows.iter()
                .any(|row| row[0].starts_with(lesson) && row.len() == 4),
            "no row for lesson {lesson}: {rows:?}"
        );
    }
}

/// The install section names the Rust version the package really requires.
#[test]
fn the_guide_names_the_packages_rust_version() {
    let manifest = include_str!("../../Cargo.toml");
    let version = manifest
        .lines()
        .find_map(|line| line.strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .expect("rust-version in Cargo.toml");
    let guide = guide();
    assert!(
        guide.contains(&format!("Rust {version} or newer")),
        "{version}"
    );
    assert!(guide.contains("cargo vendor") && guide.contains("--offline"));
}
