//! The reactor's parts: `mio` token encoding, timers, loop statistics.
//!
//! The loop itself lives in the crawler (it is the driver); this module holds
//! what any mio loop needs and that can be tested on its own.
//!
//! **Tokens and stale events.** Connections live in a `slab::Slab`, and a slab
//! reuses freed slots. One `poll` can return two events for the same token: if
//! the first closes the connection and a new one takes its slot, the second
//! event would be delivered to the wrong connection. So a token carries the
//! slot *and* a generation counter ([`Token`]); a connection remembers the
//! generation it was born with, and the driver drops events whose generation
//! does not match.

mod stats;
mod timers;

pub use stats::{LoopStats, Stall, Turn, TurnClock, STALLS_KEPT};
pub use timers::{TimerId, Timers};

/// The token space, in one table. Every `mio::Token` of the crawler's poll
/// falls in exactly one range:
///
/// | slot range (low 32 bits)          | owner                          | see |
/// |-----------------------------------|--------------------------------|-----|
/// | `0 .. DNS_SLOT_BASE`              | connections (slab slot)        | `crawler` |
/// | `DNS_SLOT_BASE .. 2^32`           | DNS sockets (UDP and TCP)      | [`crate::dns`] |
/// | the whole token `usize::MAX`      | the cross-thread waker         | `WAKER_TOKEN` |
///
/// The high 32 bits carry the occupant's generation (see [`Token`]).
#[doc(hidden)]
pub const DNS_SLOT_BASE: usize = 1 << 31;

/// The token reserved for the cross-thread [`mio::Waker`].
pub(crate) const WAKER_TOKEN: mio::Token = mio::Token(usize::MAX);

/// Who an event's token belongs to (the table at [`DNS_SLOT_BASE`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// The waker: another thread wants the loop's attention.
    Waker,
    /// A DNS socket.
    Dns(Token),
    /// A connection.
    Conn(Token),
}

impl Source {
    /// Sorts a token into its range.
    pub(crate) fn of(token: mio::Token) -> Source {
        if token == WAKER_TOKEN {
            return Source::Waker;
        }
        let t = Token::from_mio(token);
        if t.slot >= DNS_SLOT_BASE {
            Source::Dns(t)
        } else {
            Source::Conn(t)
        }
    }
}

/// A slab slot plus the generation of the object living in it, packed into
/// one `mio::Token` (slot in the low 32 bits, generation in the high ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[doc(hidden)]
pub struct Token {
    /// The slab slot.
    pub slot: usize,
    /// The generation of the slot's occupant.
    pub generation: u32,
}

impl Token {
    /// Packs into a mio token.
    pub fn to_mio(self) -> mio::Token {
        debug_assert!(self.slot < (u32::MAX as usize));
        mio::Token(((self.generation as usize) << 32) | self.slot)
    }
    /// Unpacks a mio token.
    pub fn from_mio(token: mio::Token) -> Token {
        Token {
            slot: token.0 & 0xffff_ffff,
            generation: (token.0 >> 32) as u32,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let t = Token {
            slot: 12345,
            generation: 0xdead_beef,
        };
        assert_eq!(Token::from_mio(t.to_mio()), t);
        assert_ne!(t.to_mio(), WAKER_TOKEN);
        assert_eq!(Source::of(t.to_mio()), Source::Conn(t));
        let dns = Token {
            slot: DNS_SLOT_BASE + 3,
            generation: 1,
        };
        assert_eq!(Source::of(dns.to_mio()), Source::Dns(dns));
        assert_eq!(Source::of(WAKER_TOKEN), Source::Waker);
    }
}
