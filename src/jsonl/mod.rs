//! The JSON lines of a crawl, both ways. An outcome's line is written by
//! [`Outcome::write_json`](crate::Outcome::write_json); this module reads
//! lines back: a request per line ([`request_from_json`], `--input
//! jsonl`), what a previous run finished ([`resume`], `--resume`), and the
//! validators it saw ([`validators`], `--if-changed`), all with the strict
//! reader in [`read`] (no dependency).

pub mod read;
mod request;
pub mod resume;
pub mod validators;

pub use request::request_from_json;
