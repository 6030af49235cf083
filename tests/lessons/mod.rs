//! Integration tests: lessons.
