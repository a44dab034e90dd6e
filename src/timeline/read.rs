//! Reading an events file: flat JSON objects, one a line, parsed by hand
//! (the only shape the crawler writes).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader};

/// A JSON value of our flat event objects.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Str(String),
    Num(f64),
    Other,
}

/// Parses one flat JSON object (`{"k":v,...}` with string, number, boolean
/// or null values): the events file's only shape.
pub(super) fn parse_object(line: &str) -> Option<HashMap<String, Value>> {
    let mut chars = line.trim().chars().peekable();
    let mut map = HashMap::new();
    if chars.next()? != '{' {
        return None;
    }
    fn string(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<String> {
        let mut s = String::new();
        loop {
            match chars.next()? {
                '"' => return Some(s),
                '\\' => match chars.next()? {
                    'n' => s.push('\n'),
                    't' => s.push('\t'),
                    'r' => s.push('\r'),
                    'u' => {
                        let hex: String = (0..4).filter_map(|_| chars.next()).collect();
                        s.push(char::from_u32(u32::from_str_radix(&hex, 16).ok()?)?);
                    }
                    c => s.push(c),
                },
                c => s.push(c),
            }
        }
    }
    loop {
        match chars.next()? {
            '}' => return Some(map),
            ',' | ' ' => continue,
            '"' => {
                let key = string(&mut chars)?;
                if chars.next()? != ':' {
                    return None;
                }
                let value = match chars.peek()? {
                    '"' => {
                        chars.next();
                        Value::Str(string(&mut chars)?)
                    }
                    _ => {
                        let mut raw = String::new();
                        while let Some(&c) = chars.peek() {
                            if c == ',' || c == '}' {
                                break;
                            }
                            raw.push(c);
                            chars.next();
                        }
                        raw.trim().parse().map_or(Value::Other, Value::Num)
                    }
                };
                map.insert(key, value);
            }
            _ => return None,
        }
    }
}

/// One event line, the fields the timeline needs.
pub(super) struct Ev {
    pub t: f64,
    pub kind: String,
    pub fields: HashMap<String, Value>,
}

impl Ev {
    pub fn num(&self, k: &str) -> Option<f64> {
        match self.fields.get(k) {
            Some(Value::Num(n)) => Some(*n),
            _ => None,
        }
    }
    pub fn str(&self, k: &str) -> Option<&str> {
        match self.fields.get(k) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }
}

/// Reads the events file, calling `each` per event. A last line that is
/// not a whole event (what a crawl killed while writing leaves) ends the
/// reading: returns true then; a bad line elsewhere is an error.
pub(super) fn read_events(path: &str, mut each: impl FnMut(Ev)) -> io::Result<bool> {
    let reader = BufReader::new(File::open(path)?);
    let mut lines = reader.lines().enumerate().peekable();
    while let Some((n, line)) = lines.next() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let Some(fields) = parse_object(&line) else {
            if lines.peek().is_none() {
                return Ok(true);
            }
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line {}: not an event object", n + 1),
            ));
        };
        let t = match fields.get("t") {
            Some(Value::Num(t)) => *t,
            _ => continue,
        };
        let kind = match fields.get("type") {
            Some(Value::Str(k)) => k.clone(),
            _ => continue,
        };
        each(Ev { t, kind, fields });
    }
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_objects_parse() {
        let o = parse_object(
            r#"{"t":12,"type":"stall","took":3000,"url":"http://a/\"x\"\u0041","ok":true}"#,
        )
        .unwrap();
        assert_eq!(o["t"], Value::Num(12.0));
        assert_eq!(o["url"], Value::Str("http://a/\"x\"A".into()));
        assert_eq!(o["ok"], Value::Other);
        assert!(parse_object("not json").is_none());
        assert!(parse_object(r#"{"t":1"#).is_none());
    }
}
