//! Reading the module's `image_filter_rs_status` page: a small strict JSON
//! parser (the test package keeps its dependencies few, and a malformed
//! page should fail loudly rather than be half-read) and typed access to one
//! cache zone's counters, which tests use as proof of what happened inside
//! nginx (`generated == 1` after a herd, `evictions > 0`, ...).

use crate::nginx::Nginx;
use crate::wait::try_wait_until;
use std::time::Duration;

/// A parsed JSON value. Numbers keep their text so that 64-bit counters are
/// read exactly.
#[derive(Clone, Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    Number(String),
    String(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `name` of an object.
    pub fn get(&self, name: &str) -> Option<&Json> {
        match self {
            Json::Object(members) => members.iter().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Parses a complete JSON document (surrounding whitespace allowed).
pub fn parse_json(text: &str) -> Result<Json, String> {
    let mut p = Parser {
        bytes: text.as_bytes(),
        at: 0,
    };
    let value = p.value()?;
    p.skip_ws();
    if p.at != p.bytes.len() {
        return Err(format!("trailing bytes at offset {}", p.at));
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.at < self.bytes.len() && self.bytes[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        self.skip_ws();
        if self.bytes.get(self.at) == Some(&b) {
            self.at += 1;
            Ok(())
        } else {
            Err(format!("expected {:?} at offset {}", b as char, self.at))
        }
    }

    fn literal(&mut self, word: &str, value: Json) -> Result<Json, String> {
        if self.bytes[self.at..].starts_with(word.as_bytes()) {
            self.at += word.len();
            Ok(value)
        } else {
            Err(format!("bad literal at offset {}", self.at))
        }
    }

    fn value(&mut self) -> Result<Json, String> {
        self.skip_ws();
        match self.bytes.get(self.at) {
            None => Err("unexpected end of JSON".into()),
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => self.string().map(Json::String),
            Some(b't') => self.literal("true", Json::Bool(true)),
            Some(b'f') => self.literal("false", Json::Bool(false)),
            Some(b'n') => self.literal("null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(&b) => Err(format!("unexpected {:?} at offset {}", b as char, self.at)),
        }
    }

    fn object(&mut self) -> Result<Json, String> {
        self.expect(b'{')?;
        let mut members = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
            return Ok(Json::Object(members));
        }
        loop {
            self.skip_ws();
            let key = self.string()?;
            self.expect(b':')?;
            let value = self.value()?;
            if members.iter().any(|(k, _)| *k == key) {
                return Err(format!("duplicate key {key:?}"));
            }
            members.push((key, value));
            self.skip_ws();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b'}') => {
                    self.at += 1;
                    return Ok(Json::Object(members));
                }
                _ => return Err(format!("expected ',' or '}}' at offset {}", self.at)),
            }
        }
    }

    fn array(&mut self) -> Result<Json, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_ws();
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
            return Ok(Json::Array(items));
        }
        loop {
            items.push(self.value()?);
            self.skip_ws();
            match self.bytes.get(self.at) {
                Some(b',') => self.at += 1,
                Some(b']') => {
                    self.at += 1;
                    return Ok(Json::Array(items));
                }
                _ => return Err(format!("expected ',' or ']' at offset {}", self.at)),
            }
        }
    }

    fn string(&mut self) -> Result<String, String> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return Err(format!("expected a string at offset {}", self.at));
        }
        self.at += 1;
        let mut out = Vec::new();
        loop {
            match self.bytes.get(self.at) {
                None => return Err("unterminated string".into()),
                Some(b'"') => {
                    self.at += 1;
                    return String::from_utf8(out).map_err(|_| "string is not UTF-8".into());
                }
                Some(b'\\') if self.bytes.get(self.at + 1) == Some(&b'u') => {
                    // The browser's DevTools messages escape with \u.
                    let c = self.unicode_escape()?;
                    out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                }
                Some(b'\\') => {
                    let esc = *self.bytes.get(self.at + 1).ok_or("unterminated escape")?;
                    let c = match esc {
                        b'"' => b'"',
                        b'\\' => b'\\',
                        b'/' => b'/',
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        b'b' => 8,
                        b'f' => 12,
                        _ => return Err(format!("unsupported escape at offset {}", self.at)),
                    };
                    out.push(c);
                    self.at += 2;
                }
                Some(&b) if b < 0x20 => {
                    return Err(format!("control character in string at {}", self.at))
                }
                Some(&b) => {
                    out.push(b);
                    self.at += 1;
                }
            }
        }
    }

    /// `\uXXXX`, or a surrogate pair of two, at the cursor.
    fn unicode_escape(&mut self) -> Result<char, String> {
        let unit = |p: &Self, at: usize| -> Result<u32, String> {
            let hex = p
                .bytes
                .get(at + 2..at + 6)
                .and_then(|h| std::str::from_utf8(h).ok())
                .ok_or("short \\u escape")?;
            u32::from_str_radix(hex, 16).map_err(|_| format!("bad \\u escape at offset {at}"))
        };
        let first = unit(self, self.at)?;
        self.at += 6;
        let code = if (0xD800..0xDC00).contains(&first) {
            if self.bytes.get(self.at..self.at + 2) != Some(b"\\u") {
                return Err(format!("lone surrogate at offset {}", self.at));
            }
            let second = unit(self, self.at)?;
            self.at += 6;
            0x10000 + ((first - 0xD800) << 10) + (second.wrapping_sub(0xDC00) & 0x3FF)
        } else {
            first
        };
        char::from_u32(code).ok_or_else(|| format!("bad code point before offset {}", self.at))
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.at;
        while self.at < self.bytes.len()
            && matches!(
                self.bytes[self.at],
                b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'
            )
        {
            self.at += 1;
        }
        let text = std::str::from_utf8(&self.bytes[start..self.at]).expect("ASCII digits");
        text.parse::<f64>()
            .map_err(|_| format!("bad number {text:?} at offset {start}"))?;
        Ok(Json::Number(text.to_string()))
    }
}

/// One cache zone's figures from the status page.
#[derive(Clone, Debug)]
pub struct CacheStats {
    pub zone: String,
    fields: Json,
    /// The whole page, for assertion messages.
    pub raw: String,
}

impl CacheStats {
    /// Parses the status page and picks `zone`; panics, showing the page,
    /// when it is not valid JSON or lacks the zone.
    pub fn parse(page: &str, zone: &str) -> CacheStats {
        let json = parse_json(page)
            .unwrap_or_else(|e| panic!("status page is not valid JSON ({e}):\n{page}"));
        let fields = json
            .get("caches")
            .and_then(|c| c.get(zone))
            .cloned()
            .unwrap_or_else(|| panic!("status page has no caches.{zone}:\n{page}"));
        CacheStats {
            zone: zone.to_string(),
            fields,
            raw: page.to_string(),
        }
    }

    /// A counter or size; panics, showing the page, if it is absent or not a
    /// whole number.
    pub fn get(&self, name: &str) -> u64 {
        match self.fields.get(name) {
            Some(Json::Number(n)) => n.parse().unwrap_or_else(|_| {
                panic!(
                    "caches.{}.{name} = {n} is not a whole number:\n{}",
                    self.zone, self.raw
                )
            }),
            other => panic!(
                "caches.{}.{name} should be a number, is {other:?}:\n{}",
                self.zone, self.raw
            ),
        }
    }

    /// `loaded`: whether the cache manager has indexed the directory.
    pub fn loaded(&self) -> bool {
        match self.fields.get("loaded") {
            Some(Json::Bool(b)) => *b,
            other => panic!(
                "caches.{}.loaded should be a boolean, is {other:?}:\n{}",
                self.zone, self.raw
            ),
        }
    }

    /// `max_size`: a number, or null when the cache has none.
    pub fn max_size(&self) -> Option<u64> {
        match self.fields.get("max_size") {
            Some(Json::Null) => None,
            Some(Json::Number(_)) => Some(self.get("max_size")),
            other => panic!(
                "caches.{}.max_size should be a number or null, is {other:?}:\n{}",
                self.zone, self.raw
            ),
        }
    }
}

/// GETs the status page at `path` and returns `zone`'s figures. The page
/// must be a 200 with a JSON content type.
pub fn fetch(nginx: &Nginx, path: &str, zone: &str) -> CacheStats {
    let resp = nginx.get(path);
    resp.assert_status(200);
    assert_eq!(
        resp.header("Content-Type"),
        Some("application/json"),
        "{}",
        resp.describe()
    );
    CacheStats::parse(&String::from_utf8_lossy(&resp.body), zone)
}

/// Polls the status page until `cond` holds; panics with the last page and
/// nginx's report on timeout.
pub fn wait_for(
    nginx: &Nginx,
    path: &str,
    zone: &str,
    what: &str,
    deadline: Duration,
    mut cond: impl FnMut(&CacheStats) -> bool,
) -> CacheStats {
    let mut last = None;
    let got = try_wait_until(deadline, || {
        let stats = fetch(nginx, path, zone);
        let ok = cond(&stats);
        last = Some(stats.raw.clone());
        ok.then_some(stats)
    });
    got.unwrap_or_else(|| {
        panic!(
            "timed out after {deadline:?} waiting for {what}; last status page:\n{}\n{}",
            last.unwrap_or_default(),
            nginx.report()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PAGE: &str = "{\"caches\":{\"thumbs\":{\"entries\":3,\"capacity\":9000,\
        \"size\":12345,\"max_size\":null,\"loaded\":true,\"hits\":18446744073709551615}}}\n";

    #[test]
    fn reads_counters_exactly() {
        let s = CacheStats::parse(PAGE, "thumbs");
        assert_eq!(s.get("entries"), 3);
        assert_eq!(s.get("hits"), u64::MAX);
        assert_eq!(s.max_size(), None);
        assert!(s.loaded());
    }

    #[test]
    fn rejects_malformed_json() {
        assert!(parse_json("{\"a\":1,}").is_err());
        assert!(parse_json("{\"a\":1} x").is_err());
        assert!(parse_json("{\"a\":1,\"a\":2}").is_err());
        assert!(parse_json("{\"a\":tru}").is_err());
        assert_eq!(
            parse_json(" [1, \"x\\\"y\", false] ").unwrap(),
            Json::Array(vec![
                Json::Number("1".into()),
                Json::String("x\"y".into()),
                Json::Bool(false)
            ])
        );
    }

    #[test]
    #[should_panic(expected = "no caches.other")]
    fn a_missing_zone_is_an_error() {
        CacheStats::parse(PAGE, "other");
    }
}
