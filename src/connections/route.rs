//! Where a new connection goes and what rides on it: straight to the
//! origin, or to a proxy (a CONNECT tunnel for https, absolute-form
//! requests for http); and the TLS session for an https origin, which runs
//! end to end with the origin either way.

use crate::conn::socks5::{Socks5, Target};
use crate::conn::Conn;
use crate::error::Error;
use crate::proxy::{ProxyConfig, ProxyKind};
use crate::url::{Scheme, Url};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// The way to `url`'s origin.
pub(super) struct Route<'a> {
    /// The name (or IP) and port to connect to: the origin's or the proxy's.
    pub host: &'a str,
    pub port: u16,
    /// The proxy handshake to go through once TCP is up.
    pub tunnel: Option<Handshake>,
    /// `socks5://`: the origin's name is looked up here, then the
    /// connection goes to this proxy naming the address found.
    pub socks_local: Option<Box<SocksLocal>>,
    /// Plain http through a proxy: requests in absolute form, with this
    /// `Proxy-Authorization` (if any).
    pub proxied_http: Option<Option<String>>,
    /// The connection goes to a proxy (its connect errors are the proxy's).
    pub via_proxy: bool,
}

/// A handshake with a proxy, before TLS or the request.
pub(super) enum Handshake {
    /// An HTTP `CONNECT` request.
    Connect(Vec<u8>),
    /// A SOCKS5 handshake and its first message.
    Socks(Socks5, Vec<u8>),
}

impl Handshake {
    /// Sets it on the connection.
    pub fn set_on<S: Read + Write>(self, conn: &mut Conn<S>) {
        match self {
            Handshake::Connect(request) => conn.set_tunnel(request),
            Handshake::Socks(socks, greeting) => conn.set_socks(socks, greeting),
        }
    }
}

/// A `socks5://` proxy waiting for the origin's address.
pub(super) struct SocksLocal {
    proxy: SocketAddr,
    creds: Option<(Vec<u8>, Vec<u8>)>,
}

/// The route for `url` under `proxies`.
pub(super) fn route<'a>(proxies: &'a ProxyConfig, url: &'a Url) -> Route<'a> {
    let https = url.scheme() == Scheme::Https;
    let mut r = Route {
        host: url.host_bare(),
        port: url.port(),
        tunnel: None,
        socks_local: None,
        proxied_http: None,
        via_proxy: false,
    };
    let Some(p) = proxies.for_url(https, url.host_bare(), url.port()) else {
        return r;
    };
    r.via_proxy = true;
    match p.kind {
        ProxyKind::Http if https => {
            (r.host, r.port) = (&p.host, p.port);
            let connect = connect_request(url, p.authorization().as_deref());
            r.tunnel = Some(Handshake::Connect(connect));
        }
        ProxyKind::Http => {
            (r.host, r.port) = (&p.host, p.port);
            r.proxied_http = Some(p.authorization());
        }
        ProxyKind::Socks5h => {
            (r.host, r.port) = (&p.host, p.port);
            let target = Target::Name(url.host_bare().to_string(), url.port());
            let (socks, greeting) = Socks5::start(target, p.credentials().cloned());
            r.tunnel = Some(Handshake::Socks(socks, greeting));
        }
        ProxyKind::Socks5 => {
            // Proxy::parse made sure the host is an IP address.
            let ip: Option<IpAddr> = p.host.parse().ok();
            let proxy = SocketAddr::new(ip.unwrap_or(IpAddr::from([0, 0, 0, 0])), p.port);
            let creds = p.credentials().cloned();
            r.socks_local = Some(Box::new(SocksLocal { proxy, creds }));
        }
    }
    r
}

/// With `public_only`, an IP-literal host must be public: checked before
/// any route, since through a proxy the origin's address is never seen
/// here.
pub(super) fn literal_public(public_only: bool, url: &Url) -> Result<(), crate::error::Error> {
    match url.host_bare().parse::<IpAddr>() {
        Ok(ip) if public_only && !crate::public::is_public(ip) => {
            Err(crate::public::not_public(ip))
        }
        _ => Ok(()),
    }
}

/// The addresses to connect to once `ips` (of the name looked up, on
/// `port`) are known: those, or for `socks5://` the proxy, with a
/// handshake naming the first of them.
pub(super) fn addresses(
    ips: &[IpAddr],
    port: u16,
    socks: Option<Box<SocksLocal>>,
) -> (Vec<SocketAddr>, Option<Handshake>) {
    match (socks, ips.first()) {
        (Some(s), Some(ip)) => {
            let target = Target::Addr(SocketAddr::new(*ip, port));
            let (socks, greeting) = Socks5::start(target, s.creds);
            (vec![s.proxy], Some(Handshake::Socks(socks, greeting)))
        }
        _ => (
            ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect(),
            None,
        ),
    }
}

/// A TLS session for an https URL (none for http).
pub(super) fn tls_session(
    tls: &Arc<rustls::ClientConfig>,
    url: &Url,
) -> Result<Option<rustls::ClientConnection>, Error> {
    match url.scheme() {
        Scheme::Http => Ok(None),
        Scheme::Https => {
            let name = crate::tls::server_name(url.host_bare())?;
            rustls::ClientConnection::new(tls.clone(), name)
                .map(Some)
                .map_err(|e| crate::tls::classify(&e))
        }
    }
}

/// `CONNECT host:port HTTP/1.1` for a tunnel to `url`'s origin.
fn connect_request(url: &Url, authorization: Option<&str>) -> Vec<u8> {
    // Always host:port (a default port too), as RFC 9110 §9.3.6 asks.
    let target = format!("{}:{}", url.host(), url.port());
    let mut out = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n");
    if let Some(auth) = authorization {
        out.push_str("Proxy-Authorization: ");
        out.push_str(auth);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::Proxy;

    #[test]
    fn routes() {
        let url = |s: &str| Url::parse(s).unwrap();
        let direct = ProxyConfig::default();
        let u = url("https://a.test/x");
        let r = route(&direct, &u);
        assert_eq!((r.host, r.port, r.via_proxy), ("a.test", 443, false));
        assert!(r.tunnel.is_none() && r.proxied_http.is_none());

        let p = Proxy::parse("http://u:p@proxy.test:3128").unwrap();
        let via = ProxyConfig {
            http: Some(p.clone()),
            https: Some(p),
            no_proxy: vec![],
        };
        let r = route(&via, &u);
        assert_eq!((r.host, r.port, r.via_proxy), ("proxy.test", 3128, true));
        let Some(Handshake::Connect(connect)) = r.tunnel else {
            panic!("a CONNECT")
        };
        let connect = String::from_utf8(connect).unwrap();
        assert_eq!(
            connect,
            "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\
             Proxy-Authorization: Basic dTpw\r\n\r\n"
        );
        let h = url("http://a.test/x");
        let r = route(&via, &h);
        assert!(r.tunnel.is_none());
        assert_eq!(r.proxied_http, Some(Some("Basic dTpw".into())));

        // socks5://: the origin is looked up here, the proxy is connected.
        let s = Proxy::parse("socks5://10.0.0.9").unwrap();
        let socks = ProxyConfig {
            http: Some(s.clone()),
            https: Some(s),
            no_proxy: vec![],
        };
        let r = route(&socks, &u);
        assert_eq!((r.host, r.port, r.tunnel.is_none()), ("a.test", 443, true));
        let ips = ["192.0.2.1".parse().unwrap()];
        let (addrs, hs) = addresses(&ips, 443, r.socks_local);
        assert_eq!(addrs, ["10.0.0.9:1080".parse().unwrap()]);
        assert!(matches!(hs, Some(Handshake::Socks(..))));
        let (addrs, hs) = addresses(&ips, 443, None);
        assert_eq!(addrs, ["192.0.2.1:443".parse().unwrap()]);
        assert!(hs.is_none());
    }
}
