//! The resolver's sans-IO core: cache, outstanding queries, coalescing,
//! retries, anti-spoofing checks. No sockets and no clock: the driver feeds
//! it datagrams ([`DnsCore::handle_answer`]) and time
//! ([`DnsCore::handle_timeout`]), and drains what it must do
//! ([`DnsCore::poll_transmit`], [`DnsCore::poll_event`],
//! [`DnsCore::poll_timeout`]).
//!
//! - **Coalescing.** One outstanding query per (name, record type): a lookup
//!   of a name already being asked for just waits on that query.
//! - **Cache.** Answers are cached for their TTL clamped to
//!   `[min_ttl, max_ttl]`; NXDOMAIN is cached too (negative caching, for the
//!   SOA minimum clamped the same way, or `negative_ttl` without one). The
//!   cache ([`DnsCache`](super::cache::DnsCache)) holds one entry per name
//!   (A and AAAA together) for at most `cache_size` names, least recently
//!   used first out.
//! - **Retries.** Each try waits `timeout`; then the next server is asked
//!   (round robin), up to `attempts` rounds over all servers. SERVFAIL and
//!   REFUSED move to the next server at once; a truncated answer is asked
//!   again over TCP on the same server.
//! - **Anti-spoofing.** Every transmission gets a fresh random ID (the driver
//!   also gives it a fresh random source port); an answer counts only if it
//!   comes from the server asked, with the ID, QR bit and question of the
//!   query. Everything else is dropped and counted.
//!
//! ```
//! use oneloop::dns::{DnsConfig, DnsCore, LookupResult};
//! use oneloop::dns::wire::{build_answer, RecordType};
//! use std::time::Instant;
//!
//! let server = "127.0.0.1:5353".parse().unwrap();
//! let mut dns: DnsCore<u32> = DnsCore::new(DnsConfig { nameservers: vec![server], ipv6: false, ..DnsConfig::default() });
//! let now = Instant::now();
//! assert!(matches!(dns.lookup("example.test", 1, now), LookupResult::Pending));
//! assert!(matches!(dns.lookup("EXAMPLE.test.", 2, now), LookupResult::Pending)); // coalesced
//! let t = dns.poll_transmit().unwrap();                    // exactly one query to send
//! assert!(dns.poll_transmit().is_none());
//! let answer = build_answer(&t.message, 0, &["192.0.2.7".parse().unwrap()], 300).unwrap();
//! dns.handle_answer(t.query, server, &answer, now);
//! let (waiter, result) = dns.poll_event().unwrap();
//! assert_eq!((waiter, result.unwrap()[0].to_string()), (1, "192.0.2.7".to_string()));
//! assert_eq!(dns.poll_event().unwrap().0, 2);
//! assert!(matches!(dns.lookup("example.test", 3, now), LookupResult::Ready(Ok(_)))); // cached
//! ```

use super::wire::{check_answer, encode_query, normalize_name, Answer, RecordType, Rejected};
use crate::error::{Error, ErrorKind, Phase};
use slab::Slab;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

/// Resolver settings. `Default` reads nothing: see
/// [`parse_resolv_conf`](super::parse_resolv_conf) for the system's.
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Servers to ask, in order.
    pub nameservers: Vec<SocketAddr>,
    /// How long one try waits for an answer.
    pub timeout: Duration,
    /// Rounds over all servers before giving up.
    pub attempts: u32,
    /// Ask for AAAA records too (addresses are tried IPv4 first).
    pub ipv6: bool,
    /// Cached answers live at least this long.
    pub min_ttl: Duration,
    /// ... and at most this long.
    pub max_ttl: Duration,
    /// NXDOMAIN without an SOA is cached this long (and at most this long).
    pub negative_ttl: Duration,
    /// Names kept in the cache, each with its A and AAAA answers; measured
    /// at 208 bytes a name (a 16-byte name, one IPv4 address, an empty
    /// AAAA answer): 20 MiB when all 100,000 are held.
    pub cache_size: usize,
}

impl Default for DnsConfig {
    fn default() -> DnsConfig {
        DnsConfig {
            nameservers: Vec::new(),
            timeout: Duration::from_secs(2),
            attempts: 2,
            ipv6: true,
            min_ttl: Duration::from_secs(5),
            max_ttl: Duration::from_secs(3600),
            negative_ttl: Duration::from_secs(60),
            cache_size: 100_000,
        }
    }
}

/// Names one outstanding query (slot and generation, so a late datagram for
/// a finished query is recognised as stale).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct QueryKey {
    /// The slab slot.
    pub slot: usize,
    /// The generation of the query in that slot.
    pub generation: u32,
}

/// A message to send. A new transmit for the same query replaces the old
/// one: the driver closes the old socket (late answers to it are moot).
#[derive(Clone, Debug)]
pub struct Transmit {
    /// The query this is for.
    pub query: QueryKey,
    /// The server to send to.
    pub server: SocketAddr,
    /// The DNS message (without the TCP length prefix).
    pub message: Vec<u8>,
    /// Send over TCP (after a truncated UDP answer).
    pub tcp: bool,
}

/// The answer to [`DnsCore::lookup`].
#[derive(Debug)]
pub enum LookupResult {
    /// Known at once (cache, or an invalid name).
    Ready(Result<Vec<IpAddr>, Error>),
    /// The result will come as an event.
    Pending,
}

/// Counters for the summary.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// Lookups asked of the core.
    pub lookups: u64,
    /// Queries sent (each retransmission counts).
    pub queries_sent: u64,
    /// Answers accepted.
    pub answers_accepted: u64,
    /// Datagrams dropped: wrong source, ID, QR bit or question.
    pub answers_dropped: u64,
    /// Datagrams that matched by ID but could not be read.
    pub answers_malformed: u64,
    /// Lookups answered from the cache.
    pub cache_hits: u64,
    /// Lookups that waited on a query already in flight.
    pub coalesced: u64,
    /// Queries retried over TCP after a truncated answer.
    pub tcp_fallbacks: u64,
    /// Tries that timed out.
    pub timeouts: u64,
}

impl DnsStats {
    /// The counts since an earlier snapshot.
    pub fn since(&self, e: &DnsStats) -> DnsStats {
        DnsStats {
            lookups: self.lookups - e.lookups,
            queries_sent: self.queries_sent - e.queries_sent,
            answers_accepted: self.answers_accepted - e.answers_accepted,
            answers_dropped: self.answers_dropped - e.answers_dropped,
            answers_malformed: self.answers_malformed - e.answers_malformed,
            cache_hits: self.cache_hits - e.cache_hits,
            coalesced: self.coalesced - e.coalesced,
            tcp_fallbacks: self.tcp_fallbacks - e.tcp_fallbacks,
            timeouts: self.timeouts - e.timeouts,
        }
    }
}

type Part = Result<Vec<IpAddr>, Error>;

struct Query {
    generation: u32,
    /// The name the lookups asked for (the cache's and coalescing's key).
    asked: String,
    /// The name asked on the wire: `asked`, or the target of its CNAME.
    name: String,
    /// CNAME links followed so far (bounded), and their smallest TTL.
    chased: u8,
    alias_ttl: u32,
    rtype: RecordType,
    id: u16,
    /// Tries made so far (the current one included).
    tries: u32,
    server: SocketAddr,
    tcp: bool,
    deadline: Instant,
    lookups: Vec<usize>,
    /// Why the last try failed, for the final error.
    last_failure: Option<(ErrorKind, String)>,
}

struct Lookup<W> {
    waiter: W,
    /// Results per record type: [A, AAAA]; `None` while pending.
    parts: [Option<Part>; 2],
}

/// The resolver core: cache, coalescing, retries and answer checks, with no
/// sockets and no clock (see the [`dns`](crate::dns) module).
pub struct DnsCore<W> {
    config: DnsConfig,
    cache: super::cache::DnsCache,
    queries: Slab<Query>,
    by_question: HashMap<(String, RecordType), usize>,
    lookups: Slab<Lookup<W>>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<(W, Part)>,
    deadlines: BinaryHeap<Reverse<(Instant, usize, u32)>>,
    generation: u32,
    random: Box<dyn FnMut() -> u16 + Send>,
    stats: DnsStats,
    buf: Vec<u8>,
}

/// CNAME links a lookup follows by asking again (RFC 1034 §5.3.3 asks for
/// a bound; glibc's is 16 in one answer; a chain over queries is rarer).
const MAX_CHASE: u8 = 8;

fn dns_error(kind: ErrorKind, detail: impl Into<String>) -> Error {
    Error::new(Phase::Dns, kind, detail)
}

/// Random 16-bit values from the system's secure generator (the one the
/// rustls ring provider uses).
pub fn secure_random_u16() -> impl FnMut() -> u16 + Send {
    use ring::rand::SecureRandom;
    let rng = ring::rand::SystemRandom::new();
    let mut pool = [0u8; 64];
    let mut used = pool.len();
    move || {
        if used + 2 > pool.len() {
            if rng.fill(&mut pool).is_err() {
                // No secure randomness: fall back to the clock's low bits
                // rather than fail every lookup; this is logged once per refill.
                log::error!("secure random source failed; DNS IDs are weaker");
                let n = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0);
                for (i, b) in pool.iter_mut().enumerate() {
                    *b = (n >> (i % 4 * 8)) as u8 ^ i as u8;
                }
            }
            used = 0;
        }
        let v = u16::from_be_bytes([pool[used], pool[used + 1]]);
        used += 2;
        v
    }
}

impl<W: Clone> DnsCore<W> {
    /// A core with secure random IDs.
    pub fn new(config: DnsConfig) -> DnsCore<W> {
        DnsCore::with_random(config, Box::new(secure_random_u16()))
    }

    /// A core with the given ID source (tests use a fixed sequence).
    pub fn with_random(
        mut config: DnsConfig,
        random: Box<dyn FnMut() -> u16 + Send>,
    ) -> DnsCore<W> {
        config.attempts = config.attempts.max(1);
        config.cache_size = config.cache_size.max(1);
        DnsCore {
            cache: super::cache::DnsCache::new(config.cache_size),
            config,
            queries: Slab::new(),
            by_question: HashMap::new(),
            lookups: Slab::new(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            deadlines: BinaryHeap::new(),
            generation: 0,
            random,
            stats: DnsStats::default(),
            buf: Vec::with_capacity(512),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> DnsStats {
        self.stats
    }

    /// Queries in flight.
    pub fn in_flight(&self) -> usize {
        self.queries.len()
    }

    /// Resolves `name` for `waiter`.
    pub fn lookup(&mut self, name: &str, waiter: W, now: Instant) -> LookupResult {
        self.stats.lookups += 1;
        let name = match normalize_name(name) {
            Ok(n) => n,
            Err(e) => return LookupResult::Ready(Err(dns_error(ErrorKind::InvalidName, e.0))),
        };
        if self.config.nameservers.is_empty() {
            return LookupResult::Ready(Err(dns_error(
                ErrorKind::NxDomain,
                format!("{name}: no nameserver configured"),
            )));
        }
        let types: &[RecordType] = if self.config.ipv6 {
            &[RecordType::A, RecordType::Aaaa]
        } else {
            &[RecordType::A]
        };
        let mut parts: [Option<Part>; 2] = [None, None];
        if !self.config.ipv6 {
            parts[1] = Some(Ok(Vec::new()));
        }
        for &t in types {
            parts[t as usize] = self.cached(&name, t, now);
        }
        if parts.iter().all(Option::is_some) {
            self.stats.cache_hits += 1;
            return LookupResult::Ready(combine(&name, parts));
        }
        let lookup = self.lookups.insert(Lookup { waiter, parts });
        for &t in types {
            if self.lookups[lookup].parts[t as usize].is_some() {
                continue;
            }
            match self.by_question.get(&(name.clone(), t)) {
                Some(&q) => {
                    self.stats.coalesced += 1;
                    self.queries[q].lookups.push(lookup);
                }
                None => {
                    let q = self.start_query(name.clone(), t, now);
                    self.queries[q].lookups.push(lookup);
                }
            }
        }
        LookupResult::Pending
    }

    fn cached(&mut self, name: &str, t: RecordType, now: Instant) -> Option<Part> {
        Some(match self.cache.get(name, t, now)? {
            Ok(v) => Ok(v.into_vec()),
            Err(()) => Err(dns_error(
                ErrorKind::NxDomain,
                format!("{name}: no such name (cached)"),
            )),
        })
    }

    fn start_query(&mut self, name: String, rtype: RecordType, now: Instant) -> usize {
        self.generation = self.generation.wrapping_add(1);
        let server = self.config.nameservers[0];
        let slot = self.queries.insert(Query {
            generation: self.generation,
            asked: name.clone(),
            name: name.clone(),
            chased: 0,
            alias_ttl: u32::MAX,
            rtype,
            id: 0,
            tries: 0,
            server,
            tcp: false,
            deadline: now,
            lookups: Vec::new(),
            last_failure: None,
        });
        self.by_question.insert((name, rtype), slot);
        self.send_try(slot, server, false, now);
        slot
    }

    /// Sends (again) with a fresh ID.
    fn send_try(&mut self, slot: usize, server: SocketAddr, tcp: bool, now: Instant) {
        let id = (self.random)();
        let q = &mut self.queries[slot];
        q.id = id;
        q.tries += 1;
        q.server = server;
        q.tcp = tcp;
        q.deadline = now + self.config.timeout;
        encode_query(&mut self.buf, id, &q.name, q.rtype);
        self.transmits.push_back(Transmit {
            query: QueryKey {
                slot,
                generation: q.generation,
            },
            server,
            message: self.buf.clone(),
            tcp,
        });
        self.deadlines
            .push(Reverse((q.deadline, slot, q.generation)));
        self.stats.queries_sent += 1;
    }

    /// Gives up on the current server: the next one, or the final error.
    fn next_server(&mut self, slot: usize, kind: ErrorKind, detail: String, now: Instant) {
        let n = self.config.nameservers.len() as u32;
        let q = &mut self.queries[slot];
        q.last_failure = Some((kind, detail));
        if q.tries >= n * self.config.attempts {
            let (kind, detail) = q
                .last_failure
                .take()
                .unwrap_or((ErrorKind::Timeout, String::new()));
            let tries = q.tries;
            let name = q.name.clone();
            let e = dns_error(kind, format!("{name}: {detail} (after {tries} tries)"));
            self.complete(slot, Err(e));
            return;
        }
        let server = self.config.nameservers[(q.tries % n) as usize];
        self.send_try(slot, server, false, now);
    }

    /// A message arrived for `query` from `from` (over UDP, or TCP if the
    /// query is on TCP). Forged, stale and unreadable messages are dropped
    /// and counted; the query keeps waiting for the real answer.
    pub fn handle_answer(&mut self, query: QueryKey, from: SocketAddr, msg: &[u8], now: Instant) {
        let Some(q) = self.queries.get(query.slot) else {
            self.stats.answers_dropped += 1;
            return;
        };
        if q.generation != query.generation || from != q.server {
            self.stats.answers_dropped += 1;
            return;
        }
        match check_answer(msg, q.id, &q.name, q.rtype) {
            Err(Rejected::Mismatch(why)) => {
                log::debug!("dns: dropped a datagram for {} from {from}: {why}", q.name);
                self.stats.answers_dropped += 1;
            }
            Err(Rejected::Malformed(why)) => {
                self.stats.answers_malformed += 1;
                let detail = format!("malformed answer: {why}");
                if q.tcp {
                    // A TCP stream is not forgeable the way UDP is: believe it
                    // was the server's answer, and move on.
                    self.next_server(query.slot, ErrorKind::Malformed, detail, now);
                } else {
                    self.queries[query.slot].last_failure = Some((ErrorKind::Malformed, detail));
                }
            }
            Ok(Answer::Truncated) => {
                if q.tcp {
                    self.next_server(
                        query.slot,
                        ErrorKind::Malformed,
                        "truncated over TCP".into(),
                        now,
                    );
                } else {
                    self.stats.tcp_fallbacks += 1;
                    let server = q.server;
                    self.send_try(query.slot, server, true, now);
                }
            }
            Ok(Answer::ServerFailure(why)) => {
                self.stats.answers_accepted += 1;
                self.next_server(
                    query.slot,
                    ErrorKind::ServerFailure,
                    format!("{from}: {why}"),
                    now,
                );
            }
            Ok(Answer::Alias(target, ttl)) => {
                self.stats.answers_accepted += 1;
                self.chase(query.slot, target, ttl, now);
            }
            Ok(Answer::NxDomain(ttl)) => {
                self.stats.answers_accepted += 1;
                let ttl = self.negative_ttl(ttl.min(q.alias_ttl));
                let name = q.name.clone();
                self.store(q.asked.clone(), q.rtype, Err(()), now + ttl);
                self.complete(
                    query.slot,
                    Err(dns_error(
                        ErrorKind::NxDomain,
                        format!("{name}: no such name"),
                    )),
                );
            }
            Ok(Answer::Addresses(addrs, ttl)) => {
                self.stats.answers_accepted += 1;
                let ttl = ttl.min(q.alias_ttl);
                let ttl = if addrs.is_empty() {
                    // "No records of this type" is a negative answer too.
                    self.negative_ttl(ttl)
                } else {
                    Duration::from_secs(ttl.into()).clamp(self.config.min_ttl, self.config.max_ttl)
                };
                let q = &self.queries[query.slot];
                self.store(q.asked.clone(), q.rtype, Ok(addrs.clone()), now + ttl);
                self.complete(query.slot, Ok(addrs));
            }
        }
    }

    /// The answer was a CNAME to `target` without the target's records:
    /// the query goes on for the target (at most [`MAX_CHASE`] links; a loop
    /// or a longer chain is an error).
    fn chase(&mut self, slot: usize, target: String, ttl: u32, now: Instant) {
        let q = &mut self.queries[slot];
        if q.chased >= MAX_CHASE || target == q.asked || target == q.name {
            let e = dns_error(
                ErrorKind::NoAddresses,
                format!("{}: CNAME chain too long or looping (at {target})", q.asked),
            );
            return self.complete(slot, Err(e));
        }
        log::debug!("dns: {} is an alias of {target}: asking for it", q.asked);
        q.chased += 1;
        q.alias_ttl = q.alias_ttl.min(ttl);
        q.name = target;
        q.tries = 0;
        q.last_failure = None;
        let server = self.config.nameservers[0];
        self.send_try(slot, server, false, now);
    }

    /// How long to cache a negative answer: the SOA minimum clamped to
    /// `[min_ttl, negative_ttl]`, or `negative_ttl` without an SOA.
    fn negative_ttl(&self, soa_ttl: u32) -> Duration {
        if soa_ttl == 0 {
            return self.config.negative_ttl;
        }
        Duration::from_secs(soa_ttl.into()).clamp(
            self.config.min_ttl,
            self.config.negative_ttl.max(self.config.min_ttl),
        )
    }

    /// The TCP connection for `query` failed (refused, reset, closed early).
    pub fn handle_tcp_failure(&mut self, query: QueryKey, detail: &str, now: Instant) {
        match self.queries.get(query.slot) {
            Some(q) if q.generation == query.generation && q.tcp => self.next_server(
                query.slot,
                ErrorKind::ServerFailure,
                format!("TCP: {detail}"),
                now,
            ),
            _ => {}
        }
    }

    /// Time passed: tries whose wait is over move to the next server.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&Reverse((at, slot, generation))) = self.deadlines.peek() {
            if at > now {
                break;
            }
            self.deadlines.pop();
            match self.queries.get(slot) {
                Some(q) if q.generation == generation && q.deadline == at => {
                    self.stats.timeouts += 1;
                    let (kind, detail) = match &q.last_failure {
                        // A forged or broken datagram came, then nothing real.
                        Some((ErrorKind::Malformed, d)) => (ErrorKind::Malformed, d.clone()),
                        _ => (
                            ErrorKind::Timeout,
                            format!("no answer from {} in {:?}", q.server, self.config.timeout),
                        ),
                    };
                    self.next_server(slot, kind, detail, now);
                }
                _ => {} // answered, retried, or gone: a stale deadline
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) must next be called.
    #[must_use]
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        // Drop stale deadlines from the top so the answer is exact.
        while let Some(&Reverse((at, slot, generation))) = self.deadlines.peek() {
            match self.queries.get(slot) {
                Some(q) if q.generation == generation && q.deadline == at => return Some(at),
                _ => {
                    self.deadlines.pop();
                }
            }
        }
        None
    }

    /// The next message to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next finished lookup: (waiter, addresses or error).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<(W, Result<Vec<IpAddr>, Error>)> {
        self.events.pop_front()
    }

    /// Is this query still waiting (for the driver's socket bookkeeping)?
    pub fn is_live(&self, query: QueryKey) -> bool {
        self.queries
            .get(query.slot)
            .is_some_and(|q| q.generation == query.generation)
    }

    fn store(
        &mut self,
        name: String,
        t: RecordType,
        value: Result<Vec<IpAddr>, ()>,
        expires: Instant,
    ) {
        let value = value.map(Vec::into_boxed_slice);
        self.cache.insert(&name, t, value, expires);
    }

    fn complete(&mut self, slot: usize, part: Part) {
        let q = self.queries.remove(slot);
        self.by_question.remove(&(q.asked.clone(), q.rtype));
        for l in q.lookups {
            let lookup = &mut self.lookups[l];
            lookup.parts[q.rtype as usize] = Some(part.clone());
            if lookup.parts.iter().all(Option::is_some) {
                let lookup = self.lookups.remove(l);
                self.events
                    .push_back((lookup.waiter, combine(&q.asked, lookup.parts)));
            }
        }
    }
}

/// A and AAAA results into one address list, IPv4 first.
fn combine(name: &str, parts: [Option<Part>; 2]) -> Part {
    let [a, aaaa] = parts;
    let a = a.unwrap_or(Ok(Vec::new()));
    let aaaa = aaaa.unwrap_or(Ok(Vec::new()));
    match (a, aaaa) {
        (Ok(mut v4), Ok(v6)) => {
            v4.extend(v6);
            if v4.is_empty() {
                Err(dns_error(
                    ErrorKind::NoAddresses,
                    format!("{name}: no A or AAAA records"),
                ))
            } else {
                Ok(v4)
            }
        }
        (Ok(v), Err(e)) | (Err(e), Ok(v)) => {
            if v.is_empty() {
                Err(e)
            } else {
                Ok(v)
            }
        }
        (Err(e), Err(_)) => Err(e),
    }
}

#[cfg(test)]
mod tests;
