//! `/etc/resolv.conf` parsing (sans-IO: takes the file's text).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// What resolv.conf says that we use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResolvConf {
    /// `nameserver` lines, port 53.
    pub nameservers: Vec<SocketAddr>,
    /// `options timeout:N`.
    pub timeout: Option<Duration>,
    /// `options attempts:N`.
    pub attempts: Option<u32>,
}

/// Parses resolv.conf text; unknown lines and bad values are skipped.
pub fn parse_resolv_conf(text: &str) -> ResolvConf {
    let mut rc = ResolvConf::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => {
                // An IPv6 zone (fe80::1%eth0) is not supported: skipped.
                if let Some(Ok(ip)) = words.next().map(str::parse::<IpAddr>) {
                    rc.nameservers.push(SocketAddr::new(ip, 53));
                }
            }
            Some("options") => {
                for opt in words {
                    if let Some(v) = opt.strip_prefix("timeout:") {
                        if let Ok(n) = v.parse::<u64>() {
                            rc.timeout = Some(Duration::from_secs(n.clamp(1, 30)));
                        }
                    } else if let Some(v) = opt.strip_prefix("attempts:") {
                        if let Ok(n) = v.parse::<u32>() {
                            rc.attempts = Some(n.clamp(1, 5));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    rc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nameservers_and_options() {
        let rc = parse_resolv_conf(
            "# comment\nsearch example.com\nnameserver 10.0.0.2\nnameserver ::1 # v6\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2 timeout:3 attempts:4\n",
        );
        assert_eq!(
            rc.nameservers,
            vec!["10.0.0.2:53".parse().unwrap(), "[::1]:53".parse().unwrap()]
        );
        assert_eq!(rc.timeout, Some(Duration::from_secs(3)));
        assert_eq!(rc.attempts, Some(4));
        assert_eq!(parse_resolv_conf(""), ResolvConf::default());
    }
}
