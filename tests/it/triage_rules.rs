//! triage_rules tests
