//! Progress: ONE plain text file, one finished lesson name a line, that a person can read, edit
//! or delete by hand (tutorial notes, workshop pattern 2: a plain, portable progress file).
//!
//! Where it lives:
//! - `$LAB_STATE_DIR/progress` when that is set (tests, and facilitators sharing a machine);
//! - macOS: `~/Library/Application Support/kqueue-lab/progress`;
//! - elsewhere: `$XDG_STATE_HOME/kqueue-lab/progress`, or `~/.local/state/kqueue-lab/progress`.

use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::io_context;

/// The directory that holds the progress file, or `None` when no home can be found.
pub fn state_dir() -> Option<PathBuf> {
    if let Some(dir) = non_empty_env("LAB_STATE_DIR") {
        return Some(PathBuf::from(dir));
    }
    let home = non_empty_env("HOME").map(PathBuf::from);
    if cfg!(target_os = "macos") {
        return home.map(|h| h.join("Library/Application Support/kqueue-lab"));
    }
    if let Some(xdg) = non_empty_env("XDG_STATE_HOME") {
        return Some(PathBuf::from(xdg).join("kqueue-lab"));
    }
    home.map(|h| h.join(".local/state/kqueue-lab"))
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The progress file's path.
pub fn file() -> Option<PathBuf> {
    state_dir().map(|dir| dir.join("progress"))
}

/// The largest progress file read: ten lesson names take a few hundred bytes, so 64 KiB leaves
/// room for any comments a person adds, and a file larger than that is not a progress file.
pub const MAX_FILE_BYTES: u64 = 64 * 1024;

/// What the progress file holds, read with its limits.
enum Contents {
    /// No file yet: nothing is done.
    Missing,
    /// The names on its lines (comments and blank lines left out).
    Names(Vec<String>),
    /// Not a progress file: why, for the warning.
    Unusable(String),
}

/// The names of the finished lessons. A missing file means nothing is done yet. A file that
/// cannot be used (unreadable, not a regular file, too large, not text) counts as nothing done
/// too, with a warning on stderr: progress is a convenience and must never stop a stage from
/// running, but it must not vanish silently either.
pub fn done() -> Vec<String> {
    match read() {
        Contents::Names(names) => names,
        Contents::Missing | Contents::Unusable(_) => Vec::new(),
    }
}

/// Read the progress file without trusting it: opened non-blocking (a FIFO put in its place
/// must not hang the lab), only a regular file, at most [`MAX_FILE_BYTES`], UTF-8 text. Warns
/// (once a run) when the file is unusable or has lines that name no lesson.
fn read() -> Contents {
    let Some(path) = file() else {
        return Contents::Missing;
    };
    let contents = read_limited(&path);
    match &contents {
        Contents::Unusable(why) => warn(&format!(
            "the progress file {} {why}; counting no lesson as done, and not saving progress \
             until it is fixed or removed (`lab lessons --reset`)",
            path.display()
        )),
        Contents::Names(names) => {
            let strangers: Vec<&String> = names
                .iter()
                .filter(|name| super::catalog::for_command(name).is_none())
                .collect();
            if let Some(first) = strangers.first() {
                warn(&format!(
                    "the progress file {} has {} line(s) that name no lesson (the first: \
                     '{}'); they are ignored",
                    path.display(),
                    strangers.len(),
                    first.chars().take(40).collect::<String>()
                ));
            }
        }
        Contents::Missing => {}
    }
    contents
}

fn read_limited(path: &Path) -> Contents {
    let opened = std::fs::OpenOptions::new()
        .read(true)
        // A FIFO opened for reading would wait for a writer: O_NONBLOCK returns at once, and
        // the check below refuses anything that is not a regular file.
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Contents::Missing,
        Err(err) => return Contents::Unusable(format!("cannot be read ({err})")),
    };
    let kind = match file.metadata() {
        Ok(meta) if meta.is_file() => None,
        Ok(meta) if meta.is_dir() => Some("a directory"),
        Ok(meta) if meta.file_type().is_fifo() => Some("a FIFO"),
        Ok(meta) if meta.file_type().is_char_device() => Some("a device"),
        Ok(_) => Some("not a plain file"),
        Err(err) => return Contents::Unusable(format!("cannot be read ({err})")),
    };
    if let Some(kind) = kind {
        return Contents::Unusable(format!("is {kind}, not a regular file"));
    }
    let mut bytes = Vec::new();
    if let Err(err) = file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes) {
        return Contents::Unusable(format!("cannot be read ({err})"));
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Contents::Unusable(format!(
            "is larger than {} KiB, too large for a progress file",
            MAX_FILE_BYTES / 1024
        ));
    }
    let Ok(text) = String::from_utf8(bytes) else {
        return Contents::Unusable("is not text (not UTF-8)".into());
    };
    Contents::Names(
        text.lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with('#'))
            .map(str::to_string)
            .collect(),
    )
}

/// One warning line on stderr, once a run (a run reads the file more than once).
fn warn(text: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::SeqCst) {
        // Not eprintln!: a closed stderr must not turn into a panic.
        let _ = writeln!(io::stderr(), "lab: warning: {text}");
    }
}

/// Record that a lesson is finished (idempotent). A progress file that cannot be used is left
/// as it is (the warning said so): it may be something the person wants to keep.
pub fn mark_done(name: &str) -> crate::Result<()> {
    let mut names = match read() {
        Contents::Missing => Vec::new(),
        Contents::Names(names) => names,
        Contents::Unusable(_) => return Ok(()),
    };
    if names.iter().any(|n| n == name) {
        return Ok(());
    }
    names.push(name.to_string());
    write(&names)
}

/// Forget all progress (`lab lessons --reset`).
pub fn reset() -> crate::Result<()> {
    let Some(path) = file() else {
        return Ok(());
    };
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(io_context(
            &format!("cannot remove {}", path.display()),
            err,
        )),
    }
}

fn write(names: &[String]) -> crate::Result<()> {
    let (Some(dir), Some(path)) = (state_dir(), file()) else {
        return Err(crate::Error::runtime(
            "cannot find a home directory for the progress file; set LAB_STATE_DIR",
        ));
    };
    std::fs::create_dir_all(&dir)
        .map_err(|err| io_context(&format!("cannot create {}", dir.display()), err))?;
    let mut text = String::from("# kqueue-lab progress: one finished lesson a line\n");
    for name in names {
        text.push_str(name);
        text.push('\n');
    }
    // Non-blocking as well: a FIFO that appeared meanwhile fails (ENXIO) instead of waiting.
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|err| io_context(&format!("cannot write {}", path.display()), err))
}
