//! inspect_cli tests
