//! Name resolution without blocking the loop.
//!
//! Sources, in order: the crawler's `resolve` overrides (like curl's
//! `--resolve`), IP literals, `/etc/hosts`, then `localhost`; none of them
//! touch the network ([`Resolver`]). Other names go to DNS over UDP on the
//! crawler's own loop: a sans-IO core ([`DnsCore`]: cache, coalescing,
//! retries, anti-spoofing) driven by [`DnsDriver`] (mio sockets), with
//! messages encoded and checked in [`wire`].

pub mod cache;
mod core;
mod driver;
mod hosts;
mod resolv_conf;
// The resolver's plumbing, public only for the tests and benchmarks.
#[doc(hidden)]
pub mod wire;

pub use self::core::{
    secure_random_u16, DnsConfig, DnsCore, DnsStats, LookupResult, QueryKey, Transmit,
};
pub use driver::{DnsDriver, DNS_SLOT_BASE};
pub use hosts::{parse_hosts, HostsFile};
pub use resolv_conf::{parse_resolv_conf, ResolvConf};

use crate::error::{Error, ErrorKind, Phase};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The resolver used by the crawler. Lookups are synchronous table lookups and
/// never block.
#[derive(Clone, Debug, Default)]
pub struct Resolver {
    overrides: HashMap<String, Vec<IpAddr>>,
    hosts: HostsFile,
}

impl Resolver {
    /// A resolver over `/etc/hosts` (if readable) and the given overrides.
    pub fn new(overrides: &[(String, IpAddr)]) -> Resolver {
        let hosts = std::fs::read_to_string("/etc/hosts")
            .map(|text| parse_hosts(&text))
            .unwrap_or_default();
        Resolver::with_hosts(overrides, hosts)
    }

    /// A resolver over an explicit hosts table.
    pub fn with_hosts(overrides: &[(String, IpAddr)], hosts: HostsFile) -> Resolver {
        let mut map: HashMap<String, Vec<IpAddr>> = HashMap::new();
        for (name, ip) in overrides {
            map.entry(name.to_ascii_lowercase()).or_default().push(*ip);
        }
        Resolver {
            overrides: map,
            hosts,
        }
    }

    /// Addresses for `host` from the static sources only; false if none knows
    /// it (then DNS over UDP is the next step).
    pub fn lookup_static(&self, host: &str, out: &mut Vec<IpAddr>) -> bool {
        self.lookup(host, out).is_ok()
    }

    /// Addresses for `host` (a URL's host without IPv6 brackets), in the order
    /// to try them. Appends to `out` so the caller can reuse its buffer.
    pub fn lookup(&self, host: &str, out: &mut Vec<IpAddr>) -> Result<(), Error> {
        let lower;
        let host = if host.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = host.to_ascii_lowercase();
            &lower
        } else {
            host
        };
        if let Some(ips) = self.overrides.get(host) {
            out.extend_from_slice(ips);
            return Ok(());
        }
        if let Ok(ip) = host.parse::<IpAddr>() {
            out.push(ip);
            return Ok(());
        }
        let trimmed = host.strip_suffix('.').unwrap_or(host);
        if let Some(ips) = self.hosts.get(trimmed) {
            out.extend_from_slice(ips);
            return Ok(());
        }
        if trimmed == "localhost" || trimmed.ends_with(".localhost") {
            out.push(IpAddr::V4(Ipv4Addr::LOCALHOST));
            out.push(IpAddr::V6(Ipv6Addr::LOCALHOST));
            return Ok(());
        }
        Err(Error::new(
            Phase::Dns,
            ErrorKind::NxDomain,
            format!("{host}: not an IP literal, not localhost, not in /etc/hosts or --resolve"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_in_order() {
        let hosts = parse_hosts("10.0.0.1 web web.lan\n::1 localhost\n");
        let r = Resolver::with_hosts(&[("Web".into(), "192.0.2.7".parse().unwrap())], hosts);
        let mut out = Vec::new();
        r.lookup("WEB", &mut out).unwrap();
        assert_eq!(out, vec!["192.0.2.7".parse::<IpAddr>().unwrap()]);
        out.clear();
        r.lookup("web.lan.", &mut out).unwrap();
        assert_eq!(out, vec!["10.0.0.1".parse::<IpAddr>().unwrap()]);
        out.clear();
        r.lookup("::1", &mut out).unwrap();
        assert_eq!(out, vec![IpAddr::V6(Ipv6Addr::LOCALHOST)]);
        out.clear();
        r.lookup("localhost", &mut out).unwrap();
        assert_eq!(
            out,
            vec![IpAddr::V6(Ipv6Addr::LOCALHOST)],
            "hosts file wins"
        );
        out.clear();
        let e = r.lookup("nowhere.test", &mut out).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Dns, ErrorKind::NxDomain));
    }
}
