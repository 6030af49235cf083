//! `lab client`. PLACEHOLDER: being written.
use crate::cli::ClientArgs;

pub fn run(_args: &ClientArgs) -> crate::Result<()> {
    Err(crate::Error::runtime("lab client is not built yet"))
}
