//! Integration tests (being built).
