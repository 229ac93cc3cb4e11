//! The headless client: prints engine events as the log lines of SPEC §4.
//!
//! OWNER: engine helper.
