//! The workspace file: the model, one parser and range per field, loading with
//! diagnostics, validation across entries, and the comment-keeping atomic save.

pub(crate) mod duration;
mod entries;
pub mod fields;
pub mod load;
pub mod merge;
pub mod model;
mod read;
pub mod save;
pub mod secret;
pub mod validate;

pub use load::{Diagnostic, LoadError, load, load_str};
pub use model::*;
pub use save::save;
pub use secret::Secret;
