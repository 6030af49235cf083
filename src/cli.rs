//! The command line: the clap types, and at the end the conversions into the plain settings the
//! modules take (STYLE.md habit 7: parsed flags are not the config). Only this file and
//! `main.rs` know clap.
//! The contract is `docs/cli-contract.md`: options named there keep their names and defaults.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    about = "An interactive kqueue teaching lab: every kevent call traced and explained",
    long_about = "An interactive kqueue teaching lab, following Part 7 (\"Kqueue\") of the series \
        TCP Server in Zig. Each stage runs live with a built-in client and prints an annotated \
        trace of every kevent call. Start with `lab lessons`, or `lab flood`.",
    // Plain `lab` prints this help: its last line says where a newcomer begins.
    after_help = "New here? start with `lab lessons`: the workshop, one lesson at a time."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Level-triggered EVFILT_READ: the event flood when nobody reads
    Flood(StageArgs),
    /// EV_ONESHOT: the knote is deleted after it fires; `rearm` adds it again
    Oneshot(StageArgs),
    /// EV_DISPATCH: the knote is disabled after it fires; `rearm` enables it again
    Dispatch(StageArgs),
    /// EV_CLEAR: one event per state change, and the partial-read stall
    Clear(StageArgs),
    /// Level-triggered EVFILT_WRITE: an idle connection is writable; `fill` silences it
    Write(StageArgs),
    /// The tutorial's full echo server: batched changelist, read/write mode, timeouts
    Server(ServerArgs),
    /// Connect to a lab server, send each argument (or stdin line) as a message, print the echo
    Client(ClientArgs),
    /// Load-test the server protocol and report throughput, latency and system calls
    Bench(BenchArgs),
    /// Grade a server you wrote (any language) against the protocol and the tutorial's known bugs
    Check(CheckArgs),
    /// List the workshop's lessons with your progress
    Lessons(LessonsArgs),
    /// Show one lesson in the terminal, by number or by name
    Lesson(LessonArgs),
    /// Render a saved `--json` trace as the annotated text
    Replay(ReplayArgs),
    /// Check this machine's kqueue against the spec (B1–B26), in a few seconds
    Selftest(SelftestArgs),
    /// Print a behaviour or an erratum the trace cites: `lab explain B15`, `lab explain errata 11`
    Explain(ExplainArgs),
}

/// How to colour the output.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    /// Colour when stdout is a terminal and NO_COLOR is not set
    #[default]
    Auto,
    Always,
    Never,
}

/// The options every stage shares (contract: "Options shared by the stages").
#[derive(Clone, Debug, Args)]
pub struct CommonArgs {
    /// Listen port; 0 picks a free one (shown in the header and the `start` record)
    #[arg(long, default_value_t = 5882)]
    pub port: u16,
    /// Listen address
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Start no built-in client; wait for real clients such as `nc 127.0.0.1 5882`
    #[arg(long)]
    pub external: bool,
    /// Run these actions without a keyboard, then exit, e.g. 'send hello; wait 300; read'
    #[arg(long)]
    pub script: Option<String>,
    /// Write the trace as JSON lines on stdout instead of annotated text
    #[arg(long)]
    pub json: bool,
    /// Colour: auto honours NO_COLOR and a non-terminal stdout
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Show the epoll calls the emulation makes underneath each kevent call (Linux), and the
    /// lab's own knotes (signal, keys, wake) in every block and table
    #[arg(long)]
    pub os_calls: bool,
    /// Show the lab's own knotes (signal, keys, wake) in every block and table, not only once
    #[arg(long)]
    pub all_knotes: bool,
    /// In a terminal, show the trace through $PAGER (default `less -R`) with its colours, and
    /// play the tour instead of waiting for keys; piped, it does nothing
    #[arg(long)]
    pub pager: bool,
    /// Accepted for older commands and does nothing: the epoll calls are hidden unless
    /// --os-calls
    #[arg(long, hide = true)]
    pub hide_os_calls: bool,
    /// Play the default tour (what the lessons describe) even in a terminal, then exit; no keys
    #[arg(long)]
    pub tour: bool,
}

impl CommonArgs {
    /// Record the epoll calls underneath: shown with `--os-calls`, always in JSON (contract).
    fn record_os_calls(&self) -> bool {
        self.os_calls || self.json
    }

    /// Whether keys drive the run (contract: interactive mode): stdin and stdout are terminals
    /// and nothing else was asked for: no `--script`, no `--tour`, no `--pager` (the pager owns
    /// the keyboard, so the tour plays), and not `tour_asked` (another flag that plays the tour:
    /// `--predict`, `--step`). The one place lab decides it; the stages, the server and the
    /// lessons' progress take the answer as a setting.
    pub fn interactive(&self, tour_asked: bool) -> bool {
        self.script.is_none()
            && !self.tour
            && !self.pager
            && !tour_asked
            && crate::term::stdin_is_terminal()
            && crate::term::stdout_is_terminal()
    }
}

#[derive(Clone, Debug, Args)]
#[command(after_help = crate::script::STAGE_HELP)]
pub struct StageArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Ask the lesson's question first, run the default tour, then compare your answer
    #[arg(long)]
    pub predict: bool,
    /// Play the default tour one step at a time, for a facilitator to narrate: before each
    /// action the lab shows it and waits for Space (or Enter); q or Ctrl-C ends the run.
    /// Implies --tour; needs a terminal
    #[arg(long)]
    pub step: bool,
}

impl StageArgs {
    /// Keys drive the run: see [`CommonArgs::interactive`].
    pub fn interactive(&self) -> bool {
        self.common.interactive(self.predict || self.step)
    }

    /// How to run the stage: the shared options, and whether keys or steps drive it.
    pub fn to_config(&self) -> crate::stages::StageConfig {
        crate::stages::StageConfig {
            host: self.common.host.clone(),
            port: self.common.port,
            external: self.common.external,
            script: self.common.script.clone(),
            interactive: self.interactive(),
            step: self.step,
            trace: (&self.common).into(),
        }
    }
}

/// Which event API the server runs on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ServerBackend {
    /// The portable kqueue (native, or emulated over epoll on Linux)
    #[default]
    Kqueue,
    /// Raw epoll, the way Part 6 does it (Linux only): the baseline
    Epoll,
}

#[derive(Clone, Debug, Args)]
pub struct ServerArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// When N clients are connected the listener is disabled; re-enabled when one leaves
    /// (1 to 65536)
    #[arg(long, default_value_t = 4096, value_parser = range::<usize>(1, 65_536, "", ""))]
    pub max_clients: usize,
    /// A client that sends no complete message for N ms is closed (1 to 86400000, one day)
    #[arg(long, value_parser = range::<u64>(1, 86_400_000, "", ""))]
    pub read_timeout_ms: Option<u64>,
    /// Per-client read and write buffer; a message that cannot fit closes that client
    /// (5 to 67108864)
    #[arg(long, default_value_t = 4096, value_parser = range::<usize>(
        5,
        64 * 1024 * 1024,
        "(a 4-byte length prefix and one byte)",
        "(64 MiB)"
    ))]
    pub buffer_size: usize,
    /// The most memory all clients' buffers may take together, in MiB; connections beyond it
    /// are closed at once, with a note (1 to 1048576, 1 TiB)
    #[arg(long, default_value_t = 256, value_parser = range::<usize>(1, 1_048_576, "", "(1 TiB)"))]
    pub memory_budget_mib: usize,
    /// Staged changes before a flush (1 to 65536)
    #[arg(long, default_value_t = 16, value_parser = range::<usize>(1, 65_536, "", ""))]
    pub changelist: usize,
    /// Eventlist capacity (1 to 65536)
    #[arg(long, default_value_t = 128, value_parser = range::<usize>(1, 65_536, "", ""))]
    pub eventlist: usize,
    /// Apply every change with its own kevent call (for comparison)
    #[arg(long)]
    pub no_batch: bool,
    /// Keep the published tutorial's bugs (errata 4, 5, 8, and show where 9 would strike)
    #[arg(long)]
    pub as_published: bool,
    /// Built-in demo clients (0 to 4096; 0 with --external)
    #[arg(long, value_parser = range::<usize>(0, 4096, "", ""))]
    pub clients: Option<usize>,
    /// No trace at all, only the summary at exit (for load tests and benchmarks)
    #[arg(long)]
    pub quiet: bool,
    /// Event API underneath: the kqueue server, or the raw epoll baseline (Linux only)
    #[arg(long, value_enum, default_value_t = ServerBackend::Kqueue)]
    pub backend: ServerBackend,
    /// Ask the lesson's question first, run the default tour, then compare your answer
    #[arg(long)]
    pub predict: bool,
    /// SO_SNDBUF for accepted sockets, so a slow reader makes writes block sooner (the tour uses
    /// 8192); default: the OS's own, which Linux grows to megabytes on loopback (1 to 268435456)
    #[arg(long, value_parser = range::<usize>(1, SNDBUF_MAX, "", ""))]
    pub sndbuf: Option<usize>,
    /// Play the default tour one pass of the event loop at a time, for a facilitator to
    /// narrate: before each kevent call the lab names it and waits for Space (or Enter); q or
    /// Ctrl-C ends the run. Implies --tour; needs a terminal
    #[arg(long)]
    pub step: bool,
}

#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// Server address
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port
    #[arg(long, default_value_t = 5882)]
    pub port: u16,
    /// Messages to send, one framed message each (any bytes); none: read lines from stdin
    /// (each at most 67108860 bytes)
    pub messages: Vec<std::ffi::OsString>,
    /// Print each echo as hex (default: its bytes on a pipe, lossy UTF-8 on a terminal)
    #[arg(long)]
    pub hex: bool,
}

#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    /// Concurrent connections (1 to 65536)
    #[arg(long, default_value_t = 100, value_parser = range::<usize>(1, 65_536, "", ""))]
    pub connections: usize,
    /// Messages each connection sends (1 to 1000000000)
    #[arg(long, default_value_t = 1000, value_parser = range::<usize>(1, 1_000_000_000, "", ""))]
    pub messages: usize,
    /// Message size in bytes, without the 4-byte length prefix (0 to 67108860)
    #[arg(long, default_value_t = 64, value_parser = range::<usize>(0, 64 * 1024 * 1024 - 4, "", ""))]
    pub size: usize,
    /// Messages in flight per connection (1 to 1024)
    #[arg(long, default_value_t = 1, value_parser = range::<usize>(1, 1024, "", ""))]
    pub pipeline: usize,
    /// Target server `host:port`; none starts a server in-process on port 0
    #[arg(long)]
    pub addr: Option<String>,
    /// Server backend for the in-process server
    #[arg(long, value_enum, default_value_t = ServerBackend::Kqueue)]
    pub backend: ServerBackend,
    /// In-process server applies every change with its own kevent call
    #[arg(long)]
    pub no_batch: bool,
    /// Write the report as one JSON object
    #[arg(long)]
    pub json: bool,
    /// Run the in-process server three ways back to back (kqueue, epoll, kqueue --no-batch) and
    /// print the ratios
    #[arg(long)]
    pub compare: bool,
    /// Client threads, each driving its share of the connections with its own kqueue (1 to 256)
    #[arg(long, default_value_t = 1, value_parser = range::<usize>(1, 256, "", ""))]
    pub threads: usize,
    /// SO_SNDBUF for the in-process server's sockets: a small value makes its writes block, so
    /// clients flip to write mode and back (changes to batch); default: the OS's own
    /// (1 to 268435456)
    #[arg(long, value_parser = range::<usize>(1, SNDBUF_MAX, "", ""))]
    pub sndbuf: Option<usize>,
    /// With --compare: how many rounds of the three servers (1 to 100)
    #[arg(long, default_value_t = 3, value_parser = range::<usize>(1, 100, "", ""))]
    pub rounds: usize,
    /// Round trips per connection before measuring, 0 to 1000000 (default: a tenth of
    /// --messages, between 1 and 100)
    #[arg(long, value_parser = range::<usize>(0, 1_000_000, "", ""))]
    pub warmup: Option<usize>,
    /// Stop sending after this many seconds (1 to 86400, one day) even if messages remain (the
    /// report says so)
    #[arg(long, default_value_t = 60, value_parser = range::<u64>(1, 86_400, "(seconds)", "(seconds, one day)"))]
    pub duration: u64,
}

/// The largest SO_SNDBUF the lab asks for: 256 MiB (the option is a C int, and no kernel
/// grants more than a few megabytes anyway).
const SNDBUF_MAX: u64 = 256 * 1024 * 1024;

/// A value parser for a whole number in `min..=max` (issue: every number has a limit). Its
/// message completes the flag's name, so `main.rs` prints one line such as
/// `lab: --eventlist must be at most 65536`; a note explains a bound that needs it.
fn range<T>(
    min: u64,
    max: u64,
    min_note: &'static str,
    max_note: &'static str,
) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: TryFrom<u64>,
{
    let with = |note: &str| {
        if note.is_empty() {
            String::new()
        } else {
            format!(" {note}")
        }
    };
    let (min_note, max_note) = (with(min_note), with(max_note));
    move |text: &str| {
        let value: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("must be a whole number from {min} to {max}, not '{text}'"))?;
        if value < min {
            return Err(format!("must be at least {min}{min_note}"));
        }
        if value > max {
            return Err(format!("must be at most {max}{max_note}"));
        }
        T::try_from(value).map_err(|_| format!("must be at most {max}{max_note}"))
    }
}

#[derive(Clone, Debug, Args)]
pub struct CheckArgs {
    /// The server to grade, `host:port`
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:5882")]
    pub addr: String,
    /// The largest message the server accepts (its buffer minus the 4-byte length)
    #[arg(long, value_name = "BYTES", default_value_t = 4092)]
    pub max_message: usize,
    /// The server's read timeout: an idle client must be closed within it (plus a margin)
    #[arg(long, value_name = "MS")]
    pub idle_timeout_ms: Option<u64>,
    /// Run only these checks, e.g. `--only echo,idle` (an unknown name lists them all)
    #[arg(long, value_name = "NAME,...", value_delimiter = ',')]
    pub only: Vec<String>,
    /// Smaller counts, the same checks: the whole run in a few seconds
    #[arg(long)]
    pub quick: bool,
    /// One JSON record per check, then a summary record
    #[arg(long)]
    pub json: bool,
    /// The server's process id (Linux): read calls, descriptors and memory from /proc/PID
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
}

#[derive(Clone, Debug, Args)]
pub struct LessonsArgs {
    /// Forget all progress
    #[arg(long)]
    pub reset: bool,
}

#[derive(Clone, Debug, Args)]
pub struct LessonArgs {
    /// Lesson number (as `lab lessons` lists it) or name, e.g. 2 or oneshot
    pub lesson: String,
    /// Show the answers to the check-yourself questions
    #[arg(long)]
    pub answers: bool,
    /// Colour and styling
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// Print the lesson straight to the terminal, even when it is taller than the screen
    /// (default: through $PAGER, or `less -R`, as git does)
    #[arg(long)]
    pub no_pager: bool,
}

#[derive(Clone, Debug, Args)]
pub struct ReplayArgs {
    /// A file written by `lab <stage> --json`, or `-` for standard input
    pub file: std::path::PathBuf,
    /// Colour
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
    /// In a terminal, show the text through $PAGER (default `less -R`) with its colours;
    /// piped, it does nothing
    #[arg(long)]
    pub pager: bool,
}

#[derive(Clone, Debug, Args)]
pub struct ExplainArgs {
    /// What to explain: B1 to B26 (docs/kqueue-semantics.md), or `errata N` / `EN`
    /// (docs/errata.md); case does not matter
    #[arg(required = true, num_args = 1.., value_name = "B15 | errata 11 | E11")]
    pub topic: Vec<String>,
}

// ---- conversions to server/bench/lessons/client settings ----
//
// The only place where the flags of `lab server`, `lab bench`, `lab lesson(s)` and `lab client`
// become the plain settings those modules take (STYLE.md habit 7). Checks that need more than
// one flag, or the modules' own limits, stay with the modules.
//
// Paths are written out in full (no `use` here), so that blocks of conversions for other modules
// can sit beside this one without their imports clashing.

impl From<ServerBackend> for crate::server::EventApi {
    fn from(backend: ServerBackend) -> crate::server::EventApi {
        match backend {
            ServerBackend::Kqueue => crate::server::EventApi::Kqueue,
            ServerBackend::Epoll => crate::server::EventApi::Epoll,
        }
    }
}

impl ServerArgs {
    /// Keys drive the run: see [`CommonArgs::interactive`].
    pub fn interactive(&self) -> bool {
        self.common.interactive(self.predict || self.step)
    }

    /// The server's settings, and how this run is driven and shown.
    pub fn to_run_options(&self) -> crate::server::RunOptions {
        // The numbers were checked by their value parsers (`range`).
        let defaults = crate::server::Config::default();
        crate::server::RunOptions {
            config: crate::server::Config {
                host: self.common.host.clone(),
                port: self.common.port,
                max_clients: self.max_clients,
                read_timeout: self
                    .read_timeout_ms
                    .map_or(defaults.read_timeout, std::time::Duration::from_millis),
                buffer_size: self.buffer_size,
                change_list: self.changelist,
                event_list: self.eventlist,
                no_batch: self.no_batch,
                as_published: self.as_published,
                send_buffer: self.sndbuf,
                backend: self.backend.into(),
                memory_budget: self.memory_budget_mib.saturating_mul(1024 * 1024),
            },
            read_timeout_given: self.read_timeout_ms.is_some(),
            external: self.common.external,
            script: self.common.script.clone(),
            clients: self.clients,
            quiet: self.quiet,
            interactive: self.interactive(),
            predict: self.predict,
            step: self.step,
            json: self.common.json,
            os_calls: self.common.record_os_calls(),
            pager: self.common.pager,
        }
    }
}

impl BenchArgs {
    /// The bench as asked; [`crate::bench::Plan::new`] checks it.
    pub fn to_options(&self) -> crate::bench::Options {
        crate::bench::Options {
            connections: self.connections,
            messages: self.messages,
            size: self.size,
            pipeline: self.pipeline,
            addr: self.addr.clone(),
            backend: self.backend.into(),
            no_batch: self.no_batch,
            json: self.json,
            compare: self.compare,
            threads: self.threads,
            sndbuf: self.sndbuf,
            rounds: self.rounds,
            warmup: self.warmup,
            duration: std::time::Duration::from_secs(self.duration),
        }
    }
}

impl LessonArgs {
    /// What to show, with `--color` resolved.
    pub fn to_options(&self) -> crate::lessons::ShowOptions {
        crate::lessons::ShowOptions {
            lesson: self.lesson.clone(),
            answers: self.answers,
            color: crate::term::use_color(self.color),
            paging: if self.no_pager {
                crate::pager::Paging::Never
            } else {
                crate::pager::Paging::Auto
            },
        }
    }
}

impl ClientArgs {
    /// Where to connect and what to send.
    pub fn to_options(&self) -> crate::client::echo::Options {
        crate::client::echo::Options {
            host: self.host.clone(),
            port: self.port,
            // Bytes, not text: an argument that is not UTF-8 is sent as it is (Unix).
            messages: self
                .messages
                .iter()
                .map(|m| std::os::unix::ffi::OsStrExt::as_bytes(m.as_os_str()).to_vec())
                .collect(),
            hex: self.hex,
        }
    }
}

// ---- conversions to check settings ----

impl CheckArgs {
    /// The plain settings `lab check` runs with; the clap types stay here.
    pub fn to_check_options(&self) -> crate::check::Options {
        crate::check::Options {
            addr: self.addr.clone(),
            max_message: self.max_message,
            idle_timeout_ms: self.idle_timeout_ms,
            only: self.only.clone(),
            quick: self.quick,
            json: self.json,
            pid: self.pid,
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct SelftestArgs {
    /// Write the results as one JSON object, for a bug report
    #[arg(long)]
    pub json: bool,
    /// Run only these scenarios: B-numbers (B15), files (sockets) or names; comma-separated
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Colour the marks
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

// ---- conversions to selftest settings ----

impl SelftestArgs {
    /// What `lab selftest` runs and how it prints (colour decided here, once).
    pub fn to_settings(&self) -> crate::selftest::Settings {
        crate::selftest::Settings {
            json: self.json,
            only: self.only.clone(),
            color: !self.json && crate::term::use_color(self.color),
        }
    }
}

// ---- conversions to the stage/trace/replay settings ----
// The lower layers take plain settings; only this file and main.rs know the clap types.

impl From<ColorChoice> for crate::term::ColorMode {
    fn from(choice: ColorChoice) -> crate::term::ColorMode {
        match choice {
            ColorChoice::Auto => crate::term::ColorMode::Auto,
            ColorChoice::Always => crate::term::ColorMode::Always,
            ColorChoice::Never => crate::term::ColorMode::Never,
        }
    }
}

impl From<&CommonArgs> for crate::term::TraceOptions {
    fn from(common: &CommonArgs) -> crate::term::TraceOptions {
        crate::term::TraceOptions {
            json: common.json,
            color: common.color.into(),
            os_calls: common.record_os_calls(),
            all_knotes: common.all_knotes || common.os_calls,
            pager: common.pager,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }
}
