//! `lab bench`. PLACEHOLDER: being written.
use crate::cli::BenchArgs;

pub fn run(_args: &BenchArgs) -> crate::Result<()> {
    Err(crate::Error::runtime("lab bench is not built yet"))
}
