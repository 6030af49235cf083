//! Progress: ONE plain text file, one finished lesson name a line, that a person can read, edit
//! or delete by hand (tutorial notes, workshop pattern 2: a plain, portable progress file).
//!
//! Where it lives:
//! - `$LAB_STATE_DIR/progress` when that is set (tests, and facilitators sharing a machine);
//! - macOS: `~/Library/Application Support/kqueue-lab/progress`;
//! - elsewhere: `$XDG_STATE_HOME/kqueue-lab/progress`, or `~/.local/state/kqueue-lab/progress`.

use std::path::PathBuf;

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

/// The names of the finished lessons. A missing or unreadable file means nothing is done yet:
/// progress is a convenience and must never stop a stage from running.
pub fn done() -> Vec<String> {
    let Some(path) = file() else {
        return Vec::new();
    };
    std::fs::read_to_string(path)
        .map(|text| {
            text.lines()
                .map(str::trim)
                .filter(|line| !line.is_empty() && !line.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Record that a lesson is finished (idempotent).
pub fn mark_done(name: &str) -> crate::Result<()> {
    let mut names = done();
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
    std::fs::write(&path, text)
        .map_err(|err| io_context(&format!("cannot write {}", path.display()), err))
}
