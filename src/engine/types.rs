//! Canonical values and conversions between engines (SPEC §1 column types, §4 Types).
//!
//! OWNER: engine helper.
