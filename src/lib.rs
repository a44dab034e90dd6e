//! oneloop
pub mod admission;
pub mod error;
pub mod http;
pub mod pool;
pub mod reactor;
pub mod url;
pub use error::{Error, ErrorKind, Phase};
