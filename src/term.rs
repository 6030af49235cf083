//! The terminal: guard, keys, TTY detection. PLACEHOLDER: being written.
