//! `lab replay`. PLACEHOLDER: being written.
use crate::cli::ReplayArgs;

pub fn run(_args: &ReplayArgs) -> crate::Result<()> {
    Err(crate::Error::runtime("lab replay is not built yet"))
}
