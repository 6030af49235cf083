//! The workshop's lessons. PLACEHOLDER: being written.
use crate::cli::{LessonArgs, LessonsArgs};

pub fn list(_args: &LessonsArgs) -> crate::Result<()> {
    Err(crate::Error::runtime("lab lessons is not built yet"))
}

pub fn show(_args: &LessonArgs) -> crate::Result<()> {
    Err(crate::Error::runtime("lab lesson is not built yet"))
}
