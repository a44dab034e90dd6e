//! Request encoding.

use super::Method;
use crate::url::Url;

/// Appends an HTTP/1.1 request for `url` to `out`, asking for the body as
/// it is (`Accept-Encoding: identity`): see [`encode_request_with`].
pub fn encode_request(
    out: &mut Vec<u8>,
    method: Method,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    user_agent: &str,
) {
    encode_request_with(out, method, url, headers, body, user_agent, "identity")
}

/// Appends an HTTP/1.1 request for `url` to `out`.
///
/// Sends `Host`, `User-Agent`, `Accept: */*` and `Accept-Encoding:
/// accept_encoding` (`identity`, or the codings the reader can undo), then
/// the caller's `headers` (which may not contain CR or LF: such a header is
/// skipped, as it could smuggle a second request), then `Content-Length`
/// when there is a body or the method is POST.
pub fn encode_request_with(
    out: &mut Vec<u8>,
    method: Method,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    user_agent: &str,
    accept_encoding: &str,
) {
    encode(
        out,
        method,
        url,
        headers,
        body,
        user_agent,
        accept_encoding,
        None,
    );
}

/// Appends a request for `url` to an HTTP proxy (a plain `http://` URL):
/// the target in absolute form (`GET http://host/path`), and
/// `Proxy-Authorization` when the proxy has credentials.
#[allow(clippy::too_many_arguments)]
pub fn encode_proxied_request(
    out: &mut Vec<u8>,
    method: Method,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    user_agent: &str,
    accept_encoding: &str,
    proxy_authorization: Option<&str>,
) {
    let auth = Some(proxy_authorization);
    encode(
        out,
        method,
        url,
        headers,
        body,
        user_agent,
        accept_encoding,
        auth,
    );
}

/// The request: `proxy` is `Some(authorization)` through a proxy.
#[allow(clippy::too_many_arguments)]
fn encode(
    out: &mut Vec<u8>,
    method: Method,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    user_agent: &str,
    accept_encoding: &str,
    proxy: Option<Option<&str>>,
) {
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    match proxy {
        Some(_) => out.extend_from_slice(url.as_str().as_bytes()),
        None => out.extend_from_slice(url.path_and_query().as_bytes()),
    }
    out.extend_from_slice(b" HTTP/1.1\r\nHost: ");
    out.extend_from_slice(url.authority().as_bytes());
    out.extend_from_slice(b"\r\nUser-Agent: ");
    out.extend_from_slice(user_agent.as_bytes());
    out.extend_from_slice(b"\r\nAccept: */*\r\nAccept-Encoding: ");
    out.extend_from_slice(accept_encoding.as_bytes());
    out.extend_from_slice(b"\r\n");
    if let Some(Some(auth)) = proxy {
        out.extend_from_slice(b"Proxy-Authorization: ");
        out.extend_from_slice(auth.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    for (name, value) in headers {
        let unsafe_text = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
        if name.is_empty() || unsafe_text(name) || unsafe_text(value) || name.contains(':') {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    if !body.is_empty() || method == Method::Post {
        out.extend_from_slice(b"Content-Length: ");
        let mut digits = [0u8; 20];
        out.extend_from_slice(crate::text::format_u64(body.len() as u64, &mut digits));
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_with_extra_headers() {
        let mut out = Vec::new();
        let url = Url::parse("http://h:8080/p?q=1").unwrap();
        let headers = vec![
            ("X-One".to_string(), "1".to_string()),
            ("Bad".to_string(), "a\r\nGET / HTTP/1.1".to_string()),
        ];
        encode_request(&mut out, Method::Get, &url, &headers, b"", "ua/1");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "GET /p?q=1 HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: ua/1\r\nAccept: */*\r\n\
             Accept-Encoding: identity\r\nX-One: 1\r\n\r\n"
        );
    }

    #[test]
    fn post_has_content_length() {
        let mut out = Vec::new();
        let url = Url::parse("http://h/").unwrap();
        encode_request(&mut out, Method::Post, &url, &[], b"a=1", "ua");
        let s = String::from_utf8(out).unwrap();
        assert!(s.starts_with("POST / HTTP/1.1\r\nHost: h\r\n"));
        assert!(s.ends_with("Content-Length: 3\r\n\r\na=1"));
        let mut out = Vec::new();
        encode_request(&mut out, Method::Post, &url, &[], b"", "ua");
        assert!(String::from_utf8(out)
            .unwrap()
            .ends_with("Content-Length: 0\r\n\r\n"));
    }

    #[test]
    fn formats_numbers() {
        let mut b = [0; 20];
        assert_eq!(crate::text::format_u64(0, &mut b), b"0");
        assert_eq!(
            crate::text::format_u64(u64::MAX, &mut b),
            b"18446744073709551615"
        );
    }
}
