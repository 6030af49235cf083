//! The terminal: TTY detection and colour choice, the raw-mode guard that always restores the
//! terminal, SIGINT/SIGTERM as a readable descriptor, the key reader thread, and the live
//! screen the text trace is written to ([`screen`]).
//!
//! Terminal state is a resource (STYLE.md habit 5): [`TerminalGuard`] enters raw mode and its
//! `Drop` cannot fail; a panic hook restores the terminal first and then calls the previous hook;
//! so `q`, Ctrl-C, an error (`?`) and a panic all leave a usable shell. tests/stages/terminal.rs
//! checks each of the four in a real terminal (tmux); the error and panic paths are reached
//! through the stages' `LAB_TEST_FAULT` test hook (src/stages/harness.rs).

use std::io::{IsTerminal, Write};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Once};
use std::thread;
use std::time::Duration;

use crate::sys::unix::Readiness;

pub mod screen;
pub mod step;

/// When to colour the output (`--color`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ColorMode {
    /// Colour when stdout is a terminal and NO_COLOR is not set.
    #[default]
    Auto,
    Always,
    Never,
}

/// True when stdout is a terminal (not a pipe or a file).
pub fn stdout_is_terminal() -> bool {
    std::io::stdout().is_terminal()
}

/// True when stdin is a terminal.
pub fn stdin_is_terminal() -> bool {
    std::io::stdin().is_terminal()
}

/// Whether to colour: `always`, `never`, or `auto` = stdout is a terminal and NO_COLOR is unset
/// or empty (<https://no-color.org>).
pub fn use_color(choice: impl Into<ColorMode>) -> bool {
    match choice.into() {
        ColorMode::Always => true,
        ColorMode::Never => false,
        ColorMode::Auto => {
            let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
            !no_color && stdout_is_terminal()
        }
    }
}

/// Put the terminal back the way the shell wants it: cooked mode, echo, a visible cursor.
/// Safe to call at any time, any number of times; errors are ignored (nothing better to do).
pub fn restore_terminal() {
    let _ = crossterm::terminal::disable_raw_mode();
    if stdout_is_terminal() {
        // Never an escape code into a pipe or a file.
        let mut out = std::io::stdout();
        let _ = crossterm::execute!(out, crossterm::cursor::Show);
        let _ = out.flush();
    }
}

/// Install, once per process, a panic hook that restores the terminal and then runs the
/// previous hook (so the panic message is printed on a sane terminal).
pub fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if RAW.load(Ordering::SeqCst) {
                if stdout_is_terminal() {
                    // The cursor rests at the start of the key footer (term::screen::TextSink):
                    // erase the footer so the message is printed where it was, not over it.
                    let mut out = std::io::stdout();
                    let _ = out.write_all(b"\r\x1b[J");
                    let _ = out.flush();
                }
                // Cooked mode before the message: in raw mode each `\n` of a multi-line
                // message would move down without returning to column 0 (a staircase).
                restore_terminal();
            }
            previous(info);
        }));
    });
}

/// True while a [`TerminalGuard`] holds the terminal in raw mode.
static RAW: AtomicBool = AtomicBool::new(false);

/// Raw mode for as long as the guard lives. Dropping it restores the terminal; the drop cannot
/// fail and runs on every exit path, including `?` and unwinding panics.
pub struct TerminalGuard {
    _private: (),
}

impl TerminalGuard {
    /// Enter raw mode (keys arrive one at a time, unechoed; Ctrl-C becomes a key).
    pub fn enter() -> std::io::Result<TerminalGuard> {
        install_panic_hook();
        crossterm::terminal::enable_raw_mode()?;
        RAW.store(true, Ordering::SeqCst);
        Ok(TerminalGuard { _private: () })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        RAW.store(false, Ordering::SeqCst);
        restore_terminal();
    }
}

// ---------------------------------------------------------------------------------------------
// SIGINT / SIGTERM / SIGHUP

/// The write end of the signal pipe, for the handler (-1 until installed).
static SIGNAL_PIPE_WRITE: AtomicI32 = AtomicI32::new(-1);
/// The read end, handed to whoever waits for signals.
static SIGNAL_PIPE_READ: AtomicI32 = AtomicI32::new(-1);
/// Set by the handler: a SIGINT, SIGTERM or SIGHUP arrived.
static SIGNALLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_sig: libc::c_int) {
    SIGNALLED.store(true, Ordering::SeqCst);
    let fd = SIGNAL_PIPE_WRITE.load(Ordering::SeqCst);
    if fd >= 0 {
        // Async-signal-safe; the pipe is non-blocking, so a full pipe (a burst of signals)
        // loses a byte instead of blocking the handler.
        crate::sys::unix::write_byte(fd, 1);
    }
}

/// Catch SIGINT, SIGTERM and SIGHUP (the "self-pipe trick"): each one sets a flag and makes a pipe
/// readable. Returns the pipe's read end, which an event loop registers as an EVFILT_READ knote,
/// so a signal wakes `kevent` like any other event. (The wait itself may also end with EINTR,
/// B11.) Calling it again returns the same descriptor.
///
/// SIGHUP is what closing the terminal sends: by default it kills the process on the spot, so a
/// run ended that way would lose its summary. It ends the run like SIGTERM instead.
pub fn catch_interrupts() -> std::io::Result<RawFd> {
    let existing = SIGNAL_PIPE_READ.load(Ordering::SeqCst);
    if existing >= 0 {
        return Ok(existing);
    }
    let fds = crate::sys::unix::pipe_nonblocking()?;
    SIGNAL_PIPE_WRITE.store(fds[1], Ordering::SeqCst);
    SIGNAL_PIPE_READ.store(fds[0], Ordering::SeqCst);
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // The handler only does async-signal-safe work: an atomic store and one write.
        crate::sys::unix::on_signal(sig, on_signal)?;
    }
    Ok(fds[0])
}

/// True once a SIGINT, SIGTERM or SIGHUP has arrived (after [`catch_interrupts`]).
pub fn interrupted() -> bool {
    SIGNALLED.load(Ordering::SeqCst)
}

/// What a SIGINT does, without the signal: the pager of `--pager` was quit while the run still
/// wrote to it, so nobody sees the trace any more. The run's event loop wakes as for Ctrl-C and
/// ends (an idle `--external` run included), and [`interrupted`] says the run did not reach
/// its end on its own (`lessons::run_finished`). Before [`catch_interrupts`] only the flag is
/// set.
pub fn interrupt() {
    on_signal(libc::SIGINT);
}

/// Empty the signal pipe after its knote fired (level-triggered, it would fire again).
pub fn drain_signal_pipe() {
    let fd = SIGNAL_PIPE_READ.load(Ordering::SeqCst);
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 64];
    // The pipe is non-blocking: WouldBlock ends the loop once it is empty.
    while crate::sys::unix::read(fd, &mut buf).is_ok_and(|n| n > 0) {}
}

// ---------------------------------------------------------------------------------------------
// Keys

/// The `?` key toggles the full key list in the footer (`term::screen::fit_footer`). It is
/// the screen's business: the key reader flips this flag and hands the key on, and the loop
/// only sets its footer again, which draws it anew.
static HELP: AtomicBool = AtomicBool::new(false);

/// True while the footer shows every key (`?`).
pub fn help_shown() -> bool {
    HELP.load(Ordering::SeqCst)
}

/// One key press, as the stages need it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Ctrl-C (in raw mode the terminal does not turn it into SIGINT).
    Interrupt,
}

/// A thread that reads keys from the terminal and hands each one to the event loop: it sends the
/// key on a channel, then calls `wake` (the stages pass a closure that NOTE_TRIGGERs an
/// EVFILT_USER knote, so the loop blocks in `kevent` and never polls on a timer).
///
/// When the terminal goes away (its window closed, the tmux server killed, the SSH session
/// lost) the thread sees the hang-up, ends the run as SIGHUP would ([`hang_up`]), and stops.
pub struct KeyReader {
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
    /// Disconnected once the thread has ended (its sender is dropped, even by a panic).
    finished: mpsc::Receiver<()>,
}

/// How long [`KeyReader`]'s drop waits for the thread: it notices `stop` within one 50 ms
/// poll, so this is only reached when it is stuck in a read (see `read_keys`).
const KEY_READER_PATIENCE: Duration = Duration::from_secs(1);

impl KeyReader {
    pub fn spawn(wake: impl Fn() + Send + 'static) -> (KeyReader, mpsc::Receiver<Key>) {
        let (tx, rx) = mpsc::channel();
        let (finished_tx, finished) = mpsc::channel::<()>();
        let stop = Arc::new(AtomicBool::new(false));
        let stop_flag = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            // Dropped when the thread ends, however it ends: `KeyReader::drop` sees it.
            let _finished = finished_tx;
            // However this thread ends (asked to stop, the terminal failed, or a panic), wake
            // the loop once more: it then finds the channel disconnected and ends the stage,
            // instead of blocking in kevent for keys that will never come.
            let wake = WakeOnExit(wake);
            read_keys(&stop_flag, &tx, &wake.0);
        });
        (
            KeyReader {
                stop,
                thread: Some(thread),
                finished,
            },
            rx,
        )
    }
}

/// The key reader's loop: until `stop`, the channel is gone, or the terminal hangs up.
///
/// It reads the terminal (stdin, in raw mode: the callers only run it when stdin is one) with
/// read(2) itself, after poll(2) said there is something. Why not crossterm's event reader: on
/// a hung-up terminal a read returns 0 (end of file) for ever, and that reader, finding no
/// bytes, reads again without returning, spinning a core; a thread stuck there can neither
/// see the hang-up nor `stop`. The short poll timeout lets it notice `stop`; the event loop is
/// woken by `wake`, never by this timer.
fn read_keys(stop: &AtomicBool, tx: &mpsc::Sender<Key>, wake: &dyn Fn()) {
    use std::io::ErrorKind::{Interrupted, WouldBlock};
    const TICK_MS: i32 = 50;
    let stdin = libc::STDIN_FILENO;
    let mut buf = [0u8; 256];
    while !stop.load(Ordering::SeqCst) {
        match crate::sys::unix::wait_readable(stdin, TICK_MS) {
            Ok(Readiness::Quiet) => continue,
            Err(e) if e.kind() == Interrupted => continue,
            // Unknown: poll(2) cannot watch this terminal; the read below waits instead (and
            // `stop` is then noticed after the next key; `KeyReader::drop` does not wait).
            Ok(Readiness::Readable | Readiness::Unknown) => {}
            Ok(Readiness::HungUp) | Err(_) => return hang_up(),
        }
        let n = match crate::sys::unix::read(stdin, &mut buf) {
            // End of file: in raw mode a terminal only says that once it has hung up.
            Ok(0) => return hang_up(),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), Interrupted | WouldBlock) => continue,
            // EIO: the terminal is gone.
            Err(_) => return hang_up(),
        };
        for key in keys_in(&buf[..n]) {
            if key == Key::Char('?') {
                // The loop draws the footer again when it sees the key.
                HELP.fetch_xor(true, Ordering::SeqCst);
            }
            if tx.send(key).is_err() {
                return;
            }
            wake();
        }
    }
}

/// The keys in the bytes one read of a raw-mode terminal returned. A key is one character;
/// Ctrl-C is byte 3 (raw mode makes it a key, not SIGINT); Enter is `\r`; Esc alone (the last
/// byte read, or before another Esc) quits like `q`. Esc followed by `[` or `O` starts an
/// escape sequence (an arrow, a function key), which is no lab key and skipped whole; Esc
/// before another character is Alt with it, taken as that character. Other control bytes (Tab,
/// Backspace, Ctrl-letters) are no lab keys either.
fn keys_in(bytes: &[u8]) -> Vec<Key> {
    let text = String::from_utf8_lossy(bytes);
    let mut chars = text.chars().peekable();
    let mut keys = Vec::new();
    while let Some(c) = chars.next() {
        match c {
            '\x03' => keys.push(Key::Interrupt),
            // Enter goes on to the next step in `--step` (the stages' harness).
            '\r' | '\n' => keys.push(Key::Char('\n')),
            '\x1b' => match chars.peek() {
                None | Some('\x1b') => keys.push(Key::Char('q')),
                Some('[') => {
                    // CSI: parameters, then one final byte in `@`..=`~`.
                    chars.next();
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                Some('O') => {
                    // SS3 (F1–F4, some arrows): one more byte.
                    chars.next();
                    chars.next();
                }
                // Alt with a key: the next turn of the loop takes the key.
                Some(_) => {}
            },
            c if c.is_control() => {}
            c => keys.push(Key::Char(c)),
        }
    }
    keys
}

/// The terminal hung up: end the run as the SIGHUP that usually comes with it would (the flag
/// and the signal pipe of [`catch_interrupts`]), whether or not that signal ever arrives (a
/// shell killed outright sends none).
fn hang_up() {
    on_signal(libc::SIGHUP);
}

/// Calls its closure when dropped: on a normal return and while unwinding from a panic.
struct WakeOnExit<F: Fn()>(F);

impl<F: Fn()> Drop for WakeOnExit<F> {
    fn drop(&mut self) {
        (self.0)();
    }
}

impl Drop for KeyReader {
    /// Stop the thread and join it, but never wait for ever: a thread stuck in a read is left
    /// behind; the process is ending and takes it along.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let ended = matches!(
            self.finished.recv_timeout(KEY_READER_PATIENCE),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        if let Some(t) = self.thread.take() {
            if ended {
                let _ = t.join();
            }
        }
    }
}

/// How a run's trace is written (from `--json`, `--color`, `--os-calls`, `--all-knotes`,
/// `--pager`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TraceOptions {
    /// JSON lines instead of the annotated text.
    pub json: bool,
    pub color: ColorMode,
    /// Record and show the system calls the emulation makes under each kevent call. The text
    /// shows them only when asked (`--os-calls`), so that a Linux and a macOS trace look alike;
    /// the JSON trace always carries them (contract).
    pub os_calls: bool,
    /// The text shows the lab's own knotes (`signal`, `keys`, `wake`) in every block and
    /// table, not only once (`--all-knotes`, or `--os-calls`). JSON always has them.
    pub all_knotes: bool,
    /// In a terminal, the trace goes through the pager (`crate::pager`), and the run plays
    /// its tour: keys cannot reach lab while the pager owns the terminal. Does nothing when
    /// stdout is not a terminal (as git).
    pub pager: bool,
}

/// Choose the sink for a run (the trace flows one way: stage → traced kqueue → record →
/// renderer → here): JSON lines with `json`, otherwise the annotated text, coloured
/// per `color` (auto: only when stdout is a terminal and NO_COLOR is unset), with the epoll
/// twin when `os_calls`. With `pager` and a terminal, either goes through the pager; the
/// colour is decided as for the terminal the pager shows it on (`less -R` passes it through).
pub fn sink_for(options: impl Into<TraceOptions>) -> Box<dyn crate::trace::Sink> {
    let options = options.into();
    let color = use_color(options.color);
    let pager = if options.pager && stdout_is_terminal() {
        crate::pager::Pager::start()
    } else {
        None
    };
    match (options.json, pager) {
        (true, None) => Box::new(crate::trace::JsonSink::stdout()),
        (true, Some(pager)) => {
            let (out, backlog) = crate::trace::sink_output::bounded(Box::new(pager));
            Box::new(crate::trace::JsonSink::new(out).with_backlog(backlog))
        }
        (false, None) => Box::new(
            screen::TextSink::stdout(color, options.os_calls).with_all_knotes(options.all_knotes),
        ),
        (false, Some(pager)) => Box::new(
            screen::TextSink::paged(pager, color, options.os_calls)
                .with_all_knotes(options.all_knotes),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a person types in a raw-mode terminal, as one read returns it: letters, Enter,
    /// Ctrl-C, `?`, an arrow key (nothing), Alt-c (`c`), and Esc alone (quit).
    #[test]
    fn keys_in_a_read_of_the_terminal() {
        use Key::{Char, Interrupt};
        assert_eq!(
            keys_in(b"cs\r\x03?"),
            [Char('c'), Char('s'), Char('\n'), Interrupt, Char('?')]
        );
        assert_eq!(keys_in(b"\x1b[A\x1b[1;5Cr\x1bOPk"), [Char('r'), Char('k')]);
        assert_eq!(keys_in(b"\x1bc"), [Char('c')]);
        assert_eq!(keys_in(b"\x1b"), [Char('q')]);
        assert_eq!(keys_in(b"\x1b\x1b"), [Char('q'), Char('q')]);
        assert_eq!(keys_in(b"\t\x7f\x04"), []);
        assert_eq!(keys_in("é".as_bytes()), [Char('é')]);
    }

    #[test]
    fn never_and_always_override_the_terminal() {
        assert!(!use_color(ColorMode::Never));
        assert!(use_color(ColorMode::Always));
    }

    // Restoring the terminal needs a real terminal to observe (raw mode on, then off): the
    // tmux tests check it after q, Esc, Ctrl-C, an error and a panic, in every stage
    // (tests/stages/terminal.rs, tests/server/interactive.rs).
}
