//! Where a new connection goes and what rides on it: straight to the
//! origin, or to a proxy (a CONNECT tunnel for https, absolute-form
//! requests for http); and the TLS session for an https origin, which runs
//! end to end with the origin either way.

use crate::error::Error;
use crate::proxy::ProxyConfig;
use crate::url::{Scheme, Url};
use std::sync::Arc;

/// The way to `url`'s origin.
pub(super) struct Route<'a> {
    /// The name (or IP) and port to connect to: the origin's or the proxy's.
    pub host: &'a str,
    pub port: u16,
    /// A `CONNECT` request to send once TCP is up (https through a proxy).
    pub tunnel: Option<Vec<u8>>,
    /// Plain http through a proxy: requests in absolute form, with this
    /// `Proxy-Authorization` (if any).
    pub proxied_http: Option<Option<String>>,
    /// The connection goes to a proxy (its connect errors are the proxy's).
    pub via_proxy: bool,
}

/// The route for `url` under `proxies`.
pub(super) fn route<'a>(proxies: &'a ProxyConfig, url: &'a Url) -> Route<'a> {
    let https = url.scheme() == Scheme::Https;
    match proxies.for_url(https, url.host_bare()) {
        None => Route {
            host: url.host_bare(),
            port: url.port(),
            tunnel: None,
            proxied_http: None,
            via_proxy: false,
        },
        Some(p) => Route {
            host: &p.host,
            port: p.port,
            tunnel: https.then(|| connect_request(url, p.authorization().as_deref())),
            proxied_http: (!https).then(|| p.authorization()),
            via_proxy: true,
        },
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
        let connect = String::from_utf8(r.tunnel.unwrap()).unwrap();
        assert_eq!(
            connect,
            "CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\
             Proxy-Authorization: Basic dTpw\r\n\r\n"
        );
        let h = url("http://a.test/x");
        let r = route(&via, &h);
        assert!(r.tunnel.is_none());
        assert_eq!(r.proxied_http, Some(Some("Basic dTpw".into())));
    }
}
