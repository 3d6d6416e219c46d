//! minidump_samples tests
