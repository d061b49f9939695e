//! `image_filter_rs_source`: originals fetched by a subrequest from an
//! origin (a plain nginx started here, serving a temporary directory with
//! an access log of its own), and from scripted origins (a TCP server in
//! the test) for the cases a real server will not act out on cue: a huge
//! `Content-Length`, a chunked body that never ends, a stall.
//!
//! Every claim about "no request reached the origin" counts lines in the
//! origin's access log, after a marker request has made sure earlier lines
//! are written.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use image_filter_rs_tests::http::{self, Request, Response};
use image_filter_rs_tests::images::{self, decode, mean_rgb};
use image_filter_rs_tests::nginx::Nginx;
use image_filter_rs_tests::status;
use image_filter_rs_tests::wait::wait_until;

const ZONE: &str = "thumbs";
const DEADLINE: Duration = Duration::from_secs(20);

/// An nginx serving `media/` as the origin, logging each request's URI,
/// status and conditional headers.
fn start_origin(files: &[(&str, Vec<u8>)]) -> Nginx {
    let mut builder = Nginx::builder()
        .http(
            "log_format origin escape=none '$uri $status |$http_if_none_match|$http_if_modified_since| $body_bytes_sent';",
        )
        .server(
            "access_log @PREFIX@/logs/origin.log origin;\n\
             location / { root @MEDIA@; log_not_found off; }\n\
             location /forbidden/ { return 403; }",
        )
        .dir("media");
    for (name, bytes) in files {
        builder = builder.file(&format!("media/{name}"), bytes.clone());
    }
    builder.start()
}

/// One line of the origin's log.
#[derive(Debug, Clone)]
struct OriginHit {
    status: u16,
    if_none_match: String,
}

static MARKS: AtomicUsize = AtomicUsize::new(0);

/// The origin's log for `uri`, complete up to now: a marker request is
/// sent straight to the origin and awaited in the log first (one worker
/// logs in order, so every earlier request's line is there).
fn origin_hits(origin: &Nginx, uri: &str) -> Vec<OriginHit> {
    let mark = format!("/__mark_{}", MARKS.fetch_add(1, Ordering::SeqCst));
    origin.get(&mark).assert_status(404);
    let log = origin.path("logs/origin.log");
    let text = wait_until("the origin's marker log line", DEADLINE, || {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .any(|l| l.starts_with(&format!("{mark} ")))
            .then_some(text)
    });
    text.lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ' ');
            let hit_uri = fields.next()?.to_string();
            let status = fields.next()?.parse().ok()?;
            let rest = fields.next().unwrap_or("");
            let if_none_match = rest.split('|').nth(1).unwrap_or("").to_string();
            (hit_uri == uri).then_some(OriginHit {
                status,
                if_none_match,
            })
        })
        .collect()
}

/// The front: thumbnails of originals fetched from `origin_port`, in
/// `/thumb/` (64x64) and `/stale/` (the same, with `source_stale on`).
fn start_front(origin_port: u16, valid: &str, extra_http: &str, extra_server: &str) -> Nginx {
    let location = |prefix: &str, stale: &str| {
        format!(
            "location ~ ^/{prefix}/(?<name>.+)$ {{\n\
             \x20   image_filter_rs 64x64;\n\
             \x20   image_filter_rs_cache {ZONE};\n\
             \x20   image_filter_rs_source /_originals/$name;\n\
             \x20   image_filter_rs_source_valid {valid};\n\
             \x20   image_filter_rs_source_stale {stale};\n\
             \x20   image_filter_rs_max_source_size 200k;\n\
             \x20   add_header X-Cache-Status $image_filter_rs_cache_status always;\n\
             }}\n"
        )
    };
    Nginx::builder()
        .http(&format!(
            "image_filter_rs_cache_path @PREFIX@/cache keys_zone={ZONE}:1m;\n{extra_http}"
        ))
        .server(&format!(
            "{}{}\
             location /_originals/ {{\n\
             \x20   internal;\n\
             \x20   proxy_pass http://127.0.0.1:{origin_port}/;\n\
             \x20   proxy_read_timeout 20s;\n\
             }}\n\
             location = /status {{ image_filter_rs_status; }}\n\
             {extra_server}",
            location("thumb", "off"),
            location("stale", "on"),
        ))
        .start()
}

fn mean_of(resp: &Response) -> [f64; 3] {
    mean_rgb(&decode(&resp.body).image)
}

fn assert_colour(what: &str, got: [f64; 3], want: [u8; 3]) {
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - f64::from(w)).abs() < 24.0,
            "{what}: mean colour {got:?}, expected about {want:?}"
        );
    }
}

fn expect(resp: &Response, status: u16, cache: &str) {
    resp.assert_status(status);
    assert_eq!(
        resp.cache_status(),
        Some(cache),
        "X-Cache-Status: {}",
        resp.describe()
    );
}

/// Requests `path` until its answer is no longer a HIT (the validity period
/// ran out), and returns that answer; every HIT on the way must be a 200.
fn until_not_hit(front: &Nginx, path: &str) -> Response {
    wait_until("the source validity to run out", DEADLINE, || {
        let resp = front.get(path);
        if resp.cache_status() == Some("HIT") {
            resp.assert_status(200);
            None
        } else {
            Some(resp)
        }
    })
}

#[test]
fn first_request_fetches_then_hits_ask_nobody_then_a_304_keeps_the_rendition() {
    let origin = start_origin(&[("red.jpg", images::jpeg(320, 240, [220, 30, 30]))]);
    let front = start_front(origin.port(), "2s", "", "");

    let first = front.get("/thumb/red.jpg");
    expect(&first, 200, "MISS");
    assert_eq!(decode(&first.body).dims(), (64, 48));
    assert_colour("first", mean_of(&first), [220, 30, 30]);
    let hits = origin_hits(&origin, "/red.jpg");
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0].status, 200);
    assert_eq!(hits[0].if_none_match, "", "an unconditional first fetch");

    // Within source_valid: HITs, and not one request at the origin.
    for _ in 0..5 {
        let hit = front.get("/thumb/red.jpg");
        expect(&hit, 200, "HIT");
        assert!(hit.body == first.body);
    }
    assert_eq!(origin_hits(&origin, "/red.jpg").len(), 1);

    // After it: one conditional request, a 304, the same rendition.
    let revalidated = until_not_hit(&front, "/thumb/red.jpg");
    expect(&revalidated, 200, "REVALIDATED");
    assert!(revalidated.body == first.body, "a 304 keeps the rendition");
    let hits = origin_hits(&origin, "/red.jpg");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[1].status, 304, "{hits:?}");
    assert!(
        hits[1].if_none_match.starts_with('"'),
        "the revalidation sends the ETag: {hits:?}"
    );
    // The validity period restarts: HITs again, no origin request.
    expect(&front.get("/thumb/red.jpg"), 200, "HIT");
    assert_eq!(origin_hits(&origin, "/red.jpg").len(), 2);
    let stats = status::fetch(&front, "/status", ZONE);
    assert_eq!(stats.get("generated"), 1, "{}", stats.raw);
    assert_eq!(stats.get("source_fetches_2xx"), 1, "{}", stats.raw);
    assert_eq!(stats.get("source_fetches_304"), 1, "{}", stats.raw);
    // The client's own conditionals never reach the origin.
    let conditional =
        front.request(&Request::get("/thumb/red.jpg").header("If-None-Match", "\"client-etag\""));
    assert!(conditional.status == 200 || conditional.status == 304);
    assert!(origin_hits(&origin, "/red.jpg")
        .iter()
        .all(|h| h.if_none_match != "\"client-etag\""));
    front.stop_and_check();
    origin.stop_and_check();
}

#[test]
fn a_changed_original_gives_new_pixels() {
    let origin = start_origin(&[("photo.jpg", images::jpeg(320, 240, [220, 30, 30]))]);
    let front = start_front(origin.port(), "1s", "", "");
    let first = front.get("/thumb/photo.jpg");
    expect(&first, 200, "MISS");
    assert_colour("red", mean_of(&first), [220, 30, 30]);

    // Replaced by a blue one of another size: another ETag and length.
    let blue = images::jpeg(300, 300, [30, 30, 220]);
    let path = origin.media_dir().join("photo.jpg");
    let tmp = origin.media_dir().join("photo.jpg.new");
    std::fs::write(&tmp, &blue).unwrap();
    std::fs::rename(&tmp, &path).unwrap();

    let changed = until_not_hit(&front, "/thumb/photo.jpg");
    expect(&changed, 200, "EXPIRED");
    assert_eq!(decode(&changed.body).dims(), (64, 64));
    assert_colour("blue", mean_of(&changed), [30, 30, 220]);
    let hits = origin_hits(&origin, "/photo.jpg");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[1].status, 200, "the changed original is sent whole");
    let again = front.get("/thumb/photo.jpg");
    expect(&again, 200, "HIT");
    assert!(again.body == changed.body);
    front.stop_and_check();
    origin.stop_and_check();
}

#[test]
fn origin_404_and_other_4xx_keep_their_codes() {
    let origin = start_origin(&[("a.jpg", images::jpeg(100, 100, [200, 200, 200]))]);
    let front = start_front(origin.port(), "10s", "", "");
    front.get("/thumb/missing.jpg").assert_status(404);
    let lines = front.error_log_lines_with(&["/_originals/missing.jpg", "not found at the source"]);
    assert_eq!(lines.len(), 1, "one error-log line per refusal: {lines:?}");
    front.get("/thumb/forbidden/x.jpg").assert_status(403);
    assert_eq!(
        front
            .error_log_lines_with(&["the source answered 403"])
            .len(),
        1
    );
    let stats = status::fetch(&front, "/status", ZONE);
    assert_eq!(stats.get("generated"), 0, "{}", stats.raw);
    assert_eq!(stats.get("source_fetches_4xx"), 2, "{}", stats.raw);
    front.stop_and_check();
    origin.stop_and_check();
}

#[test]
fn origin_down_is_502_or_the_stale_rendition_with_source_stale_on() {
    let mut origin = start_origin(&[
        ("p.jpg", images::jpeg(200, 100, [30, 200, 30])),
        ("q.jpg", images::jpeg(200, 100, [30, 200, 30])),
    ]);
    let front = start_front(origin.port(), "1s", "", "");
    let plain = front.get("/thumb/p.jpg");
    expect(&plain, 200, "MISS");
    let stale_first = front.get("/stale/q.jpg");
    expect(&stale_first, 200, "MISS");
    origin.stop_for_now();

    // Until the validity runs out, both still HIT without the origin.
    let refused = until_not_hit(&front, "/thumb/p.jpg");
    refused.assert_status(502);
    let served = until_not_hit(&front, "/stale/q.jpg");
    expect(&served, 200, "STALE");
    assert!(served.body == stale_first.body, "the old rendition");
    assert_colour("stale", mean_of(&served), [30, 200, 30]);
    // A key never fetched has nothing stale to give: 502.
    front.get("/stale/other.jpg").assert_status(502);
    // nginx's proxy logs the refused connection, once per fetch.
    let refusals = front.error_log_lines_with(&["connect() failed"]);
    assert_eq!(refusals.len(), 3, "{refusals:?}");
    let stale_lines = front.error_log_lines_with(&["serving the stale rendition"]);
    assert_eq!(stale_lines.len(), 1, "{stale_lines:?}");

    // The origin comes back: the kept rendition is revalidated (304).
    origin.start_again();
    let back = front.get("/stale/q.jpg");
    expect(&back, 200, "REVALIDATED");
    let back_plain = front.get("/thumb/p.jpg");
    expect(&back_plain, 200, "REVALIDATED");
    front.stop_and_check();
    origin.stop_and_check();
}

/// A scripted origin: accepts connections and hands each, after reading
/// its request head, to `serve`.
struct Scripted {
    port: u16,
    requests: mpsc::Receiver<String>,
}

fn scripted(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match stream.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let line = String::from_utf8_lossy(&head)
                .lines()
                .next()
                .unwrap_or("")
                .to_string();
            if tx.send(line).is_err() {
                return;
            }
            let serve = Arc::clone(&serve);
            std::thread::spawn(move || serve(stream));
        }
    });
    Scripted { port, requests: rx }
}

/// Writes until the peer has closed (a write fails); the bytes written.
fn write_until_closed(stream: &mut TcpStream, chunk: &[u8], most: usize) -> (usize, bool) {
    let mut sent = 0;
    while sent < most {
        if stream.write_all(chunk).is_err() {
            return (sent, true);
        }
        sent += chunk.len();
    }
    (sent, false)
}

#[test]
fn an_original_over_max_source_size_is_413_without_reading_its_body() {
    // Content-Length over the limit: refused from the header; the origin
    // sees its connection closed with no body byte sent.
    let (closed_tx, closed_rx) = mpsc::channel();
    let origin = scripted(move |mut stream| {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 50000000\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        let mut buf = [0u8; 64];
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        // EOF (0) or a reset: the front closed without wanting the body.
        let closed = matches!(stream.read(&mut buf), Ok(0) | Err(_));
        let _ = closed_tx.send(closed);
    });
    let front = start_front(origin.port, "10s", "", "");
    let started = Instant::now();
    let resp = front.get("/thumb/big.jpg");
    resp.assert_status(413);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        origin.requests.recv_timeout(DEADLINE).unwrap(),
        "GET /big.jpg HTTP/1.0"
    );
    assert!(
        closed_rx.recv_timeout(DEADLINE).unwrap(),
        "the front closed the origin's connection"
    );
    let lines = front.error_log_lines_with(&["over the 204800-byte source size limit"]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    front.stop_and_check();
}

#[test]
fn a_chunked_original_growing_past_max_source_size_is_cut_off_with_413() {
    let (sent_tx, sent_rx) = mpsc::channel();
    let origin = scripted(move |mut stream| {
        let head =
            "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nTransfer-Encoding: chunked\r\n\r\n";
        stream.write_all(head.as_bytes()).unwrap();
        let mut chunk = format!("{:x}\r\n", 16 * 1024).into_bytes();
        chunk.extend(std::iter::repeat_n(0xAB, 16 * 1024));
        chunk.extend_from_slice(b"\r\n");
        // Never the last chunk: only the front can end this response.
        let result = write_until_closed(&mut stream, &chunk, 512 * 1024 * 1024);
        let _ = sent_tx.send(result);
        let _ = stream.shutdown(Shutdown::Both);
    });
    let front = start_front(origin.port, "10s", "", "");
    let started = Instant::now();
    let resp = front.get("/thumb/endless.jpg");
    resp.assert_status(413);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "cut off, not read to proxy_read_timeout"
    );
    let (sent, closed) = sent_rx.recv_timeout(DEADLINE).unwrap();
    assert!(
        closed,
        "the origin's connection was closed after {sent} bytes"
    );
    let lines = front.error_log_lines_with(&["over the 204800-byte source size limit"]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    // The client's connection was not harmed by the cut: the next request
    // on the same worker is answered.
    front.get("/status").assert_status(200);
    front.stop_and_check();
}

#[test]
fn a_slow_origin_does_not_stall_other_requests_of_the_worker() {
    let origin = start_origin(&[("fast.jpg", images::jpeg(160, 120, [200, 100, 50]))]);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    let slow_body = images::jpeg(120, 160, [50, 100, 200]);
    let slow = scripted(move |mut stream| {
        // Holds the answer until the test says so.
        let _ = release_rx.lock().unwrap().recv_timeout(DEADLINE);
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\nETag: \"slow\"\r\n\r\n",
            slow_body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(&slow_body);
    });
    let extra = format!(
        "location ~ ^/slow/(?<name>.+)$ {{\n\
         \x20   image_filter_rs 64x64;\n\
         \x20   image_filter_rs_cache {ZONE};\n\
         \x20   image_filter_rs_source /_slow/$name;\n\
         }}\n\
         location /_slow/ {{ internal; proxy_pass http://127.0.0.1:{}/; }}\n",
        slow.port
    );
    // One worker (the harness's default): both requests share its loop.
    let front = start_front(origin.port(), "10s", "", &extra);
    let port = front.port();
    let pending = std::thread::spawn(move || http::get(port, "/slow/s.jpg"));
    assert_eq!(
        slow.requests.recv_timeout(DEADLINE).unwrap(),
        "GET /s.jpg HTTP/1.0"
    );
    for _ in 0..3 {
        let started = Instant::now();
        let fast = front.get("/thumb/fast.jpg");
        fast.assert_status(200);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(!pending.is_finished(), "the slow fetch is still pending");
    }
    release_tx.send(()).unwrap();
    let slow_resp = pending.join().unwrap();
    slow_resp.assert_status(200);
    assert_eq!(decode(&slow_resp.body).dims(), (48, 64));
    assert_colour("slow", mean_of(&slow_resp), [50, 100, 200]);
    front.stop_and_check();
    origin.stop_and_check();
}

#[test]
fn herds_fetch_each_original_once_and_revalidate_it_once() {
    const KEYS: usize = 6;
    const CLIENTS: usize = 12;
    const ROUNDS: usize = 3;
    let files: Vec<(String, Vec<u8>)> = (0..KEYS)
        .map(|i| {
            let shade = 40 + 30 * i as u8;
            (
                format!("h{i}.jpg"),
                images::jpeg(400, 300, [shade, 90, 160]),
            )
        })
        .collect();
    let borrowed: Vec<(&str, Vec<u8>)> =
        files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let origin = start_origin(&borrowed);
    let front = start_front(origin.port(), "1s", "", "");
    for (name, _) in &files {
        let requests = vec![Request::get(&format!("/thumb/{name}")); CLIENTS];
        let responses = http::concurrent_complete(front.port(), &requests);
        http::assert_all_ok_and_alike(&responses);
        let hits = origin_hits(&origin, &format!("/{name}"));
        assert_eq!(hits.len(), 1, "one fetch for a herd of {CLIENTS}: {hits:?}");
    }
    let stats = status::fetch(&front, "/status", ZONE);
    assert_eq!(stats.get("generated"), KEYS as u64, "{}", stats.raw);

    // Each round waits for the validity to run out, then a herd per key:
    // one conditional request each, a 304, nothing made again.
    for round in 1..=ROUNDS {
        let probe = format!("/thumb/{}", files[0].0);
        let first = until_not_hit(&front, &probe);
        expect(&first, 200, "REVALIDATED");
        for (name, _) in &files[1..] {
            let requests = vec![Request::get(&format!("/thumb/{name}")); CLIENTS];
            let responses = http::concurrent_complete(front.port(), &requests);
            http::assert_all_ok_and_alike(&responses);
        }
        for (i, (name, _)) in files.iter().enumerate() {
            let hits = origin_hits(&origin, &format!("/{name}"));
            // A key's herd may straddle two validity periods on a slow
            // machine; more than one revalidation per period never.
            let conditional = hits.iter().filter(|h| h.status == 304).count();
            assert!(
                (1..=round * 2).contains(&conditional) || (i == 0 && conditional == round),
                "round {round}, {name}: {hits:?}"
            );
            assert!(hits.iter().skip(1).all(|h| h.status == 304), "{hits:?}");
        }
    }
    let stats = status::fetch(&front, "/status", ZONE);
    assert_eq!(stats.get("generated"), KEYS as u64, "{}", stats.raw);
    front.stop_and_check();
    origin.stop_and_check();
}

#[test]
fn the_example_configuration_fetches_through_its_internal_location() {
    let origin = start_origin(&[("ex.jpg", images::jpeg(300, 200, [120, 60, 200]))]);
    let text = std::fs::read_to_string(
        image_filter_rs_tests::paths::repo_root().join("nginx-conf/upstream-source.conf"),
    )
    .unwrap()
    .replace(
        "server 127.0.0.1:9000;",
        &format!("server 127.0.0.1:{};", origin.port()),
    );
    let front = Nginx::builder().start_config_text(&text);
    let first = front.get("/thumbs/200x200/ex.jpg");
    first.assert_status(200);
    assert_eq!(decode(&first.body).dims(), (200, 133));
    let again = front.get("/thumbs/200x200/ex.jpg");
    again.assert_status(200);
    assert!(again.body == first.body);
    assert_eq!(origin_hits(&origin, "/ex.jpg").len(), 1);
    front.stop_and_check();
    origin.stop_and_check();
}

#[test]
fn a_purge_of_the_source_uri_removes_the_renditions_of_an_upstream_original() {
    let origin = start_origin(&[
        ("dir/a.jpg", images::jpeg(200, 100, [200, 60, 60])),
        ("dir/b.jpg", images::jpeg(200, 100, [60, 60, 200])),
    ]);
    let purge = "location ~ ^/purge/(?<name>.*)$ {\n\
                 \x20   image_filter_rs_purge;\n\
                 \x20   image_filter_rs_source /_originals/$name;\n\
                 \x20   allow 127.0.0.1;\n\
                 \x20   deny all;\n\
                 }\n";
    let front = start_front(origin.port(), "10m", "", purge);
    for name in ["a", "b"] {
        expect(&front.get(&format!("/thumb/dir/{name}.jpg")), 200, "MISS");
        expect(&front.get(&format!("/stale/dir/{name}.jpg")), 200, "HIT");
    }
    // One original: its rendition goes, the other's stays.
    let purged = front.request(&Request::new("PURGE", "/purge/dir/a.jpg"));
    purged.assert_status(200);
    assert!(
        String::from_utf8_lossy(&purged.body)
            .replace(' ', "")
            .contains("\"purged\":1"),
        "{}",
        purged.describe()
    );
    expect(&front.get("/thumb/dir/a.jpg"), 200, "MISS");
    expect(&front.get("/thumb/dir/b.jpg"), 200, "HIT");
    assert_eq!(origin_hits(&origin, "/dir/a.jpg").len(), 2);
    assert_eq!(origin_hits(&origin, "/dir/b.jpg").len(), 1);
    // A directory: every original under it.
    let purged = front.request(&Request::new("PURGE", "/purge/dir/"));
    purged.assert_status(200);
    assert!(
        String::from_utf8_lossy(&purged.body)
            .replace(' ', "")
            .contains("\"purged\":2"),
        "{}",
        purged.describe()
    );
    expect(&front.get("/thumb/dir/b.jpg"), 200, "MISS");
    assert_eq!(origin_hits(&origin, "/dir/b.jpg").len(), 2);
    front.stop_and_check();
    origin.stop_and_check();
}
