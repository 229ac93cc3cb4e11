//! The terminal UI of SPEC §6 (OWNER: TUI helper).
