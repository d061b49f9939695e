//! The module across nginx's process life: many clients asking for the same
//! uncached thumbnail at once, a configuration reload with a warm cache,
//! and a graceful stop while thumbnails are still being made.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use image_filter_rs_tests::cache::{check_layout, files_under};
use image_filter_rs_tests::presets::{self, CACHE_DIR, CACHE_LEVELS};
use image_filter_rs_tests::{http, wait_until, Request, Response};

#[test]
fn concurrent_requests_for_one_thumbnail_agree_and_store_one_file() {
    let nginx = presets::standard().worker_processes(2).start();
    let requests = vec![Request::get("/thumb/seeding.jpg"); 8];
    let responses = http::concurrent_complete(nginx.port(), &requests);
    http::assert_all_ok_and_alike(&responses);
    let first = &responses[0];
    for (i, r) in responses.iter().enumerate() {
        assert_eq!(r.header("ETag"), first.header("ETag"), "response {i}");
    }
    let statuses: Vec<&str> = responses.iter().filter_map(|r| r.cache_status()).collect();
    println!("cache statuses: {statuses:?}");
    // One request makes the thumbnail (MISS); the others are served its
    // result, having found it ready (HIT) or waited for it (UPDATING, the
    // module's word, after nginx's $upstream_cache_status). Two MISSes mean
    // the work was done twice.
    assert_eq!(
        statuses.len(),
        responses.len(),
        "a response lacks X-Cache-Status"
    );
    assert!(
        statuses
            .iter()
            .all(|s| matches!(*s, "MISS" | "HIT" | "UPDATING")),
        "unexpected cache statuses {statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == "MISS").count(),
        1,
        "exactly one request should make the thumbnail: {statuses:?}"
    );
    let files = wait_until("the cache file", Duration::from_secs(10), || {
        let f = files_under(&nginx.path(CACHE_DIR));
        (!f.is_empty()).then_some(f)
    });
    assert_eq!(
        files.len(),
        1,
        "eight requests for one thumbnail must leave one cache file: {files:?}"
    );
    check_layout(&files[0], CACHE_LEVELS).unwrap();
    // After the dust settles, it is a HIT.
    let after = nginx.get("/thumb/seeding.jpg");
    assert_eq!(after.cache_status(), Some("HIT"), "{}", after.describe());
    nginx.stop_and_check();
}

#[test]
fn concurrent_requests_for_many_thumbnails_leave_no_temporary_files() {
    let nginx = presets::standard().worker_processes(2).start();
    let paths: Vec<Request> = ["thumb", "crop"]
        .iter()
        .flat_map(|loc| {
            presets::SAMPLES
                .iter()
                .map(move |n| Request::get(&format!("/{loc}/{n}")))
        })
        .collect();
    for r in http::concurrent_complete(nginx.port(), &paths) {
        r.assert_status(200);
    }
    let files = wait_until(
        "one cache file per thumbnail",
        Duration::from_secs(10),
        || {
            let f = files_under(&nginx.path(CACHE_DIR));
            (f.len() >= paths.len()).then_some(f)
        },
    );
    for f in &files {
        check_layout(f, CACHE_LEVELS).unwrap_or_else(|e| panic!("{e}\nall: {files:?}"));
    }
    assert_eq!(files.len(), paths.len(), "{files:?}");
    nginx.stop_and_check();
}

#[test]
fn reload_keeps_the_cache_warm() {
    let nginx = presets::standard().start();
    let miss = nginx.get("/thumb/sunset.jpg");
    assert_eq!(miss.cache_status(), Some("MISS"), "{}", miss.describe());
    nginx.reload();
    let hit = nginx.get("/thumb/sunset.jpg");
    hit.assert_status(200);
    assert_eq!(
        hit.cache_status(),
        Some("HIT"),
        "after a reload the entry should still be served from the cache:\n{}",
        hit.describe()
    );
    assert!(hit.body == miss.body, "body changed across the reload");
    // And the new generation still makes new thumbnails.
    let other = nginx.get("/thumb/wine.jpg");
    assert_eq!(other.cache_status(), Some("MISS"), "{}", other.describe());
    nginx.stop_and_check();
}

#[test]
fn graceful_stop_finishes_thumbnails_in_flight() {
    // Requests for uncached thumbnails of large photos are in the thread
    // pool when SIGQUIT arrives; a graceful stop must let them finish (and
    // must not log an alert about leaked connections or pool tasks).
    let nginx = presets::standard().worker_processes(2).start();
    let port = nginx.port();
    let paths: Vec<String> = presets::SAMPLES
        .iter()
        .flat_map(|n| [format!("/thumb/{n}"), format!("/crop/{n}")])
        .collect();
    let sent = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = paths
        .iter()
        .cloned()
        .map(|path| {
            let sent = Arc::clone(&sent);
            thread::spawn(move || {
                let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
                stream.set_read_timeout(Some(http::READ_TIMEOUT)).unwrap();
                stream
                    .write_all(&Request::get(&path).to_bytes(port))
                    .expect("send request");
                sent.fetch_add(1, Ordering::SeqCst);
                let mut raw = Vec::new();
                let read = stream.read_to_end(&mut raw).map(|_| raw);
                (path, read)
            })
        })
        .collect();
    // Stop once every request is on its way and the first has completed:
    // an event loop that is never blocked has accepted and read them all
    // by then, while the slower thumbnails are still being made.
    wait_until("all requests sent", Duration::from_secs(30), || {
        (sent.load(Ordering::SeqCst) == paths.len()).then_some(())
    });
    let access_log = nginx.path("logs/access.log");
    wait_until(
        "a first request to complete",
        Duration::from_secs(30),
        || {
            std::fs::metadata(&access_log)
                .ok()
                .filter(|m| m.len() > 0)
                .map(|_| ())
        },
    );
    nginx.stop_and_check();
    for c in clients {
        let (path, read) = c.join().expect("client thread panicked");
        let raw = read.unwrap_or_else(|e| panic!("{path}: connection failed during shutdown: {e}"));
        let r = Response::parse(&raw, false)
            .unwrap_or_else(|e| panic!("{path}: broken response during shutdown: {e}"));
        assert_eq!(r.status, 200, "{path} during shutdown:\n{}", r.describe());
    }
}

#[test]
fn event_loop_serves_others_while_a_thumbnail_is_made() {
    // The design keeps decoding, resizing and encoding off the event loop
    // (in a thread pool). With one worker, a small static file requested
    // just after a large uncached thumbnail must therefore be answered
    // first; if the worker makes the thumbnail on its event loop, the small
    // request waits for it and finishes second.
    let nginx = presets::standard()
        .file("media/small.txt", "small\n")
        .worker_processes(1)
        .start();
    let port = nginx.port();
    let (sent_tx, sent_rx) = std::sync::mpsc::channel();
    let slow = thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream.set_read_timeout(Some(http::READ_TIMEOUT)).unwrap();
        stream
            .write_all(&Request::get("/nocache/seeding.jpg").to_bytes(port))
            .expect("send");
        sent_tx.send(()).unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("read");
        (std::time::Instant::now(), raw)
    });
    sent_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the slow request was sent");
    let small = nginx.get("/media/small.txt");
    let small_done = std::time::Instant::now();
    small.assert_status(200);
    let (slow_done, raw) = slow.join().expect("slow client");
    Response::parse(&raw, false).unwrap().assert_status(200);
    assert!(
        small_done < slow_done,
        "a 6-byte static file requested during the thumbnail of a 16 MP photo was \
         answered {:?} after the thumbnail: the worker's event loop was blocked \
         while the thumbnail was made",
        small_done.duration_since(slow_done)
    );
    nginx.stop_and_check();
}
