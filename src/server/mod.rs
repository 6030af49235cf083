//! The tutorial's full echo server. PLACEHOLDER: being written.
pub mod client;
use crate::cli::ServerArgs;

pub fn run(_args: &ServerArgs) -> crate::Result<()> {
    Err(crate::Error::runtime("lab server is not built yet"))
}
