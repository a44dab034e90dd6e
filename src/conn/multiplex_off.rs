//! Without the `http2` feature: no connection is ever `Multiplexed` (ALPN
//! offers only `http/1.1`), and these are never called.

use super::{Conn, ConnEvent, Error, PhaseTimeouts, StreamEnd};
use crate::error::{ErrorKind, Phase};
use std::io;
use std::time::Instant;

/// Never made without the feature.
pub(crate) struct Session {
    pub request: Vec<u8>,
}

impl<S: io::Read + io::Write> Conn<S> {
    pub(super) fn start_multiplexed(&mut self, _now: Instant) -> Result<(), Error> {
        Err(Error::new(
            Phase::Tls,
            ErrorKind::Protocol,
            "h2 without the http2 feature",
        ))
    }
    pub fn is_multiplexed(&self) -> bool {
        false
    }
    pub fn can_open_stream(&self) -> bool {
        false
    }
    #[allow(dead_code)]
    pub fn open_streams(&self) -> usize {
        0
    }
    pub fn open_stream(&mut self, _now: Instant) -> Result<u32, Error> {
        Err(Error::new(
            Phase::Send,
            ErrorKind::Io,
            "not an HTTP/2 connection",
        ))
    }
    pub fn poll_stream_end(&mut self) -> Option<StreamEnd> {
        None
    }
    pub fn cancel_stream(&mut self, _stream: u32, _now: Instant) {}
    pub fn idle_since(&self) -> Option<Instant> {
        None
    }
    pub fn flush_streams(
        &mut self,
        _net: &mut impl super::net::Net<Stream = S>,
        _now: Instant,
    ) -> ConnEvent {
        ConnEvent::Pending
    }
    pub(super) fn step_multiplexed(
        &mut self,
        _net: &mut impl super::net::Net<Stream = S>,
        _now: Instant,
    ) -> ConnEvent {
        ConnEvent::Pending
    }
    pub(super) fn multiplexed_timeout(&self, _t: &PhaseTimeouts) -> Option<Instant> {
        None
    }
    pub(super) fn handle_multiplexed_timeout(
        &mut self,
        _net: &mut impl super::net::Net<Stream = S>,
        _t: &PhaseTimeouts,
        _now: Instant,
    ) -> ConnEvent {
        ConnEvent::Pending
    }
}
