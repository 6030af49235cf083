//! The command line, as clap types only (STYLE.md habit 7: parsed flags are not the config).
//! Each module turns its arguments into a validated config of its own.
//! The contract is `docs/cli-contract.md`: options named there keep their names and defaults.

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "lab",
    version,
    about = "An interactive kqueue teaching lab: every kevent call traced and explained",
    long_about = "An interactive kqueue teaching lab, following Part 7 (\"Kqueue\") of the series \
        TCP Server in Zig. Each stage runs live with a built-in client and prints an annotated \
        trace of every kevent call. Start with `lab lessons`, or `lab flood`."
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
    /// The tutorial's full echo server: batched changelist, read/write mode, timeouts
    Server(ServerArgs),
    /// Connect to a lab server, send each argument (or stdin line) as a message, print the echo
    Client(ClientArgs),
    /// Load-test the server protocol and report throughput, latency and system calls
    Bench(BenchArgs),
    /// List the workshop's lessons with your progress
    Lessons(LessonsArgs),
    /// Show one lesson in the terminal, by number or by name
    Lesson(LessonArgs),
    /// Render a saved `--json` trace as the annotated text
    Replay(ReplayArgs),
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
    /// Hide the epoll calls the emulation makes underneath each kevent call (Linux)
    #[arg(long)]
    pub hide_os_calls: bool,
}

#[derive(Clone, Debug, Args)]
pub struct StageArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Ask the lesson's question first, run the default tour, then compare your answer
    #[arg(long)]
    pub predict: bool,
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
    #[arg(long, default_value_t = 4096)]
    pub max_clients: usize,
    /// A client that sends no complete message for N ms is closed
    #[arg(long)]
    pub read_timeout_ms: Option<u64>,
    /// Per-client read and write buffer; a message that cannot fit closes that client
    #[arg(long, default_value_t = 4096)]
    pub buffer_size: usize,
    /// Staged changes before a flush
    #[arg(long, default_value_t = 16)]
    pub changelist: usize,
    /// Eventlist capacity
    #[arg(long, default_value_t = 128)]
    pub eventlist: usize,
    /// Apply every change with its own kevent call (for comparison)
    #[arg(long)]
    pub no_batch: bool,
    /// Keep the published tutorial's bugs (errata 4, 5, 8, and show where 9 would strike)
    #[arg(long)]
    pub as_published: bool,
    /// Built-in demo clients (0 with --external)
    #[arg(long)]
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
    /// 8192); default: the OS's own, which Linux grows to megabytes on loopback
    #[arg(long)]
    pub sndbuf: Option<usize>,
}

#[derive(Clone, Debug, Args)]
pub struct ClientArgs {
    /// Server address
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Server port
    #[arg(long, default_value_t = 5882)]
    pub port: u16,
    /// Messages to send, one framed message each; none: read lines from stdin
    pub messages: Vec<String>,
}

#[derive(Clone, Debug, Args)]
pub struct BenchArgs {
    /// Concurrent connections
    #[arg(long, default_value_t = 100)]
    pub connections: usize,
    /// Messages each connection sends
    #[arg(long, default_value_t = 1000)]
    pub messages: usize,
    /// Message size in bytes (without the 4-byte length prefix)
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Messages in flight per connection
    #[arg(long, default_value_t = 1)]
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
    /// Client threads, each driving its share of the connections with its own kqueue
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// SO_SNDBUF for the in-process server's sockets: a small value makes its writes block, so
    /// clients flip to write mode and back (changes to batch); default: the OS's own
    #[arg(long)]
    pub sndbuf: Option<usize>,
    /// With --compare: how many rounds of the three servers
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Round trips per connection before measuring (default: a tenth of --messages, 1 to 100)
    #[arg(long)]
    pub warmup: Option<usize>,
    /// Stop sending after this many seconds even if messages remain (the report says so)
    #[arg(long, default_value_t = 60)]
    pub duration: u64,
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
}

#[derive(Clone, Debug, Args)]
pub struct ReplayArgs {
    /// A file written by `lab <stage> --json`
    pub file: std::path::PathBuf,
    /// Colour
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
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

impl From<&CommonArgs> for crate::trace::TraceOptions {
    fn from(common: &CommonArgs) -> crate::trace::TraceOptions {
        crate::trace::TraceOptions {
            json: common.json,
            color: common.color.into(),
            os_calls: !common.hide_os_calls,
        }
    }
}

impl From<&CommonArgs> for crate::stages::StageConfig {
    fn from(common: &CommonArgs) -> crate::stages::StageConfig {
        crate::stages::StageConfig {
            host: common.host.clone(),
            port: common.port,
            external: common.external,
            script: common.script.clone(),
            trace: common.into(),
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
