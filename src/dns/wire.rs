//! DNS messages on the wire: our own query encoder, and answer checking on
//! top of `dns-parser`.
//!
//! Why our own encoder: dns-parser 0.8's `Builder` panics on a 63-byte label
//! (legal per RFC 1035) and on other malformed names, and turns a trailing
//! dot into a query its own parser rejects. Encoding a query is 30 lines;
//! validating the name first makes every bad name a typed error.
//!
//! Why answers are checked before they are believed: a resolver on UDP can
//! be fed forged answers. An answer counts only if its ID, QR bit and
//! question (name compared case-insensitively, type, class IN) match the
//! query; the caller also checks the source address.

use dns_parser::{Packet, QueryType, RData, ResponseCode};
use std::net::IpAddr;

/// Record types we ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RecordType {
    /// IPv4 addresses.
    A,
    /// IPv6 addresses.
    Aaaa,
}

impl RecordType {
    fn code(self) -> u16 {
        match self {
            RecordType::A => 1,
            RecordType::Aaaa => 28,
        }
    }
    /// "A" or "AAAA".
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
        }
    }
}

/// Why a name cannot be queried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidName(pub String);

/// Lowercases a host name, drops one trailing dot, and checks it against
/// RFC 1035 limits: labels of 1–63 bytes, 253 characters in all, letters,
/// digits, `-` and `_` only.
pub fn normalize_name(name: &str) -> Result<String, InvalidName> {
    let n = name.strip_suffix('.').unwrap_or(name);
    if n.is_empty() {
        return Err(InvalidName("empty name".into()));
    }
    if n.len() > 253 {
        return Err(InvalidName(format!(
            "name of {} characters (max 253)",
            n.len()
        )));
    }
    for label in n.split('.') {
        if label.is_empty() {
            return Err(InvalidName(format!("empty label in {n:?}")));
        }
        if label.len() > 63 {
            return Err(InvalidName(format!(
                "label of {} bytes (max 63) in {n:?}",
                label.len()
            )));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(InvalidName(format!("bad character in {n:?}")));
        }
    }
    Ok(n.to_ascii_lowercase())
}

/// Encodes a recursive query for a name already through [`normalize_name`]:
/// one question, class IN, no EDNS0 (answers stay within 512 bytes, and a
/// truncated one is retried over TCP).
pub fn encode_query(out: &mut Vec<u8>, id: u16, name: &str, rtype: RecordType) {
    out.clear();
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&[0x01, 0x00]); // RD
    out.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1, AN=NS=AR=0
    for label in name.split('.') {
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out.extend_from_slice(&rtype.code().to_be_bytes());
    out.extend_from_slice(&[0, 1]); // IN
}

/// What a checked answer says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Addresses (possibly none: the name exists without this record type),
    /// with the TTL to cache them for (the smallest on the path).
    Addresses(Vec<IpAddr>, u32),
    /// The name does not exist; cache that for this long (SOA minimum).
    NxDomain(u32),
    /// The server failed or refused: ask another one.
    ServerFailure(&'static str),
    /// Truncated: ask again over TCP.
    Truncated,
    /// The name is an alias (CNAME) whose target's records of this type are
    /// not in the answer (and no SOA says there are none): ask for the
    /// target, as stub resolvers do. With the smallest TTL on the path.
    Alias(String, u32),
}

/// Why a datagram was not accepted as the answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rejected {
    /// Not ours: wrong ID, not a response, or a different question.
    /// Possibly forged; dropped and counted.
    Mismatch(&'static str),
    /// Ours by ID but unparsable (garbage, a record type dns-parser cannot
    /// read, a cut datagram without TC).
    Malformed(String),
}

/// The ID in a message's first two bytes, if it has them.
pub fn message_id(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.first()?, *msg.get(1)?]))
}

/// Checks `msg` against the query (`id`, `name`, `rtype`) and reads it.
pub fn check_answer(
    msg: &[u8],
    id: u16,
    name: &str,
    rtype: RecordType,
) -> Result<Answer, Rejected> {
    if check_header(msg, id)? {
        // TC: the rest may be cut anywhere; only the header is trusted.
        return Ok(Answer::Truncated);
    }
    let packet = Packet::parse(msg).map_err(|e| Rejected::Malformed(format!("{e}")))?;
    let [q] = packet.questions.as_slice() else {
        return Err(Rejected::Mismatch("not exactly one question"));
    };
    let qname = q.qname.to_string();
    let expected_type = match rtype {
        RecordType::A => QueryType::A,
        RecordType::Aaaa => QueryType::AAAA,
    };
    if !qname.trim_end_matches('.').eq_ignore_ascii_case(name) || q.qtype != expected_type {
        return Err(Rejected::Mismatch("different question"));
    }
    if let Some(answer) = rcode_answer(&packet) {
        return Ok(answer);
    }
    Ok(follow_chain(&packet, name, rtype))
}

/// The header: long enough, our ID, a response. True when truncated (TC).
fn check_header(msg: &[u8], id: u16) -> Result<bool, Rejected> {
    if msg.len() < 12 {
        return Err(Rejected::Malformed(format!(
            "{} bytes, shorter than a header",
            msg.len()
        )));
    }
    if message_id(msg) != Some(id) {
        return Err(Rejected::Mismatch("wrong id"));
    }
    if msg[2] & 0x80 == 0 {
        return Err(Rejected::Mismatch("not a response"));
    }
    Ok(msg[2] & 0x02 != 0)
}

/// The answer a response code gives by itself (none for NOERROR).
fn rcode_answer(packet: &Packet<'_>) -> Option<Answer> {
    Some(match packet.header.response_code {
        ResponseCode::NoError => return None,
        ResponseCode::NameError => Answer::NxDomain(soa_minimum(packet)),
        ResponseCode::ServerFailure => Answer::ServerFailure("server failure"),
        ResponseCode::Refused => Answer::ServerFailure("refused"),
        ResponseCode::FormatError => Answer::ServerFailure("format error"),
        ResponseCode::NotImplemented => Answer::ServerFailure("not implemented"),
        ResponseCode::Reserved(_) => Answer::ServerFailure("unknown response code"),
    })
}

/// Does record `rr` belong to `name`?
fn owned_by(rr: &dns_parser::ResourceRecord<'_>, name: &str) -> bool {
    rr.name
        .to_string()
        .trim_end_matches('.')
        .eq_ignore_ascii_case(name)
}

/// Follows the CNAME chain inside the answer, from the question's name, to
/// the addresses of `rtype` (at most 16 links).
fn follow_chain(packet: &Packet<'_>, name: &str, rtype: RecordType) -> Answer {
    let mut current = name.to_string();
    let mut ttl = u32::MAX;
    for _ in 0..16 {
        let mut addrs = Vec::new();
        for rr in packet.answers.iter().filter(|rr| owned_by(rr, &current)) {
            match (&rr.data, rtype) {
                (RData::A(a), RecordType::A) => addrs.push(IpAddr::V4(a.0)),
                (RData::AAAA(a), RecordType::Aaaa) => addrs.push(IpAddr::V6(a.0)),
                _ => continue,
            }
            ttl = ttl.min(rr.ttl);
        }
        if !addrs.is_empty() {
            return Answer::Addresses(addrs, ttl);
        }
        let next = packet.answers.iter().find_map(|rr| match &rr.data {
            RData::CNAME(c) if owned_by(rr, &current) => Some((c.0.to_string(), rr.ttl)),
            _ => None,
        });
        match next {
            Some((target, t)) => {
                current = target.trim_end_matches('.').to_string();
                ttl = ttl.min(t);
            }
            None => break,
        }
    }
    let has_soa = packet
        .nameservers
        .iter()
        .any(|rr| matches!(rr.data, RData::SOA(_)));
    if current != name && !has_soa {
        // The chain leads out of the answer: the target is to be asked.
        return Answer::Alias(current, ttl);
    }
    // The name exists but has no record of this type: an empty, cacheable
    // answer.
    let neg = soa_minimum(packet);
    Answer::Addresses(Vec::new(), neg.min(ttl))
}

/// The negative-caching TTL of a negative answer: its SOA's minimum (RFC
/// 2308 §5), or 0 without an SOA.
fn soa_minimum(packet: &Packet<'_>) -> u32 {
    packet
        .nameservers
        .iter()
        .find_map(|rr| match &rr.data {
            RData::SOA(soa) => Some(soa.minimum_ttl.min(rr.ttl)),
            _ => None,
        })
        .unwrap_or(0)
}

/// Builds an answer message (for test and demo nameservers): the question
/// of `query` echoed, with A/AAAA records of `ttl`, or an rcode.
pub fn build_answer(query: &[u8], rcode: u8, addrs: &[IpAddr], ttl: u32) -> Option<Vec<u8>> {
    if query.len() < 12 {
        return None;
    }
    // The question: from byte 12 to the end of QNAME + 4.
    let mut i = 12;
    loop {
        let len = *query.get(i)? as usize;
        if len == 0 {
            i += 1;
            break;
        }
        if len > 63 {
            return None;
        }
        i += 1 + len;
    }
    let question = query.get(12..i + 4)?;
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[0..2]);
    out.push(0x81 | (query[2] & 0x01)); // QR, opcode 0, RD copied
    out.push(0x80 | (rcode & 0x0f)); // RA
    out.extend_from_slice(&[0, 1]);
    out.extend_from_slice(&(addrs.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for ip in addrs {
        out.extend_from_slice(&[0xc0, 12]); // pointer to the question's name
        match ip {
            IpAddr::V4(v4) => {
                out.extend_from_slice(&[0, 1, 0, 1]);
                out.extend_from_slice(&ttl.to_be_bytes());
                out.extend_from_slice(&[0, 4]);
                out.extend_from_slice(&v4.octets());
            }
            IpAddr::V6(v6) => {
                out.extend_from_slice(&[0, 28, 0, 1]);
                out.extend_from_slice(&ttl.to_be_bytes());
                out.extend_from_slice(&[0, 16]);
                out.extend_from_slice(&v6.octets());
            }
        }
    }
    Some(out)
}

/// The question of a query: (lowercase name, type code).
pub fn query_question(query: &[u8]) -> Option<(String, u16)> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        if len > 63 {
            return None;
        }
        labels.push(
            std::str::from_utf8(query.get(i..i + len)?)
                .ok()?
                .to_ascii_lowercase(),
        );
        i += len;
    }
    let t = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    Some((labels.join("."), t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated_not_panicked_on() {
        let l63 = "a".repeat(63);
        assert_eq!(
            normalize_name(&format!("{l63}.Example.COM.")).unwrap(),
            format!("{l63}.example.com")
        );
        assert!(normalize_name(&format!("{}.com", "a".repeat(64))).is_err());
        assert!(normalize_name("a..b").is_err());
        assert!(normalize_name("").is_err());
        assert!(normalize_name(".").is_err());
        assert!(normalize_name("bad name").is_err());
        assert!(normalize_name(&"a.".repeat(128)).is_err());
        assert!(normalize_name("_srv.x-y.example").is_ok());
    }

    #[test]
    fn a_query_with_a_63_byte_label_round_trips_through_dns_parser() {
        let name = format!("{}.example.test", "x".repeat(63));
        let mut q = Vec::new();
        encode_query(&mut q, 0xbeef, &name, RecordType::A);
        let p = Packet::parse(&q).unwrap();
        assert_eq!(p.header.id, 0xbeef);
        assert!(p.header.query && p.header.recursion_desired);
        assert_eq!(p.questions[0].qname.to_string(), name);
        assert_eq!(p.questions[0].qtype, QueryType::A);
        assert_eq!(query_question(&q), Some((name, 1)));
    }

    fn answer_for(name: &str, rtype: RecordType, addrs: &[IpAddr]) -> Vec<u8> {
        let mut q = Vec::new();
        encode_query(&mut q, 7, name, rtype);
        build_answer(&q, 0, addrs, 300).unwrap()
    }

    #[test]
    fn answers_are_checked_and_read() {
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = answer_for("host.test", RecordType::A, &[ip]);
        assert_eq!(
            check_answer(&a, 7, "host.test", RecordType::A),
            Ok(Answer::Addresses(vec![ip], 300))
        );
        // Case-insensitive question match (0x20 style mixed case).
        let a = answer_for("HoSt.TeSt", RecordType::A, &[ip]);
        assert!(matches!(
            check_answer(&a, 7, "host.test", RecordType::A),
            Ok(Answer::Addresses(..))
        ));
        assert_eq!(
            check_answer(&a, 8, "host.test", RecordType::A),
            Err(Rejected::Mismatch("wrong id"))
        );
        assert_eq!(
            check_answer(&a, 7, "other.test", RecordType::A),
            Err(Rejected::Mismatch("different question"))
        );
        assert_eq!(
            check_answer(&a, 7, "host.test", RecordType::Aaaa),
            Err(Rejected::Mismatch("different question"))
        );
        let mut q = Vec::new();
        encode_query(&mut q, 7, "host.test", RecordType::A);
        assert_eq!(
            check_answer(&q, 7, "host.test", RecordType::A),
            Err(Rejected::Mismatch("not a response"))
        );
        let nx = build_answer(&q, 3, &[], 0).unwrap();
        assert_eq!(
            check_answer(&nx, 7, "host.test", RecordType::A),
            Ok(Answer::NxDomain(0))
        );
        let sf = build_answer(&q, 2, &[], 0).unwrap();
        assert!(matches!(
            check_answer(&sf, 7, "host.test", RecordType::A),
            Ok(Answer::ServerFailure(_))
        ));
        let mut tc = build_answer(&q, 0, &[], 0).unwrap();
        tc[2] |= 0x02;
        tc.truncate(20);
        assert_eq!(
            check_answer(&tc, 7, "host.test", RecordType::A),
            Ok(Answer::Truncated)
        );
        assert!(matches!(
            check_answer(&a[..a.len() - 3], 7, "host.test", RecordType::A),
            Err(Rejected::Malformed(_))
        ));
    }

    #[test]
    fn cname_chains_are_followed() {
        // host.test CNAME mid.test; mid.test CNAME end.test; end.test A 192.0.2.9
        let mut q = Vec::new();
        encode_query(&mut q, 1, "host.test", RecordType::A);
        let mut m = build_answer(&q, 0, &[], 0).unwrap();
        m[7] = 3; // three answers
        let name = |n: &str| {
            let mut v = Vec::new();
            for l in n.split('.') {
                v.push(l.len() as u8);
                v.extend_from_slice(l.as_bytes());
            }
            v.push(0);
            v
        };
        let rr = |m: &mut Vec<u8>, owner: &str, t: u16, ttl: u32, data: Vec<u8>| {
            m.extend(name(owner));
            m.extend_from_slice(&t.to_be_bytes());
            m.extend_from_slice(&[0, 1]);
            m.extend_from_slice(&ttl.to_be_bytes());
            m.extend_from_slice(&(data.len() as u16).to_be_bytes());
            m.extend(data);
        };
        rr(&mut m, "host.test", 5, 600, name("mid.test"));
        rr(&mut m, "mid.test", 5, 100, name("end.test"));
        let without_target = m.clone();
        rr(&mut m, "end.test", 1, 300, vec![192, 0, 2, 9]);
        assert_eq!(
            check_answer(&m, 1, "host.test", RecordType::A),
            Ok(Answer::Addresses(vec!["192.0.2.9".parse().unwrap()], 100))
        );
        // The same chain without end.test's address: ask for end.test.
        let mut cut = without_target;
        cut[7] = 2;
        assert_eq!(
            check_answer(&cut, 1, "host.test", RecordType::A),
            Ok(Answer::Alias("end.test".into(), 100))
        );
    }

    /// Random and mutated inputs: never a panic.
    #[test]
    fn fuzz_answers_and_names() {
        let mut x: u64 = 0x1234_5678_9abc_def1;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let base = answer_for("host.test", RecordType::A, &[ip, ip]);
        for _ in 0..200_000 {
            let mut m = base.clone();
            match rnd() % 4 {
                0 => {
                    let i = (rnd() as usize) % m.len();
                    m[i] = rnd() as u8;
                }
                1 => m.truncate((rnd() as usize) % m.len()),
                2 => {
                    for _ in 0..(rnd() % 8) {
                        let i = (rnd() as usize) % m.len();
                        m[i] ^= 1 << (rnd() % 8);
                    }
                }
                _ => {
                    m = (0..(rnd() % 600)).map(|_| rnd() as u8).collect();
                    if m.len() > 2 && rnd() % 2 == 0 {
                        m[0] = 0;
                        m[1] = 7;
                    }
                }
            }
            let _ = check_answer(&m, 7, "host.test", RecordType::A);
            let _ = query_question(&m);
            let _ = build_answer(&m, 0, &[ip], 1);
        }
        let mut out = Vec::new();
        for _ in 0..50_000 {
            let len = (rnd() % 300) as usize;
            let s: String = (0..len)
                .map(|_| b"abc.-_X9\xc3\0 "[(rnd() % 11) as usize] as char)
                .collect();
            if let Ok(n) = normalize_name(&s) {
                encode_query(&mut out, rnd() as u16, &n, RecordType::A);
                let p = Packet::parse(&out).expect("our queries parse");
                assert_eq!(p.questions[0].qname.to_string(), n);
            }
        }
    }
}
