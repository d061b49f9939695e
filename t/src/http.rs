//! A deliberately tiny HTTP/1.1 client over `std::net::TcpStream`.
//!
//! Tests need to control the exact request bytes (methods, validators,
//! Range, odd headers) and to see exactly what nginx sent back (a body on a
//! HEAD, a short body, chunking where a Content-Length was expected), which a
//! full client crate would smooth over. Every request uses
//! `Connection: close` and the response is read to EOF.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

/// How long a test waits for any single read before declaring nginx hung.
/// Generous, because a thumbnail of a 20 MP photo on a loaded two-core
/// machine can take seconds, but finite so a hang fails instead of blocking.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// One request to send to 127.0.0.1:<port>.
#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    /// A request with any method.
    pub fn new(method: &str, path: &str) -> Self {
        Request {
            method: method.to_string(),
            path: path.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn get(path: &str) -> Self {
        Self::new("GET", path)
    }

    pub fn head(path: &str) -> Self {
        Self::new("HEAD", path)
    }

    /// Adds a request header, sent verbatim in the given order.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// Adds the header only when there is a value: for a request made with
    /// and without it, such as one with and without `Accept`.
    pub fn optional_header(self, name: &str, value: Option<&str>) -> Self {
        match value {
            Some(value) => self.header(name, value),
            None => self,
        }
    }

    /// Sets a body; a Content-Length header is added when sending.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The exact bytes put on the wire.
    pub fn to_bytes(&self, port: u16) -> Vec<u8> {
        let mut out = format!("{} {} HTTP/1.1\r\n", self.method, self.path);
        let has = |n: &str| self.headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(n));
        if !has("Host") {
            out.push_str(&format!("Host: 127.0.0.1:{port}\r\n"));
        }
        if !has("Connection") {
            out.push_str("Connection: close\r\n");
        }
        // Methods that normally carry a body get a length even when it is
        // empty, so nginx never waits for a body that will not come.
        let wants_length =
            !self.body.is_empty() || matches!(self.method.as_str(), "POST" | "PUT" | "PATCH");
        if wants_length && !has("Content-Length") {
            out.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        for (k, v) in &self.headers {
            out.push_str(&format!("{k}: {v}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }

    /// Sends the request and parses the response; an I/O or protocol error
    /// is returned rather than panicking, for tests that expect failure.
    pub fn try_send(&self, port: u16) -> io::Result<Response> {
        let raw = exchange(port, &self.to_bytes(port))?;
        Response::parse(&raw, self.method == "HEAD")
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// Sends the request; panics with the request line on any failure.
    pub fn send(&self, port: u16) -> Response {
        self.try_send(port).unwrap_or_else(|e| {
            panic!(
                "{} {} on 127.0.0.1:{port} failed: {e}",
                self.method, self.path
            )
        })
    }
}

/// Shorthand: GET `path`.
pub fn get(port: u16, path: &str) -> Response {
    Request::get(path).send(port)
}

/// Shorthand: HEAD `path`.
pub fn head(port: u16, path: &str) -> Response {
    Request::head(path).send(port)
}

/// Sends each request from its own thread, all released together by a
/// barrier, and returns the outcomes in the same order: for herds and
/// saturation, where the requests must really be in nginx at once.
pub fn concurrent(port: u16, requests: &[Request]) -> Vec<io::Result<Response>> {
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(requests.len()));
    let handles: Vec<_> = requests
        .iter()
        .cloned()
        .map(|req| {
            let barrier = std::sync::Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                req.try_send(port)
            })
        })
        .collect();
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread panicked"))
        .collect()
}

/// [`concurrent`], where every request must get a complete response.
pub fn concurrent_complete(port: u16, requests: &[Request]) -> Vec<Response> {
    concurrent(port, requests)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("request {i} of {} failed: {e}", requests.len())))
        .collect()
}

/// Asserts every response is a 200 with the first one's body.
pub fn assert_all_ok_and_alike(responses: &[Response]) {
    let first = &responses[0];
    for (i, r) in responses.iter().enumerate() {
        r.assert_status(200);
        assert!(
            r.body == first.body,
            "response {i} differs from response 0 ({} vs {} bytes)",
            r.body.len(),
            first.body.len()
        );
    }
}

/// Writes `request` verbatim and reads everything until the server closes.
pub fn exchange(port: u16, request: &[u8]) -> io::Result<Vec<u8>> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
    stream.set_read_timeout(Some(READ_TIMEOUT))?;
    stream.set_write_timeout(Some(READ_TIMEOUT))?;
    stream.write_all(request)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(raw)
}

/// A parsed response.
#[derive(Clone, Debug)]
pub struct Response {
    /// e.g. "HTTP/1.1"
    pub version: String,
    pub status: u16,
    pub reason: String,
    /// Headers in the order received, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body after de-chunking. For HEAD, 1xx, 204 and 304 it holds
    /// whatever bytes followed the header (which should be none), so that a
    /// server that wrongly sends a body is caught.
    pub body: Vec<u8>,
    /// Whether the body came with `Transfer-Encoding: chunked`.
    pub chunked: bool,
}

impl Response {
    /// Parses a complete response read to EOF.
    pub fn parse(raw: &[u8], is_head: bool) -> Result<Response, String> {
        let end = find(raw, b"\r\n\r\n").ok_or_else(|| {
            format!(
                "no end of header in {} bytes: {:?}",
                raw.len(),
                String::from_utf8_lossy(&raw[..raw.len().min(200)])
            )
        })?;
        let head = std::str::from_utf8(&raw[..end])
            .map_err(|_| "response header is not UTF-8".to_string())?;
        let rest = &raw[end + 4..];
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let mut parts = status_line.splitn(3, ' ');
        let version = parts.next().unwrap_or_default().to_string();
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let reason = parts.next().unwrap_or_default().to_string();
        if !version.starts_with("HTTP/1.") {
            return Err(format!("bad status line {status_line:?}"));
        }
        let mut headers = Vec::new();
        for line in lines {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| format!("bad header line {line:?}"))?;
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut resp = Response {
            version,
            status,
            reason,
            headers,
            body: Vec::new(),
            chunked: false,
        };
        let bodiless = is_head || status / 100 == 1 || status == 204 || status == 304;
        if bodiless {
            resp.body = rest.to_vec();
        } else if resp
            .header("Transfer-Encoding")
            .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
        {
            resp.chunked = true;
            resp.body = dechunk(rest)?;
        } else if let Some(len) = resp.content_length() {
            let len = usize::try_from(len).map_err(|_| "Content-Length too big".to_string())?;
            if rest.len() < len {
                return Err(format!(
                    "truncated body: Content-Length {len}, got {} bytes before EOF",
                    rest.len()
                ));
            }
            if rest.len() > len {
                return Err(format!(
                    "{} stray bytes after a body of Content-Length {len}",
                    rest.len() - len
                ));
            }
            resp.body = rest.to_vec();
        } else {
            resp.body = rest.to_vec();
        }
        Ok(resp)
    }

    /// The first header with this name, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header with this name, compared case-insensitively.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The header, or a panic that shows the whole response head.
    pub fn expect_header(&self, name: &str) -> &str {
        self.header(name)
            .unwrap_or_else(|| panic!("response has no {name} header:\n{}", self.describe()))
    }

    /// Content-Length parsed, if present and numeric.
    pub fn content_length(&self) -> Option<u64> {
        self.header("Content-Length")?.parse().ok()
    }

    /// The `X-Cache-Status` header the test configs add from
    /// `$image_filter_rs_cache_status`.
    pub fn cache_status(&self) -> Option<&str> {
        self.header("X-Cache-Status")
    }

    /// A short description for assertion messages: status line, headers
    /// and the start of a textual body.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {} {}\n", self.version, self.status, self.reason);
        for (k, v) in &self.headers {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push_str(&format!("[body: {} bytes", self.body.len()));
        if !self.body.is_empty() && self.body.iter().take(300).all(|b| b.is_ascii()) {
            let n = self.body.len().min(300);
            s.push_str(&format!(": {:?}", String::from_utf8_lossy(&self.body[..n])));
        }
        s.push(']');
        s
    }

    /// Panics unless the status is `want`, showing the response.
    pub fn assert_status(&self, want: u16) -> &Self {
        assert_eq!(
            self.status,
            want,
            "expected status {want}, got:\n{}",
            self.describe()
        );
        self
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes a chunked body, rejecting anything malformed or unterminated:
/// a short chunked body means the server broke the response.
fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = find(rest, b"\r\n").ok_or("chunk size line not terminated")?;
        let line = std::str::from_utf8(&rest[..eol]).map_err(|_| "chunk size not UTF-8")?;
        let size_str = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_str, 16)
            .map_err(|_| format!("bad chunk size {size_str:?}"))?;
        rest = &rest[eol + 2..];
        if size == 0 {
            // Trailers are not expected from nginx here; accept their absence.
            return Ok(out);
        }
        if rest.len() < size + 2 {
            return Err(format!(
                "truncated chunk: want {size} bytes, have {}",
                rest.len()
            ));
        }
        out.extend_from_slice(&rest[..size]);
        if &rest[size..size + 2] != b"\r\n" {
            return Err("chunk data not followed by CRLF".into());
        }
        rest = &rest[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_length_body_and_case_insensitive_headers() {
        let raw = b"HTTP/1.1 200 OK\r\ncontent-type: image/png\r\nContent-Length: 3\r\n\r\nabc";
        let r = Response::parse(raw, false).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Content-Type"), Some("image/png"));
        assert_eq!(r.content_length(), Some(3));
        assert_eq!(r.body, b"abc");
        assert!(!r.chunked);
    }

    #[test]
    fn head_keeps_stray_bytes_so_tests_can_catch_them() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n";
        let r = Response::parse(raw, true).unwrap();
        assert!(r.body.is_empty());
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\noops";
        assert_eq!(Response::parse(raw, true).unwrap().body, b"oops");
    }

    #[test]
    fn dechunks_and_rejects_truncation() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let r = Response::parse(raw, false).unwrap();
        assert!(r.chunked);
        assert_eq!(r.body, b"abcde");
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab";
        assert!(Response::parse(raw, false).is_err());
    }

    #[test]
    fn rejects_short_content_length_body() {
        let raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab";
        assert!(Response::parse(raw, false).is_err());
    }

    #[test]
    fn request_bytes_carry_host_close_and_length() {
        let bytes = Request::new("POST", "/x")
            .header("If-None-Match", "\"e\"")
            .body("hi")
            .to_bytes(8080);
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.starts_with("POST /x HTTP/1.1\r\n"));
        assert!(text.contains("Host: 127.0.0.1:8080\r\n"));
        assert!(text.contains("Connection: close\r\n"));
        assert!(text.contains("Content-Length: 2\r\n"));
        assert!(text.contains("If-None-Match: \"e\"\r\n"));
        assert!(text.ends_with("\r\n\r\nhi"));
    }
}
