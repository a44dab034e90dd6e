//! Proxies (HTTP and SOCKS5): which one a URL goes through, and what is
//! said to it.
//!
//! - `http://` URLs go to the proxy in absolute form (`GET http://host/path`),
//!   with `Proxy-Authorization: Basic …` when the proxy URL has credentials;
//! - `https://` URLs go through a `CONNECT host:port` tunnel (the connection
//!   state `Tunneling`), then TLS with the origin inside it, end to end;
//! - through a SOCKS5 proxy every URL goes through its handshake (RFC 1928,
//!   user/password per RFC 1929, also in `Tunneling`), naming the origin's
//!   address (`socks5://`) or its name (`socks5h://`).
//!
//! `NO_PROXY`-style exceptions, read as Go reads them
//! ([`no_proxy_matches`]): names with their subdomains, IP addresses, CIDR
//! ranges, each with an optional port, or `*` for every host. Credentials are kept encoded and never shown: the proxy's
//! `Debug` and [`Proxy::display`] leave them out, and so do connection keys,
//! events and errors.

use crate::error::{Error, ErrorKind, Phase};

/// What a proxy speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProxyKind {
    /// `http://`: absolute-form requests, `CONNECT` tunnels for https.
    Http,
    /// `socks5://` (RFC 1928): the origin's name is resolved here and the
    /// proxy is asked for its address.
    Socks5,
    /// `socks5h://`: the proxy is given the name and resolves it.
    Socks5h,
}

/// One proxy.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    /// What it speaks.
    pub kind: ProxyKind,
    /// The proxy's host (a name or an IP address; an IP for `socks5://`).
    pub host: String,
    /// Its port (default 80 for http, 1080 for SOCKS).
    pub port: u16,
    /// The user name and password (`%`-decoded), if the URL had them.
    creds: Option<(Vec<u8>, Vec<u8>)>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Proxy({})", self.display())
    }
}

/// Which proxy each scheme uses, and the hosts that go direct.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProxyConfig {
    /// For `http://` URLs.
    pub http: Option<Proxy>,
    /// For `https://` URLs.
    pub https: Option<Proxy>,
    /// Hosts that never use a proxy (see the module docs).
    pub no_proxy: Vec<String>,
}

fn bad(detail: String) -> Error {
    Error::new(Phase::Proxy, ErrorKind::InvalidUrl, detail)
}

impl Proxy {
    /// Parses `http://`, `socks5://` or `socks5h://` then
    /// `[user:password@]host[:port][/]`.
    pub fn parse(url: &str) -> Result<Proxy, Error> {
        let url = url.trim();
        let (scheme, rest) = url.split_once("://").unwrap_or(("http", url));
        let (kind, default_port) = match scheme.to_ascii_lowercase().as_str() {
            "http" => (ProxyKind::Http, 80),
            "socks5" => (ProxyKind::Socks5, 1080),
            "socks5h" => (ProxyKind::Socks5h, 1080),
            other => {
                return Err(bad(format!(
                    "proxy scheme {other:?}: http://, socks5:// and socks5h:// are supported"
                )))
            }
        };
        // Credentials first: a password may hold '/' (or '%'-escapes).
        let (creds, hostport) = match rest.rsplit_once('@') {
            Some((c, hp)) => {
                let (user, pass) = c.split_once(':').unwrap_or((c, ""));
                (Some((percent_decode(user), percent_decode(pass))), hp)
            }
            None => (None, rest),
        };
        let hostport = hostport.trim_end_matches('/');
        if hostport.contains('/') {
            return Err(bad("a proxy URL has no path".into()));
        }
        let (host, port) = split_host_port(hostport)
            .ok_or_else(|| bad(format!("bad proxy host or port {hostport:?}")))?;
        let port = port.unwrap_or(default_port);
        if host.is_empty() || port == 0 {
            return Err(bad("the proxy URL has no host".into()));
        }
        if kind == ProxyKind::Socks5 && host.parse::<std::net::IpAddr>().is_err() {
            return Err(bad(
                "a socks5:// proxy is given by IP address (the origin's name is resolved here); \
                 socks5h:// lets the proxy resolve names"
                    .into(),
            ));
        }
        if kind != ProxyKind::Http {
            // RFC 1929: each is 1 to 255 bytes.
            if let Some((u, p)) = &creds {
                if u.is_empty() || u.len() > 255 || p.len() > 255 {
                    return Err(bad("SOCKS user name and password are 1 to 255 bytes".into()));
                }
            }
        }
        Ok(Proxy {
            kind,
            host: host.to_ascii_lowercase(),
            port,
            creds,
        })
    }

    /// `host:port`: the proxy as shown (never its credentials).
    pub fn display(&self) -> String {
        let scheme = match self.kind {
            ProxyKind::Http => "http",
            ProxyKind::Socks5 => "socks5",
            ProxyKind::Socks5h => "socks5h",
        };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }

    /// The `Proxy-Authorization` value, if any.
    pub fn authorization(&self) -> Option<String> {
        let (user, pass) = self.creds.as_ref()?;
        let mut both = user.clone();
        both.push(b':');
        both.extend_from_slice(pass);
        Some(format!("Basic {}", base64(&both)))
    }

    /// The user name and password, for a SOCKS5 handshake (RFC 1929).
    pub(crate) fn credentials(&self) -> Option<&(Vec<u8>, Vec<u8>)> {
        self.creds.as_ref()
    }
}

impl ProxyConfig {
    /// The proxy for a URL of this scheme, host and port, unless the host
    /// goes direct (see [`no_proxy_matches`]).
    pub fn for_url(&self, https: bool, host: &str, port: u16) -> Option<&Proxy> {
        let proxy = if https { &self.https } else { &self.http };
        let proxy = proxy.as_ref()?;
        let direct = self
            .no_proxy
            .iter()
            .any(|n| no_proxy_matches(n, host, port));
        (!direct).then_some(proxy)
    }
}

/// Whether one `NO_PROXY` entry sends `host:port` direct, as Go's
/// `httpproxy` reads the list:
/// - `*` matches every host;
/// - an IP address matches itself, a CIDR range (`10.0.0.0/8`, `fd00::/8`)
///   every address in it;
/// - a name matches itself and its subdomains (`example.com`); with a
///   leading dot (`.example.com`) or `*.` only its subdomains;
/// - any of them may carry a port (`example.com:8080`, `[::1]:80`, `1.2.3.4:80`),
///   and then matches that port only;
/// - names compare without case and without a trailing dot (`Example.COM.`).
pub fn no_proxy_matches(entry: &str, host: &str, port: u16) -> bool {
    let entry = entry.trim();
    if entry == "*" {
        return true;
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = host.strip_suffix('.').unwrap_or(host);
    let host_ip = host.parse::<std::net::IpAddr>().ok();
    if let Some((net, bits)) = entry.split_once('/') {
        let (Ok(net), Ok(bits), Some(ip)) = (net.parse(), bits.parse::<u8>(), host_ip) else {
            return false;
        };
        return in_range(ip, net, bits);
    }
    let Some((name, want_port)) = split_host_port(entry) else {
        return false;
    };
    if want_port.is_some_and(|p| p != port) {
        return false;
    }
    if let Ok(ip) = name.parse::<std::net::IpAddr>() {
        return host_ip == Some(ip);
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let name = name.strip_prefix('*').unwrap_or(name);
    let (suffix, itself) = match name.strip_prefix('.') {
        Some(n) => (n, false),
        None => (name, true),
    };
    if suffix.is_empty() || host_ip.is_some() {
        return false;
    }
    let (h, s) = (host.as_bytes(), suffix.as_bytes());
    (itself && h.eq_ignore_ascii_case(s))
        || (h.len() > s.len()
            && h[h.len() - s.len()..].eq_ignore_ascii_case(s)
            && h[h.len() - s.len() - 1] == b'.')
}

/// Whether `ip` is in `net/bits` (both of one family).
fn in_range(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u8) -> bool {
    use std::net::IpAddr::{V4, V6};
    let (a, b, width) = match (ip, net) {
        (V4(a), V4(b)) => (u128::from(u32::from(a)), u128::from(u32::from(b)), 32),
        (V6(a), V6(b)) => (u128::from(a), u128::from(b), 128),
        _ => return false,
    };
    if bits > width {
        return false;
    }
    let shift = u32::from(width - bits);
    bits == 0 || (a >> shift) == (b >> shift)
}

/// `host[:port]`, `[v6][:port]` or a bare IPv6 address: the host (without
/// brackets) and the port if given; `None` when malformed (an unclosed
/// `[`, a port that is not a number, a name with characters no host has).
fn split_host_port(s: &str) -> Option<(&str, Option<u16>)> {
    let port = |p: &str| {
        (!p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
            .then(|| p.parse().ok())
            .flatten()
    };
    if let Some(rest) = s.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        v6.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((v6, None)),
            _ => Some((v6, Some(port(after.strip_prefix(':')?)?))),
        };
    }
    if s.parse::<std::net::Ipv6Addr>().is_ok() {
        return Some((s, None));
    }
    let (host, p) = match s.rsplit_once(':') {
        Some((h, p)) => (h, Some(port(p)?)),
        None => (s, None),
    };
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'*');
    host.bytes().all(ok).then_some((host, p))
}

/// `user:p%40ss` → `user:p@ss` (as curl decodes proxy credentials); a
/// `%` not followed by two hex digits stays as it is.
fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let hex = |i: usize| b.get(i).and_then(|&c| (c as char).to_digit(16));
    while i < b.len() {
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (hex(i + 1), hex(i + 2)) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// Standard base64 (RFC 4648), for `Basic` credentials.
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_parse_and_never_show_their_credentials() {
        let p = Proxy::parse("http://user:s3cret@Proxy.Example:3128/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("proxy.example", 3128));
        assert_eq!(p.authorization().unwrap(), "Basic dXNlcjpzM2NyZXQ=");
        assert!(!format!("{p:?}").contains("s3cret") && !p.display().contains("user"));
        assert_eq!(Proxy::parse("http://10.0.0.1").unwrap().port, 80);
        // '%'-escapes decoded, a '/' or '@' in the password kept.
        let p = Proxy::parse("http://u%40x:a/b@c%zz@proxy:1").unwrap();
        assert_eq!(
            p.authorization().unwrap(),
            format!("Basic {}", base64(b"u@x:a/b@c%zz"))
        );
        assert_eq!(p.host, "proxy");
        assert_eq!(
            Proxy::parse("http://[::1]:8080").unwrap().display(),
            "http://[::1]:8080"
        );
        let s = Proxy::parse("SOCKS5h://u:p@proxy.test").unwrap();
        assert_eq!((s.kind, s.port), (ProxyKind::Socks5h, 1080));
        assert_eq!(s.credentials().unwrap(), &(b"u".to_vec(), b"p".to_vec()));
        assert_eq!(
            Proxy::parse("socks5://10.1.2.3:9050").unwrap().kind,
            ProxyKind::Socks5
        );
        let long = format!("socks5h://{}:p@h", "u".repeat(256));
        for bad in [
            "socks5://name.test:1080",
            long.as_str(),
            "socks4://h",
            "ftp://h",
            "http://",
            "http://h:x",
            "http://h/path",
        ] {
            assert!(Proxy::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }

    #[test]
    fn no_proxy_matches_names_their_subdomains_and_star() {
        let p = Proxy::parse("http://proxy:3128").unwrap();
        let c = ProxyConfig {
            http: Some(p.clone()),
            https: None,
            no_proxy: vec!["internal.test".into(), ".corp".into(), "127.0.0.1".into()],
        };
        assert!(c.for_url(false, "example.com", 80).is_some());
        assert!(
            c.for_url(true, "example.com", 443).is_none(),
            "no https proxy"
        );
        assert!(c.for_url(false, "internal.test", 80).is_none());
        assert!(c.for_url(false, "a.internal.test", 80).is_none());
        assert!(c.for_url(false, "notinternal.test", 80).is_some());
        assert!(c.for_url(false, "x.corp", 80).is_none());
        assert!(c.for_url(false, "127.0.0.1", 80).is_none());
        let all = ProxyConfig {
            no_proxy: vec!["*".into()],
            ..c
        };
        assert!(all.for_url(false, "example.com", 80).is_none());
    }

    /// Go's `httpproxy` cases (golang.org/x/net/http/httpproxy
    /// `proxy_test.go`), with curl's trailing-dot and case rules.
    #[test]
    fn no_proxy_entries_read_as_go_reads_them() {
        let table: &[(&str, &str, u16, bool)] = &[
            // A plain name: itself and its subdomains.
            ("foo.com", "foo.com", 80, true),
            ("foo.com", "bar.foo.com", 80, true),
            ("foo.com", "barfoo.com", 80, false),
            ("FOO.com", "www.Foo.COM", 80, true),
            // A leading dot or `*.`: subdomains only.
            (".y.com", "x.y.com", 80, true),
            (".y.com", "y.com", 80, false),
            ("*.y.com", "x.y.com", 80, true),
            ("*.y.com", "y.com", 80, false),
            // Trailing dots on either side.
            ("foo.com.", "foo.com", 80, true),
            ("foo.com", "www.foo.com.", 80, true),
            ("localhost", "LOCALHOST.", 80, true),
            // Ports.
            ("foo.com:8080", "foo.com", 8080, true),
            ("foo.com:8080", "foo.com", 80, false),
            ("1.2.3.4:80", "1.2.3.4", 80, true),
            ("1.2.3.4:80", "1.2.3.4", 81, false),
            ("[::1]:80", "[::1]", 80, true),
            ("[::1]:80", "::1", 8080, false),
            // Addresses and CIDR ranges.
            ("1.2.3.4", "1.2.3.4", 80, true),
            ("1.2.3.4", "1.2.3.5", 80, false),
            ("::1", "[::1]", 80, true),
            ("127.0.0.0/8", "127.0.0.2", 80, true),
            ("127.0.0.0/8", "128.0.0.1", 80, false),
            ("10.0.0.0/8", "10.255.1.2", 80, true),
            ("fd00::/8", "[fd12::1]", 80, true),
            ("fd00::/8", "[fe80::1]", 80, false),
            ("0.0.0.0/0", "8.8.8.8", 80, true),
            ("0.0.0.0/0", "[::1]", 80, false),
            ("10.0.0.0/33", "10.0.0.1", 80, false),
            // A name never matches an address, nor garbage anything.
            ("1.2.3.4", "foo.com", 80, false),
            ("com", "1.2.3.com", 80, true),
            ("[::1", "::1", 80, false),
            ("", "foo.com", 80, false),
            (".", "foo.com", 80, false),
            ("*", "anything.test", 1, true),
        ];
        for &(entry, host, port, want) in table {
            assert_eq!(
                no_proxy_matches(entry, host, port),
                want,
                "{entry} vs {host}:{port}"
            );
        }
    }

    #[test]
    fn proxy_urls_with_broken_hosts_are_refused() {
        for bad in [
            "u:pw@[::1",
            "http://[::1",
            "http://[nothost]:80",
            "http://h[x]:1",
            "http://[::1]x",
        ] {
            assert!(Proxy::parse(bad).is_err(), "{bad}");
        }
        let p = Proxy::parse("u:pw@[::1]:3128").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 3128));
    }
}
