//! Prefixes and the URLs made from them: `PREFIX` is split once into host,
//! port, path and query; each request target is the prefix's path, the
//! original's relative path (percent-encoded), then the prefix's query.
//!
//! The relative path goes before the `?` because nginx maps the path to the
//! original (`alias`) and reads the size from the query (`image_filter_rs
//! query`, `$arg_w`): `http://h/t/?w=320&h=240` and `a b.jpg` make
//! `/t/a%20b.jpg?w=320&h=240`.

use std::fmt;

/// A parsed `http://` prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prefix {
    /// What the user typed, for messages.
    pub text: String,
    /// The authority as typed (`127.0.0.1:8080`, `[::1]:8080`): the Host header.
    pub authority: String,
    /// The host to connect to, without IPv6 brackets.
    pub host: String,
    pub port: u16,
    /// The path part, as typed (already in URL form); `/` when empty.
    pub path: String,
    /// The query without its `?`, if any.
    pub query: Option<String>,
}

/// Why a prefix was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixError(pub String);

impl fmt::Display for PrefixError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Prefix {
    pub fn parse(text: &str) -> Result<Prefix, PrefixError> {
        let err = |why: &str| Err(PrefixError(format!("{text}: {why}")));
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("https://") {
            // No TLS in plain std, and warming goes to the nginx next to the
            // files anyway: its plain listener (or one on 127.0.0.1) is the
            // cheap way in.
            return err(
                "https is not supported; use nginx's plain http:// listener \
                 (for example one on 127.0.0.1)",
            );
        }
        if !lower.starts_with("http://") {
            return err("not an http:// URL");
        }
        let rest = &text["http://".len()..];
        if rest.contains('#') {
            return err("a fragment (#) is never sent to the server");
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(split);
        if authority.is_empty() {
            return err("no host");
        }
        if authority.contains('@') {
            return err("user information (user@host) is not supported");
        }
        let (host, port) =
            split_host_port(authority).map_err(|why| PrefixError(format!("{text}: {why}")))?;
        let (path, query) = match tail.split_once('?') {
            Some((p, q)) => (p, Some(q.to_string())),
            None => (tail, None),
        };
        // `http://host:8080?w=1` has no path; the request target needs one.
        let path = if path.is_empty() { "/" } else { path };
        if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return err("spaces and control characters must be percent-encoded");
        }
        Ok(Prefix {
            text: text.to_string(),
            authority: authority.to_string(),
            host,
            port,
            path: path.to_string(),
            query,
        })
    }

    /// The request target for one original: `path` + encoded `rel` + `?query`.
    pub fn target(&self, encoded_rel: &str) -> String {
        let mut out = String::with_capacity(self.path.len() + encoded_rel.len() + 32);
        out.push_str(&self.path);
        out.push_str(encoded_rel);
        if let Some(q) = &self.query {
            out.push('?');
            out.push_str(q);
        }
        out
    }

    /// The full URL for one original, for messages.
    pub fn url(&self, encoded_rel: &str) -> String {
        format!("http://{}{}", self.authority, self.target(encoded_rel))
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unclosed [ in the host".to_string())?;
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => return Err("junk after the IPv6 address".into()),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    let port = match port {
        None => 80,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or_else(|| format!("bad port {p:?}"))?,
    };
    Ok((host.to_string(), port))
}

/// Percent-encodes a relative path's bytes: RFC 3986's unreserved
/// characters and `/` stay, every other byte becomes `%XX`. Encoding more
/// than strictly needed is harmless (nginx decodes before mapping to a
/// file), and encoding `?`, `#`, `%`, `;`, spaces and non-ASCII bytes is
/// required for the path to reach the right file.
pub fn encode_path(rel: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(rel.len());
    for &b in rel {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[(b >> 4) as usize] as char);
            out.push(HEX[(b & 15) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_prefix_gets_the_path_appended() {
        let p = Prefix::parse("http://127.0.0.1:8080/thumb/").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("127.0.0.1", 8080));
        assert_eq!(p.authority, "127.0.0.1:8080");
        assert_eq!(p.target("a/b.jpg"), "/thumb/a/b.jpg");
        assert_eq!(p.url("a/b.jpg"), "http://127.0.0.1:8080/thumb/a/b.jpg");
    }

    #[test]
    fn the_relative_path_goes_before_the_query() {
        let p = Prefix::parse("http://127.0.0.1:8080/t/?w=320&h=240").unwrap();
        assert_eq!(p.query.as_deref(), Some("w=320&h=240"));
        assert_eq!(p.target("a.jpg"), "/t/a.jpg?w=320&h=240");
        // An empty query is kept as typed.
        let p = Prefix::parse("http://h/t/?").unwrap();
        assert_eq!(p.target("a.jpg"), "/t/a.jpg?");
    }

    #[test]
    fn hosts_ports_and_empty_paths() {
        let p = Prefix::parse("http://example.com").unwrap();
        assert_eq!(
            (p.host.as_str(), p.port, p.path.as_str()),
            ("example.com", 80, "/")
        );
        let p = Prefix::parse("HTTP://[::1]:8081?w=1").unwrap();
        assert_eq!((p.host.as_str(), p.port), ("::1", 8081));
        assert_eq!(p.authority, "[::1]:8081");
        assert_eq!(p.target("x.jpg"), "/x.jpg?w=1");
    }

    #[test]
    fn refuses_https_and_other_urls() {
        let e = Prefix::parse("https://example.com/t/").unwrap_err();
        assert!(e.0.contains("https is not supported"), "{e}");
        for bad in [
            "ftp://h/",
            "127.0.0.1:8080/t/",
            "http:///t/",
            "http://h:0/",
            "http://h:99999/",
            "http://h:x/",
            "http://u@h/",
            "http://h/t/#x",
            "http://h/a b/",
            "http://[::1/",
        ] {
            assert!(Prefix::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn percent_encodes_all_but_unreserved_and_slash() {
        assert_eq!(encode_path(b"a/B-9._~.jpg"), "a/B-9._~.jpg");
        assert_eq!(encode_path(b"d e.jpg"), "d%20e.jpg");
        assert_eq!(
            encode_path(b"100%?#;+&=.jpg"),
            "100%25%3F%23%3B%2B%26%3D.jpg"
        );
        assert_eq!(encode_path("é.jpg".as_bytes()), "%C3%A9.jpg");
        assert_eq!(encode_path(b"\xff\x00"), "%FF%00");
    }
}
