//! System calls every Unix has, wrapped as safe functions (see [`crate::sys`]).
