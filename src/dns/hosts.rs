//! `/etc/hosts` parsing (sans-IO: takes the file's text).

use std::collections::HashMap;
use std::net::IpAddr;

/// Names to addresses, in file order. Names are lowercase.
#[derive(Clone, Debug, Default)]
pub struct HostsFile {
    names: HashMap<String, Vec<IpAddr>>,
}

impl HostsFile {
    /// The addresses of a lowercase name.
    pub fn get(&self, name: &str) -> Option<&[IpAddr]> {
        self.names.get(name).map(|v| v.as_slice())
    }
    /// Number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }
    /// True when no name is known.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

/// Parses hosts-file text: `address name [aliases...]`, `#` comments. Lines
/// with an unparsable address are skipped; an IPv6 zone (`fe80::1%eth0`) is
/// not supported and skipped too.
pub fn parse_hosts(text: &str) -> HostsFile {
    let mut names: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut fields = line.split_whitespace();
        let Some(Ok(ip)) = fields.next().map(str::parse::<IpAddr>) else {
            continue;
        };
        for name in fields {
            let list = names.entry(name.to_ascii_lowercase()).or_default();
            if !list.contains(&ip) {
                list.push(ip);
            }
        }
    }
    HostsFile { names }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_comments_aliases_and_junk() {
        let h = parse_hosts(
            "# comment\n127.0.0.1\tlocalhost Local.Domain # trailing\nnot-an-ip foo\n\n::1 localhost ip6-localhost\nfe80::1%eth0 zoned\n",
        );
        assert_eq!(h.get("localhost").unwrap().len(), 2);
        assert!(h.get("local.domain").is_some());
        assert!(h.get("foo").is_none());
        assert!(h.get("zoned").is_none());
        assert_eq!(h.len(), 3);
    }
}
