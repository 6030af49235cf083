//! Conformance suite B1–B26.
