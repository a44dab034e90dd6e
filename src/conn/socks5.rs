//! The SOCKS5 client handshake (RFC 1928, with RFC 1929 user/password),
//! sans-IO: [`Socks5::start`] gives the first message; each
//! [`Socks5::handle`] takes the bytes read so far and says how many it used
//! and what to do next. The connection's `Tunneling` state moves the bytes.
//!
//! ```text
//! Method  ─ greeting sent, waiting for the chosen method ─┬─► Connect
//!                                                         └─► Auth (method 2) ─► Connect
//! Connect ─ CONNECT sent, waiting for the reply ─► done (the socket reaches the origin)
//! ```

use crate::error::{Error, ErrorKind, Phase};
use std::net::SocketAddr;

/// Where the proxy is asked to connect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// An address resolved here (`socks5://`).
    Addr(SocketAddr),
    /// A name the proxy resolves (`socks5h://`), and its port.
    Name(String, u16),
}

/// What waits for an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Method,
    Auth,
    Connect,
}

/// What the caller does after [`Socks5::handle`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// The answer is incomplete: read more.
    Read,
    /// Send these bytes, then read the answer.
    Send(Vec<u8>),
    /// The tunnel is open.
    Done,
}

/// One handshake in progress.
pub(crate) struct Socks5 {
    state: State,
    target: Target,
    creds: Option<(Vec<u8>, Vec<u8>)>,
}

fn err(kind: ErrorKind, detail: impl Into<String>) -> Error {
    Error::new(Phase::Proxy, kind, detail)
}

impl Socks5 {
    /// A handshake asking for `target`, and its first message (the
    /// methods offered: none, and user/password when there are credentials).
    pub fn start(target: Target, creds: Option<(Vec<u8>, Vec<u8>)>) -> (Socks5, Vec<u8>) {
        let greeting = if creds.is_some() {
            vec![5, 2, 0, 2]
        } else {
            vec![5, 1, 0]
        };
        let state = State::Method;
        (
            Socks5 {
                state,
                target,
                creds,
            },
            greeting,
        )
    }

    /// Takes the bytes read since the last step: `(used, step)`. Bytes past
    /// the final reply are an error (nothing may come before TLS or the
    /// request).
    pub fn handle(&mut self, input: &[u8]) -> Result<(usize, Step), Error> {
        match self.state {
            State::Method => {
                let [v, method] = match input {
                    [a, b, ..] => [*a, *b],
                    _ => return Ok((0, Step::Read)),
                };
                if v != 5 {
                    return Err(err(ErrorKind::Malformed, "not a SOCKS5 proxy"));
                }
                match (method, &self.creds) {
                    (0, _) => Ok((2, self.connect())),
                    (2, Some((user, pass))) => {
                        let mut out = vec![1, user.len() as u8];
                        out.extend_from_slice(user);
                        out.push(pass.len() as u8);
                        out.extend_from_slice(pass);
                        self.state = State::Auth;
                        Ok((2, Step::Send(out)))
                    }
                    (0xff | 2, _) => Err(err(
                        ErrorKind::ProxyAuth,
                        "the SOCKS proxy accepts none of the offered authentication methods",
                    )),
                    (m, _) => Err(err(
                        ErrorKind::Malformed,
                        format!("the SOCKS proxy chose method {m}, which was not offered"),
                    )),
                }
            }
            State::Auth => match input {
                [1, 0, ..] => Ok((2, self.connect())),
                [_, _, ..] => Err(err(
                    ErrorKind::ProxyAuth,
                    "the SOCKS proxy refused the user name and password",
                )),
                _ => Ok((0, Step::Read)),
            },
            State::Connect => connect_reply(input),
        }
    }

    /// The CONNECT request.
    fn connect(&mut self) -> Step {
        self.state = State::Connect;
        let mut out = vec![5, 1, 0];
        let port = match &self.target {
            Target::Addr(SocketAddr::V4(a)) => {
                out.push(1);
                out.extend_from_slice(&a.ip().octets());
                a.port()
            }
            Target::Addr(SocketAddr::V6(a)) => {
                out.push(4);
                out.extend_from_slice(&a.ip().octets());
                a.port()
            }
            Target::Name(name, port) => {
                // Host names are at most 253 bytes: the length fits.
                out.push(3);
                out.push(name.len().min(255) as u8);
                out.extend_from_slice(&name.as_bytes()[..name.len().min(255)]);
                *port
            }
        };
        out.extend_from_slice(&port.to_be_bytes());
        Step::Send(out)
    }
}

/// The CONNECT reply: `VER REP RSV ATYP BND.ADDR BND.PORT`.
fn connect_reply(input: &[u8]) -> Result<(usize, Step), Error> {
    let [v, rep, _, atyp, ..] = *input else {
        return Ok((0, Step::Read));
    };
    if v != 5 {
        return Err(err(
            ErrorKind::Malformed,
            "a SOCKS reply that is not version 5",
        ));
    }
    if rep != 0 {
        let why = match rep {
            1 => "general failure",
            2 => "not allowed by its rules",
            3 => "network unreachable",
            4 => "host unreachable",
            5 => "connection refused",
            6 => "TTL expired",
            7 => "command not supported",
            8 => "address type not supported",
            _ => "unknown reply code",
        };
        let detail = format!("the SOCKS proxy could not connect: {why} ({rep})");
        return Err(err(ErrorKind::TunnelRefused, detail));
    }
    let len = match atyp {
        1 => 4 + 4 + 2,
        4 => 4 + 16 + 2,
        3 => match input.get(4) {
            Some(n) => 4 + 1 + usize::from(*n) + 2,
            None => return Ok((0, Step::Read)),
        },
        _ => {
            return Err(err(
                ErrorKind::Malformed,
                format!("SOCKS address type {atyp}"),
            ))
        }
    };
    match input.len() {
        n if n < len => Ok((0, Step::Read)),
        n if n == len => Ok((len, Step::Done)),
        _ => Err(err(ErrorKind::Malformed, "bytes after the SOCKS reply")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK_V4: &[u8] = &[5, 0, 0, 1, 0, 0, 0, 0, 0, 0];

    #[test]
    fn without_credentials_an_address() {
        let target = Target::Addr("10.0.0.1:8080".parse().unwrap());
        let (mut s, hello) = Socks5::start(target, None);
        assert_eq!(hello, [5, 1, 0]);
        assert_eq!(s.handle(&[5]).unwrap(), (0, Step::Read));
        let connect = vec![5, 1, 0, 1, 10, 0, 0, 1, 0x1f, 0x90];
        assert_eq!(s.handle(&[5, 0]).unwrap(), (2, Step::Send(connect)));
        // The reply arrives in pieces.
        assert_eq!(s.handle(&OK_V4[..7]).unwrap(), (0, Step::Read));
        assert_eq!(s.handle(OK_V4).unwrap(), (10, Step::Done));
    }

    #[test]
    fn with_credentials_a_name() {
        let creds = Some((b"u".to_vec(), b"pw".to_vec()));
        let (mut s, hello) = Socks5::start(Target::Name("a.test".into(), 443), creds);
        assert_eq!(hello, [5, 2, 0, 2]);
        let auth = vec![1, 1, b'u', 2, b'p', b'w'];
        assert_eq!(s.handle(&[5, 2]).unwrap(), (2, Step::Send(auth)));
        let mut connect = vec![5, 1, 0, 3, 6];
        connect.extend_from_slice(b"a.test");
        connect.extend_from_slice(&[1, 187]);
        assert_eq!(s.handle(&[1, 0]).unwrap(), (2, Step::Send(connect)));
        // A reply naming a domain: its length is in the reply.
        let reply = [5, 0, 0, 3, 1, b'x', 0, 80];
        assert_eq!(s.handle(&reply).unwrap(), (8, Step::Done));
    }

    #[test]
    fn refusals_are_typed() {
        let kind = |creds: bool, answers: &[&[u8]]| {
            let c = creds.then(|| (b"u".to_vec(), b"p".to_vec()));
            let target = Target::Addr("[::1]:80".parse().unwrap());
            let (mut s, _) = Socks5::start(target, c);
            for a in answers {
                if let Err(e) = s.handle(a) {
                    return Some(e.kind);
                }
            }
            None
        };
        use ErrorKind::*;
        assert_eq!(kind(false, &[&[5, 0xff]]), Some(ProxyAuth));
        assert_eq!(kind(false, &[&[5, 2]]), Some(ProxyAuth), "auth not offered");
        assert_eq!(kind(true, &[&[5, 2], &[1, 1]]), Some(ProxyAuth));
        assert_eq!(kind(false, &[&[4, 0]]), Some(Malformed));
        assert_eq!(kind(false, &[&[5, 0], &[5, 5, 0, 1]]), Some(TunnelRefused));
        assert_eq!(kind(false, &[&[5, 0], &[5, 0, 0, 9]]), Some(Malformed));
        let mut extra = OK_V4.to_vec();
        extra.push(0);
        assert_eq!(kind(false, &[&[5, 0], &extra]), Some(Malformed));
        assert_eq!(kind(false, &[&[5, 0], OK_V4]), None);
    }
}
