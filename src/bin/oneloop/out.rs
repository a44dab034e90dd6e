//! The leaf every other file of the binary may use: writing to stdout and
//! stderr without panicking on a closed pipe, and why a command failed.

/// `println!` that ignores a closed stdout (EPIPE) instead of panicking.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that ignores a closed stderr instead of panicking.
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Why a run ended without a summary worth exit status 0.
pub(crate) enum Failure {
    /// Could not start (exit 1).
    Start(String),
    /// Ran, but the input could not be read to its end, or the output or
    /// the checkpoint could not be written (exit 1, after the summary of
    /// what was done).
    Ran(String, Box<oneloop::Summary>),
}
