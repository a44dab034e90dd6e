//! oneloop
pub mod admission;
pub mod conn;
mod crawler;
pub mod demo;
pub mod dns;
pub mod error;
pub mod http;
pub mod pool;
pub mod reactor;
pub mod summary;
pub mod url;

pub use crawler::{Config, Crawler, Handle, Outcome, Request, Timings};
pub use error::{Error, ErrorKind, Phase};
pub use http::{Method, Response};
pub use summary::Summary;
