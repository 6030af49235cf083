//! The four flag stages. PLACEHOLDER: being written.
use crate::cli::StageArgs;

/// Which flag stage to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StageKind {
    Flood,
    Oneshot,
    Dispatch,
    Clear,
}

pub fn run(_kind: StageKind, _args: &StageArgs) -> crate::Result<()> {
    Err(crate::Error::runtime("the flag stages are not built yet"))
}
