//! The workspace file of SPEC §1: the model, loading with diagnostics, validation,
//! and the comment-keeping atomic save.

pub mod duration;
pub mod load;
pub mod model;
pub mod save;
pub mod secret;
pub mod validate;

pub use load::{Diagnostic, LoadError, load, load_str};
pub use model::*;
pub use save::save;
pub use secret::Secret;
