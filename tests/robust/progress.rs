//! The progress file is a plain file a person may edit, so the lab reads it without trusting
//! it: something else in its place (a FIFO, a device, a directory, a huge file, garbage) is one
//! warning on stderr and counts as nothing done; it never hangs the lab, never fills memory,
//! and is never overwritten.

use std::path::Path;
use std::process::{Command, Output};

use super::{finish, lab_in, TempDir};

/// `lab ARGS` with its progress in `state`, run to its end within the deadline.
fn run(state: &TempDir, args: &[&str]) -> Output {
    finish(lab_in(state, args).spawn().expect("start lab"))
}

/// `lab lessons` in `state`: the list on stdout, and exactly one warning line on stderr that
/// contains `why`.
fn lessons_warn(state: &TempDir, why: &str) -> String {
    let out = run(state, &["lessons"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one warning line: {stderr}");
    assert!(
        stderr.starts_with("lab: warning: the progress file") && stderr.contains(why),
        "a warning that says '{why}': {stderr}"
    );
    stdout
}

fn progress(state: &TempDir) -> std::path::PathBuf {
    state.path().join("progress")
}

/// Someone replaced the progress file with a FIFO (nobody writes to it). `lab lessons` does not
/// wait for a writer: it warns that this is not a regular file and lists nothing as done; a
/// lesson read to its end cannot save its progress there, and says nothing more.
#[test]
fn a_fifo_in_place_of_the_progress_file_is_a_warning_not_a_hang() {
    let state = TempDir::new("fifo");
    let made = Command::new("mkfifo")
        .arg(progress(&state))
        .status()
        .expect("run mkfifo");
    assert!(made.success(), "mkfifo");
    let list = lessons_warn(&state, "a FIFO, not a regular file");
    assert!(list.contains("0 of 10 lessons done"), "{list}");

    let out = run(&state, &["lesson", "welcome"]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "one warning line: {stderr}");
    assert!(
        std::fs::metadata(progress(&state)).is_ok(),
        "the FIFO is left alone"
    );
}

/// The progress file is a link to /dev/zero, an endless device: a warning, read no further.
#[test]
fn a_device_in_place_of_the_progress_file_is_not_read() {
    let state = TempDir::new("dev-zero");
    std::os::unix::fs::symlink(Path::new("/dev/zero"), progress(&state)).expect("symlink");
    let list = lessons_warn(&state, "a device, not a regular file");
    assert!(list.contains("0 of 10 lessons done"), "{list}");
}

/// A gigabyte progress file (sparse: it takes no disk): the lab reads 64 KiB of it at most,
/// warns that it is too large, and does not overwrite it when a lesson is done.
#[test]
fn a_huge_progress_file_is_refused_after_its_cap() {
    let state = TempDir::new("huge");
    let file = std::fs::File::create(progress(&state)).expect("create");
    file.set_len(1 << 30).expect("a sparse gigabyte");
    drop(file);
    let list = lessons_warn(&state, "larger than 64 KiB");
    assert!(list.contains("0 of 10 lessons done"), "{list}");
    let out = run(&state, &["lesson", "welcome"]);
    assert!(out.status.success());
    let len = std::fs::metadata(progress(&state))
        .expect("still there")
        .len();
    assert_eq!(len, 1 << 30, "not overwritten");
}

/// A directory where the file should be: a warning, not a silent "0 of 10 done".
#[test]
fn a_directory_in_place_of_the_progress_file_is_a_warning() {
    let state = TempDir::new("dir");
    std::fs::create_dir(progress(&state)).expect("mkdir");
    let list = lessons_warn(&state, "a directory, not a regular file");
    assert!(list.contains("0 of 10 lessons done"), "{list}");
}

/// Binary garbage in the progress file: it is not text, so nothing counts as done (with a
/// warning). A text file with a line that names no lesson keeps the lessons it does name, and
/// the warning quotes the stranger.
#[test]
fn garbage_in_the_progress_file_is_a_warning() {
    let state = TempDir::new("garbage");
    std::fs::write(progress(&state), b"\xff\xfe\x00garbage\x80\n").expect("write");
    let list = lessons_warn(&state, "is not text");
    assert!(list.contains("0 of 10 lessons done"), "{list}");

    let state = TempDir::new("stranger");
    std::fs::write(progress(&state), "flood\nfloood\n").expect("write");
    let list = lessons_warn(&state, "'floood'");
    assert!(list.contains("1 of 10 lessons done"), "{list}");
}
