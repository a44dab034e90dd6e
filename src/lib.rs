//! oneloop
pub mod error;
pub mod http;
pub mod reactor;
pub mod url;
pub use error::{Error, ErrorKind, Phase};
