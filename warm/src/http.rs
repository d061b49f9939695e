//! A minimal HTTP/1.1 HEAD client over `std::net::TcpStream`, one per
//! worker thread, keeping one connection per host alive between requests.
//!
//! Only what warming needs: HEAD responses never have a body (whatever
//! their Content-Length or Transfer-Encoding say, RFC 9110 §9.3.2), so a
//! response ends at its blank line. A connection is dropped when the server
//! says `Connection: close`, speaks HTTP/1.0 without keep-alive, or sends
//! bytes after the headers (which a HEAD answer must not have: reading
//! them as the next response would mix up results). A request on a reused
//! connection that gets no byte back is retried once on a new connection,
//! because the server may have closed an idle connection (nginx's
//! `keepalive_timeout`) just as the request went out; HEAD is idempotent.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::url::Prefix;

/// What the warmer needs of a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub status: u16,
    /// Each header's name and value, in order.
    pub headers: Vec<(String, String)>,
    /// Whether the connection may carry another request.
    pub keep_alive: bool,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Response headers larger than this are refused (nginx's own default
/// buffers are far smaller); it bounds memory on a misbehaving server.
const MAX_HEADER_BYTES: usize = 64 * 1024;

pub struct Client {
    conns: HashMap<(String, u16), TcpStream>,
    connect_timeout: Duration,
    read_timeout: Duration,
    /// Sent with every request (`--header`), already as `Name: value`.
    extra_headers: Vec<String>,
    /// New connections opened, for tests of reuse.
    pub connects: u64,
}

enum Failure {
    /// The connection ended before any byte of a response: may be stale.
    Nothing(String),
    Other(String),
}

impl Client {
    pub fn new(
        connect_timeout: Duration,
        read_timeout: Duration,
        extra_headers: Vec<String>,
    ) -> Self {
        Client {
            conns: HashMap::new(),
            connect_timeout,
            read_timeout,
            extra_headers,
            connects: 0,
        }
    }

    /// Sends `HEAD target` to the prefix's host and reads the response head.
    pub fn head(&mut self, prefix: &Prefix, target: &str) -> Result<Head, String> {
        let key = (prefix.host.clone(), prefix.port);
        let request = self.request_bytes(prefix, target);
        for _attempt in 0..2 {
            let reused = self.conns.contains_key(&key);
            if !reused {
                let stream = self.connect(&prefix.host, prefix.port)?;
                self.connects += 1;
                self.conns.insert(key.clone(), stream);
            }
            let stream = self.conns.get_mut(&key).expect("inserted above");
            match exchange(stream, &request) {
                Ok((head, clean)) => {
                    if !head.keep_alive || !clean {
                        self.conns.remove(&key);
                    }
                    return Ok(head);
                }
                Err(Failure::Nothing(e)) if reused => {
                    self.conns.remove(&key);
                    let _ = e; // a stale keep-alive connection: try a new one
                }
                Err(Failure::Nothing(e) | Failure::Other(e)) => {
                    self.conns.remove(&key);
                    return Err(e);
                }
            }
        }
        Err("the server closed two connections without answering".into())
    }

    fn request_bytes(&self, prefix: &Prefix, target: &str) -> Vec<u8> {
        let mut req = format!(
            "HEAD {target} HTTP/1.1\r\nHost: {}\r\nUser-Agent: image-filter-rs-warm/{}\r\n\
             Connection: keep-alive\r\n",
            prefix.authority,
            env!("CARGO_PKG_VERSION")
        );
        for h in &self.extra_headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        req.into_bytes()
    }

    fn connect(&self, host: &str, port: u16) -> Result<TcpStream, String> {
        let addrs = (host, port)
            .to_socket_addrs()
            .map_err(|e| format!("resolving {host}: {e}"))?;
        let mut last = format!("{host} has no address");
        for addr in addrs {
            match TcpStream::connect_timeout(&addr, self.connect_timeout) {
                Ok(s) => {
                    // Small requests, one at a time: do not wait for Nagle.
                    let _ = s.set_nodelay(true);
                    s.set_read_timeout(Some(self.read_timeout))
                        .and_then(|()| s.set_write_timeout(Some(self.read_timeout)))
                        .map_err(|e| format!("connecting to {addr}: {e}"))?;
                    return Ok(s);
                }
                Err(e) => last = format!("connecting to {addr}: {e}"),
            }
        }
        Err(last)
    }
}

/// Writes one request and reads its response head. The flag says whether
/// nothing followed the head (the connection is in a known state).
fn exchange(stream: &mut TcpStream, request: &[u8]) -> Result<(Head, bool), Failure> {
    if let Err(e) = stream.write_all(request) {
        return Err(Failure::Nothing(format!("sending: {e}")));
    }
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    loop {
        // Interim 1xx responses (103 Early Hints) come before the real one.
        if let Some(end) = find_head_end(&buf) {
            let head = parse_head(&buf[..end]).map_err(Failure::Other)?;
            if (100..200).contains(&head.status) {
                buf.drain(..end);
                continue;
            }
            return Ok((head, buf.len() == end));
        }
        if buf.len() > MAX_HEADER_BYTES {
            return Err(Failure::Other("response headers too large".into()));
        }
        match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => {
                return Err(Failure::Nothing("the server closed the connection".into()))
            }
            Ok(0) => {
                return Err(Failure::Other(
                    "the response ended inside its headers".into(),
                ))
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if buf.is_empty()
                    && matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted
                    ) =>
            {
                return Err(Failure::Nothing(format!("reading: {e}")))
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Err(Failure::Other("timed out waiting for the response".into()))
            }
            Err(e) => return Err(Failure::Other(format!("reading: {e}"))),
        }
    }
}

/// The offset just past the blank line ending the head, if it is complete.
fn find_head_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

/// Parses a status line and header fields (lines end in CRLF).
pub fn parse_head(raw: &[u8]) -> Result<Head, String> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s));
    let (http10, Some(status)) = (version == "HTTP/1.0", status) else {
        return Err(format!("not an HTTP response: {status_line:?}"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1.x response: {status_line:?}"));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|l| !l.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| format!("bad header line {line:?}"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let connection = |token: &str| {
        headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Connection"))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    let keep_alive = if http10 {
        connection("keep-alive")
    } else {
        !connection("close")
    };
    Ok(Head {
        status,
        headers,
        keep_alive,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;
    use std::thread;

    /// A scripted server: for each connection, answers each request (read up
    /// to its blank line) with the next response, then closes. Returns the
    /// port and, when joined, the request lines seen per connection.
    fn serve(script: Vec<Vec<&'static str>>) -> (u16, thread::JoinHandle<Vec<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = thread::spawn(move || {
            let mut seen = Vec::new();
            for responses in script {
                let (mut s, _) = listener.accept().unwrap();
                let mut lines = Vec::new();
                for resp in responses {
                    let mut buf = Vec::new();
                    let mut b = [0u8; 1];
                    while find_head_end(&buf).is_none() {
                        if s.read(&mut b).unwrap() == 0 {
                            break;
                        }
                        buf.push(b[0]);
                    }
                    let text = String::from_utf8_lossy(&buf).into_owned();
                    lines.push(text.lines().next().unwrap_or_default().to_string());
                    assert!(text.contains("\r\nConnection: keep-alive\r\n"), "{text}");
                    s.write_all(resp.as_bytes()).unwrap();
                }
                seen.push(lines);
            }
            seen
        });
        (port, handle)
    }

    fn client() -> Client {
        Client::new(Duration::from_secs(5), Duration::from_secs(10), Vec::new())
    }

    fn prefix(port: u16) -> Prefix {
        Prefix::parse(&format!("http://127.0.0.1:{port}/t/")).unwrap()
    }

    const OK_LENGTH: &str = "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\
        X-Image-Filter-Cache: MISS\r\n\r\n";

    #[test]
    fn keeps_the_connection_alive_and_ignores_content_length() {
        let (port, server) = serve(vec![vec![
            OK_LENGTH,
            "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 404 Not Found\r\n\
             Transfer-Encoding: chunked\r\n\r\n",
            "HTTP/1.1 200 OK\r\nx-image-filter-cache: HIT\r\n\r\n",
        ]]);
        let mut c = client();
        let p = prefix(port);
        let a = c.head(&p, "/t/a.jpg").unwrap();
        assert_eq!(
            (a.status, a.header("X-Image-Filter-Cache")),
            (200, Some("MISS"))
        );
        assert_eq!(c.head(&p, "/t/b%20c.jpg?w=1").unwrap().status, 404);
        let h = c.head(&p, "/t/d.jpg").unwrap();
        assert_eq!(h.header("X-Image-Filter-Cache"), Some("HIT"));
        assert_eq!(c.connects, 1);
        assert_eq!(
            server.join().unwrap(),
            [[
                "HEAD /t/a.jpg HTTP/1.1",
                "HEAD /t/b%20c.jpg?w=1 HTTP/1.1",
                "HEAD /t/d.jpg HTTP/1.1"
            ]]
        );
    }

    #[test]
    fn reconnects_after_close_and_after_a_stale_connection() {
        let (port, server) = serve(vec![
            // Says close: the client must not reuse it.
            vec!["HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"],
            // HTTP/1.0 without keep-alive: the same.
            vec!["HTTP/1.0 200 OK\r\n\r\n"],
            // Keeps alive, then closes silently (an idle timeout).
            vec!["HTTP/1.1 200 OK\r\n\r\n"],
            // A body after a HEAD answer: the connection is dropped.
            vec!["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"],
            vec!["HTTP/1.1 200 OK\r\n\r\n"],
        ]);
        let mut c = client();
        let p = prefix(port);
        for _ in 0..5 {
            assert_eq!(c.head(&p, "/t/a.jpg").unwrap().status, 200);
        }
        // Five connections for five requests: the one after the silent
        // close was retried on the fourth.
        assert_eq!(c.connects, 5);
        server.join().unwrap();
    }

    #[test]
    fn a_refused_connection_and_garbage_are_errors() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        assert!(client().head(&prefix(port), "/t/a.jpg").is_err());

        let (port, server) = serve(vec![vec!["SSH-2.0-OpenSSH\r\n\r\n"]]);
        let e = client().head(&prefix(port), "/t/a.jpg").unwrap_err();
        assert!(e.contains("not an HTTP response"), "{e}");
        server.join().unwrap();
    }

    #[test]
    fn parses_heads() {
        let h = parse_head(
            b"HTTP/1.1 415 Unsupported Media Type\r\nA: b\r\nConnection: Keep-Alive, close\r\n\r\n",
        )
        .unwrap();
        assert_eq!(
            (h.status, h.keep_alive, h.header("a")),
            (415, false, Some("b"))
        );
        let h = parse_head(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert!(h.keep_alive);
        assert!(parse_head(b"HTTP/2 200\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 abc\r\n\r\n").is_err());
        assert!(parse_head(b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n").is_err());
    }
}
