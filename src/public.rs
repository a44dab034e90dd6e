//! Which IP addresses are public: the check behind `Config::public_only`
//! (`--public-only`).
//!
//! A crawl of URLs that others submit can be sent, by a link, a redirect or
//! a DNS answer, to the crawler's own network: `127.0.0.1`, the cloud
//! metadata service at `169.254.169.254`, a router at `192.168.1.1`, or
//! `0.0.0.0` (which reaches local listeners). With `public_only` the
//! connections table connects only to addresses [`is_public`] accepts, and
//! checks the addresses it actually connects to — after DNS, so a name that
//! answers a private address (DNS rebinding) is refused like a literal one.
//!
//! Not public, after IANA's special-purpose registries (RFC 6890 and its
//! updates): unspecified, "this network", loopback, private (RFC 1918, ULA),
//! shared (CGNAT), link-local, multicast, documentation, benchmarking,
//! reserved and broadcast ranges. An IPv6 address that embeds an IPv4 one
//! (mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::`, 6to4 `2002::`) is judged by
//! the IPv4 address it leads to.

use crate::error::{Error, ErrorKind, Phase};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a public (globally routable unicast) address.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                    // "this network", 0.0.0.0
        || a == 10                              // private
        || a == 127                             // loopback
        || (a == 100 && (64..128).contains(&b)) // shared (CGNAT)
        || (a == 169 && b == 254)               // link-local, cloud metadata
        || (a == 172 && (16..32).contains(&b))  // private
        || (a == 192 && b == 0 && c == 0)       // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)       // documentation
        || (a == 192 && b == 88 && c == 99)     // 6to4 relay anycast (deprecated)
        || (a == 192 && b == 168)               // private
        || (a == 198 && (18..20).contains(&b))  // benchmarking
        || (a == 198 && b == 51 && c == 100)    // documentation
        || (a == 203 && b == 0 && c == 113)     // documentation
        || a >= 224) // multicast, reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    if let Some(v4) = embedded_v4(&ip) {
        return is_public_v4(v4);
    }
    // Global unicast is 2000::/3; everything outside it is special.
    if s[0] & 0xe000 != 0x2000 {
        return false;
    }
    // 2001::/23: IETF protocol assignments (Teredo, ORCHID…);
    // 2001:db8::/32 and 3fff::/20: documentation (RFC 3849, RFC 9637).
    let ietf_or_doc = s[0] == 0x2001 && (s[1] < 0x0200 || s[1] == 0x0db8);
    !(ietf_or_doc || (s[0] == 0x3fff && s[1] < 0x1000))
}

/// The IPv4 address an IPv6 one leads to: mapped, NAT64 (well-known
/// prefix) or 6to4.
fn embedded_v4(ip: &Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let tail = || Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if s[..5] == [0; 5] && s[5] == 0xffff {
        return Some(tail());
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail());
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// The error for a connection refused by `public_only`.
pub(crate) fn not_public(ip: IpAddr) -> Error {
    Error::new(
        Phase::Connect,
        ErrorKind::NotPublic,
        format!("{ip} is not a public address (public_only, --public-only)"),
    )
}

/// Keeps the public addresses of `ips`; when none is left, the error naming
/// the first one refused.
pub(crate) fn keep_public(ips: &mut Vec<IpAddr>) -> Result<(), Error> {
    let first = ips.first().copied();
    ips.retain(|ip| is_public(*ip));
    match (first, ips.is_empty()) {
        (Some(ip), true) => Err(not_public(ip)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn special_purpose_ranges_are_not_public() {
        let table: &[(&str, bool)] = &[
            ("8.8.8.8", true),
            ("1.1.1.1", true),
            ("93.184.215.14", true),
            ("0.0.0.0", false),
            ("0.1.2.3", false),
            ("10.1.2.3", false),
            ("100.64.0.1", false),
            ("100.128.0.1", true),
            ("127.0.0.2", false),
            ("169.254.169.254", false),
            ("172.15.0.1", true),
            ("172.16.0.1", false),
            ("172.31.255.255", false),
            ("172.32.0.1", true),
            ("192.0.0.8", false),
            ("192.0.2.1", false),
            ("192.168.1.1", false),
            ("192.169.0.1", true),
            ("198.18.0.1", false),
            ("198.51.100.7", false),
            ("203.0.113.9", false),
            ("224.0.0.1", false),
            ("240.0.0.1", false),
            ("255.255.255.255", false),
            ("2606:4700::1111", true),
            ("2a00:1450:4001::200e", true),
            ("::", false),
            ("::1", false),
            ("fe80::1", false),
            ("fc00::1", false),
            ("fd12:3456::1", false),
            ("ff02::1", false),
            ("2001:db8::1", false),
            ("2001::1", false),
            ("3fff::1", false),
            ("::ffff:127.0.0.1", false),
            ("::ffff:8.8.8.8", true),
            ("64:ff9b::a9fe:a9fe", false),
            ("64:ff9b::808:808", true),
            ("2002:c0a8:0101::1", false),
            ("2002:0808:0808::1", true),
            ("::127.0.0.1", false),
        ];
        for &(ip, want) in table {
            assert_eq!(is_public(ip.parse().unwrap()), want, "{ip}");
        }
    }

    #[test]
    fn keep_public_drops_the_rest_and_names_the_first_refused() {
        let mut ips: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "8.8.4.4".parse().unwrap()];
        assert!(keep_public(&mut ips).is_ok());
        assert_eq!(ips, ["8.8.4.4".parse::<IpAddr>().unwrap()]);
        let mut ips: Vec<IpAddr> = vec!["0.0.0.0".parse().unwrap(), "::".parse().unwrap()];
        let e = keep_public(&mut ips).unwrap_err();
        assert_eq!((e.phase, e.kind), (Phase::Connect, ErrorKind::NotPublic));
        assert!(
            e.detail.starts_with("0.0.0.0 is not a public address"),
            "{}",
            e.detail
        );
        let mut none = vec![];
        assert!(
            keep_public(&mut none).is_ok(),
            "no address is another error"
        );
    }
}
