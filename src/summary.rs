//! What a crawl did, in numbers: the [`Summary`] returned by
//! [`Crawler::run`](crate::Crawler::run), and the fixed-size latency
//! [`Histogram`] behind its percentiles.

use crate::outcome::Outcome;
use crate::pool::PoolStats;
use crate::reactor::LoopStats;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

const SUB_BUCKETS: usize = 16;
const BUCKETS: usize = 64 * SUB_BUCKETS;

/// A log-linear histogram of microseconds: 16 sub-buckets per power of two,
/// so any value is reported within 1/16 (6%) of itself. Fixed size (8 KiB),
/// whatever the number of samples: memory does not grow with the crawl.
#[derive(Clone)]
pub struct Histogram {
    counts: Box<[u64; BUCKETS]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram {
            counts: Box::new([0; BUCKETS]),
            total: 0,
            max: 0,
        }
    }
}

impl fmt::Debug for Histogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Histogram")
            .field("count", &self.total)
            .field("p50", &self.percentile(50.0))
            .field("max", &self.max())
            .finish()
    }
}

fn bucket_of(v: u64) -> usize {
    if v < SUB_BUCKETS as u64 {
        return v as usize;
    }
    let exp = 63 - v.leading_zeros() as usize; // >= 4
    let sub = ((v >> (exp - 4)) & (SUB_BUCKETS as u64 - 1)) as usize;
    (exp - 3) * SUB_BUCKETS + sub
}

fn bucket_high(b: usize) -> u64 {
    if b < SUB_BUCKETS {
        return b as u64;
    }
    let exp = b / SUB_BUCKETS + 3;
    let sub = (b % SUB_BUCKETS) as u64;
    let low = (1u64 << exp) | (sub << (exp - 4));
    low + (1u64 << (exp - 4)) - 1
}

impl Histogram {
    /// Adds one sample.
    pub fn record(&mut self, d: Duration) {
        let us = d.as_micros().min(u64::MAX as u128) as u64;
        self.counts[bucket_of(us)] += 1;
        self.total += 1;
        self.max = self.max.max(us);
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        Duration::from_micros(self.max)
    }

    /// The `p`th percentile (0–100), as the upper edge of its bucket.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Duration::from_micros(bucket_high(b).min(self.max));
            }
        }
        self.max()
    }
}

/// The numbers of one crawl.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    /// Outcomes delivered (one per input item).
    pub outcomes: u64,
    /// Outcomes carrying a response.
    pub responses: u64,
    /// Responses by status class: index 1 = 1xx … 5 = 5xx, 0 = anything else.
    pub status_classes: [u64; 6],
    /// Errors by (phase, kind).
    pub errors: BTreeMap<(&'static str, &'static str), u64>,
    /// Wall-clock time of the run.
    pub elapsed: Duration,
    /// Body bytes received (after content decoding).
    pub body_bytes: u64,
    /// The same bodies as they came on the wire (before content decoding).
    pub wire_bytes: u64,
    /// Latency from start (admission) to the end of the response, for responses.
    pub latency: Histogram,
    /// Requests sent on a reused connection.
    pub reused_requests: u64,
    /// Retried attempts over all outcomes (backoff retries and the free retry
    /// on a fresh connection; redirect hops are not retries).
    pub retries: u64,
    /// Retries by cause (`status 503`, `connect:refused`...).
    pub retries_by_cause: BTreeMap<String, u64>,
    /// Redirects followed.
    pub redirects: u64,
    /// Redirects not followed: their target was outside the crawl's scope
    /// ([`Request::redirect_scope`](crate::Request::redirect_scope)).
    pub redirects_out_of_scope: u64,
    /// Admission counters: `Retry-After` pauses, throttles, paced waits.
    pub admission: crate::admission::AdmissionStats,
    /// Origins whose adaptive limit ended below `per_host`, with that limit.
    pub lowered_limits: Vec<(String, usize)>,
    /// Full TLS handshakes.
    pub tls_full: u64,
    /// Resumed (abbreviated) TLS handshakes.
    pub tls_resumed: u64,
    /// TLS handshake durations (TCP connected to handshake done).
    pub tls_handshake: Histogram,
    /// DNS counters for this run.
    pub dns: crate::dns::DnsStats,
    /// Connection pool counters (connections opened, reused, evicted...).
    pub pool: PoolStats,
    /// Responses that came over HTTP/2 (the rest over HTTP/1.x).
    pub h2_responses: u64,
    /// Connections whose server chose HTTP/2 (of `pool.opened`).
    pub h2_connections: u64,
    /// The event loop's counters.
    pub loop_stats: LoopStats,
    /// The most requests in flight at once.
    pub max_in_flight: usize,
    /// True if the crawl was stopped early through a [`Handle`](crate::Handle).
    pub stopped: bool,
    /// Times a request waited for its origin's connect ramp (as many new
    /// connections still connecting as allowed).
    pub connect_waits: u64,
    /// Requests that took an idle connection of their origin while the
    /// fresh one opened for them was still connecting (a dropped SYN, a
    /// slow DNS answer); that one was closed.
    pub requests_moved: u64,
    /// Times a request had to wait for a file descriptor (the process hit
    /// its open-file limit) until another connection closed.
    pub descriptor_waits: u64,
    /// The worker pool's queue, when the crawl ran with workers.
    pub workers: Option<crate::workers::QueueStats>,
    /// robots.txt files fetched (one per origin).
    pub robots_fetches: u64,
    /// Their answers by status class (index 2 = 2xx ... 5 = 5xx), index 0
    /// for fetches that ended in an error.
    pub robots_statuses: [u64; 6],
    /// Requests refused by robots.txt (disallowed or unavailable), never sent.
    pub robots_denied: u64,
    /// What the robots.txt cache holds (origins, bytes, evictions).
    pub robots_cache: crate::robots::gate::GateStats,
}

impl Summary {
    /// Outcomes per second of wall-clock time.
    pub fn throughput(&self) -> f64 {
        let s = self.elapsed.as_secs_f64();
        if s > 0.0 {
            self.outcomes as f64 / s
        } else {
            0.0
        }
    }

    /// Outcomes that carried an error.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Accounts for one outcome.
    pub fn record(&mut self, outcome: &Outcome) {
        self.outcomes += 1;
        if outcome.reused {
            self.reused_requests += 1;
        }
        // Retries by cause, from the outcomes themselves: one total, the
        // users' requests only (a robots.txt fetch's retries are its own).
        self.retries += outcome.retries.len() as u64;
        for cause in &outcome.retries {
            *self.retries_by_cause.entry(cause.to_string()).or_insert(0) += 1;
        }
        match &outcome.result {
            Ok(resp) => {
                self.responses += 1;
                if resp.version == 2 {
                    self.h2_responses += 1;
                }
                let class = (resp.status / 100) as usize;
                self.status_classes[if (1..=5).contains(&class) { class } else { 0 }] += 1;
                self.body_bytes += resp.body_len;
                self.wire_bytes += resp.wire_len;
                self.latency.record(outcome.timings.total);
            }
            Err(e) => {
                *self
                    .errors
                    .entry((e.phase.as_str(), e.kind.as_str()))
                    .or_insert(0) += 1;
            }
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_results(f)?;
        self.fmt_machinery(f)?;
        self.fmt_politeness(f)
    }
}

impl Summary {
    /// Outcomes, responses, errors, latency, connections.
    fn fmt_results(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} outcome{} in {:.2}s: {:.0}/s{}",
            self.outcomes,
            if self.outcomes == 1 { "" } else { "s" },
            self.elapsed.as_secs_f64(),
            self.throughput(),
            if self.stopped { " (stopped early)" } else { "" }
        )?;
        let c = &self.status_classes;
        writeln!(
            f,
            "responses: {} (1xx {}, 2xx {}, 3xx {}, 4xx {}, 5xx {}, other {}), {} body bytes{}",
            self.responses,
            c[1],
            c[2],
            c[3],
            c[4],
            c[5],
            c[0],
            self.body_bytes,
            if self.wire_bytes != self.body_bytes {
                format!(" ({} on the wire, compressed)", self.wire_bytes)
            } else {
                String::new()
            }
        )?;
        write!(f, "errors: {}", self.error_count())?;
        for ((phase, kind), n) in &self.errors {
            write!(f, ", {phase}:{kind} {n}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "latency: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(self.latency.percentile(50.0)),
            ms(self.latency.percentile(90.0)),
            ms(self.latency.percentile(99.0)),
            ms(self.latency.max())
        )?;
        writeln!(
            f,
            "connections: {} opened, {} requests on reused connections, {} evicted, {} idle-expired, {} closed by server, {} retries; max in flight {}",
            self.pool.opened,
            self.reused_requests,
            self.pool.evicted,
            self.pool.expired,
            self.pool.closed_by_peer,
            self.retries,
            self.max_in_flight
        )?;
        if self.h2_connections > 0 || self.h2_responses > 0 {
            writeln!(
                f,
                "protocols: h2 {} responses / {} connections; http/1.1 {} responses / {} connections",
                self.h2_responses,
                self.h2_connections,
                self.responses - self.h2_responses,
                self.pool.opened.saturating_sub(self.h2_connections),
            )?;
        }
        Ok(())
    }

    /// robots.txt, workers, descriptors, DNS, TLS (the lines that apply).
    fn fmt_machinery(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.robots_fetches > 0 {
            let r = &self.robots_statuses;
            writeln!(
                f,
                "robots.txt: {} fetched (2xx {}, 3xx {}, 4xx {}, 5xx {}, errors {}), {} URLs refused; cache {} origins, {} KiB (peak {} KiB), {} evicted, {} expired",
                self.robots_fetches, r[2], r[3], r[4], r[5], r[0], self.robots_denied,
                self.robots_cache.origins,
                self.robots_cache.bytes / 1024,
                self.robots_cache.peak_bytes / 1024,
                self.robots_cache.evicted,
                self.robots_cache.expired
            )?;
        }
        if let Some(w) = &self.workers {
            writeln!(
                f,
                "workers: {} threads, queue {}, at most {} outcomes out of the loop at once (queued, in work, or coming back), admission held {:.3}s for room, {} panics",
                w.threads,
                w.capacity,
                w.high_water,
                w.held.as_secs_f64(),
                w.panics
            )?;
        }
        if self.connect_waits > 0 || self.requests_moved > 0 {
            writeln!(
                f,
                "connect ramp: {} waits for a connection to finish connecting (at most --max-connecting per host at once), {} requests took an idle connection instead of their own still connecting",
                self.connect_waits, self.requests_moved
            )?;
        }
        if self.descriptor_waits > 0 {
            writeln!(
                f,
                "file descriptors: {} waits for a descriptor (the open-file limit was reached; requests waited instead of failing)",
                self.descriptor_waits
            )?;
        }
        let d = &self.dns;
        if d.lookups > 0 {
            writeln!(
                f,
                "dns: {} lookups, {} queries sent, {} answers accepted, {} dropped (forged or stray), {} malformed, {} cache hits, {} coalesced, {} TCP fallbacks, {} timeouts",
                d.lookups, d.queries_sent, d.answers_accepted, d.answers_dropped, d.answers_malformed, d.cache_hits, d.coalesced, d.tcp_fallbacks, d.timeouts
            )?;
        }
        if self.tls_full + self.tls_resumed > 0 {
            writeln!(
                f,
                "tls: {} full handshakes, {} resumed; handshake p50 {:.2} ms, p99 {:.2} ms",
                self.tls_full,
                self.tls_resumed,
                ms(self.tls_handshake.percentile(50.0)),
                ms(self.tls_handshake.percentile(99.0))
            )?;
        }
        Ok(())
    }

    /// Redirects, retries, pauses, pacing; the loop and its stalls.
    fn fmt_politeness(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "politeness: {} redirects followed, {} retries",
            self.redirects, self.retries
        )?;
        if self.redirects_out_of_scope > 0 {
            let n = self.redirects_out_of_scope;
            write!(f, " ({n} redirects out of scope not followed)")?;
        }
        for (cause, n) in &self.retries_by_cause {
            write!(f, " [{cause}: {n}]")?;
        }
        write!(
            f,
            ", {} hosts paused (Retry-After), {} throttled (429), {} paced waits ({:.1}s in all)",
            self.admission.pauses,
            self.admission.throttles,
            self.admission.paced_waits,
            self.admission.paced_time.as_secs_f64()
        )?;
        if !self.lowered_limits.is_empty() {
            write!(f, "; per-host limits now")?;
            for (host, limit) in self.lowered_limits.iter().take(10) {
                write!(f, " {host}={limit}")?;
            }
        }
        writeln!(f)?;
        write!(f, "loop: {}", self.loop_stats)?;
        for stall in &self.loop_stats.stall_log {
            write!(
                f,
                "\n  stall {:.1} ms in the callback for {}",
                ms(stall.duration),
                stall.url
            )?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..100_000u64).chain([1 << 40, u64::MAX / 2]) {
            let b = bucket_of(v);
            assert!(b >= last || v >= 1 << 40);
            last = b;
            let hi = bucket_high(b);
            assert!(hi >= v, "{v} -> bucket {b} high {hi}");
            assert!(hi - v <= v / 16 + 1, "{v} -> {hi}");
        }
    }

    #[test]
    fn percentiles() {
        let mut h = Histogram::default();
        for i in 1..=1000u64 {
            h.record(Duration::from_micros(i * 10));
        }
        let p50 = h.percentile(50.0).as_micros() as f64;
        let p99 = h.percentile(99.0).as_micros() as f64;
        assert!((p50 - 5000.0).abs() / 5000.0 < 0.07, "{p50}");
        assert!((p99 - 9900.0).abs() / 9900.0 < 0.07, "{p99}");
        assert_eq!(h.max(), Duration::from_micros(10_000));
        assert_eq!(h.count(), 1000);
        assert_eq!(Histogram::default().percentile(50.0), Duration::ZERO);
    }
}
