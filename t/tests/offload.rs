//! Thumbnails are made in nginx's thread pool, off the event loop: a client
//! leaving mid-generation costs nothing and the thumbnail is still cached; a
//! full pool queue answers 503 with `Retry-After`; reloads during a stream
//! of generations lose no response; and with `image_filter_rs_thread_pool
//! off` the event loop is seen to block, in contrast with the pool.
//!
//! `image_filter_rs_debug_delay` holds a generation in flight for a known
//! time, and `/proc` says when nginx has read a request, so every ordering
//! below is established by a condition, not by a guess at timing.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use image_filter_rs_tests::cache::{cache_entries, temp_files};
use image_filter_rs_tests::images::{self, decode};
use image_filter_rs_tests::presets::{thumb_location, STATUS_LOCATION, STATUS_PATH};
use image_filter_rs_tests::status;
use image_filter_rs_tests::{http, procfs, wait_until, Builder, Nginx, Request, Response};

/// Opens a connection, sends a GET for `path`, and waits until nginx has
/// read it (so it is in the handler, not in a socket buffer). Returns the
/// open connection.
fn send_and_wait_until_read(nginx: &Nginx, path: &str) -> TcpStream {
    let port = nginx.port();
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(http::READ_TIMEOUT)).unwrap();
    stream
        .write_all(&Request::get(path).to_bytes(port))
        .expect("send the request");
    let client_port = stream.local_addr().unwrap().port();
    wait_until(
        &format!("nginx to read the request for {path}"),
        Duration::from_secs(10),
        || procfs::request_read(port, client_port).then_some(()),
    );
    stream
}

/// Cached 350x350 thumbnails on `/slow/` whose generation first sleeps 2 s
/// in the pool, so a test can act while one is in flight.
fn slow_cached_thumbs() -> Builder {
    Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m levels=1:2;")
        .server(&thumb_location(
            "/slow/",
            "",
            "350x350",
            Some("thumbs"),
            "image_filter_rs_debug_delay 2s;",
        ))
}

fn read_response(mut stream: TcpStream, what: &str) -> Response {
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{what}: reading the response failed: {e}"));
    Response::parse(&raw, false).unwrap_or_else(|e| panic!("{what}: broken response: {e}"))
}

#[test]
fn a_client_leaving_mid_generation_still_gets_the_thumbnail_cached() {
    let nginx = slow_cached_thumbs()
        .server(STATUS_LOCATION)
        .sample_media(&["wine.jpg", "sunset.jpg"])
        .worker_processes(2)
        .start();
    // One client closes politely (FIN), the other resets the connection
    // (RST, as a browser tab being closed may): both while their thumbnail
    // sleeps in the pool.
    let polite = send_and_wait_until_read(&nginx, "/slow/wine.jpg");
    let rude = send_and_wait_until_read(&nginx, "/slow/sunset.jpg");
    drop(polite);
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a linger structure of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            rude.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            std::ptr::from_ref(&linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "SO_LINGER: {}", std::io::Error::last_os_error());
    drop(rude);

    let s = status::wait_for(
        &nginx,
        STATUS_PATH,
        "thumbs",
        "both abandoned thumbnails to be made and indexed",
        Duration::from_secs(15),
        |s| s.get("generated") == 2 && s.get("entries") == 2,
    );
    assert_eq!(s.get("store_failures"), 0, "{}", s.raw);
    assert_eq!(s.get("generation_failures"), 0, "{}", s.raw);
    let files = cache_entries(&nginx.path("cache"));
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(temp_files(&nginx.path("cache")).is_empty());
    for name in ["wine.jpg", "sunset.jpg"] {
        let r = nginx.get(&format!("/slow/{name}"));
        r.assert_status(200);
        assert_eq!(r.cache_status(), Some("HIT"), "{name}: {}", r.describe());
        let (w, h) = decode(&r.body).dims();
        assert_eq!(w.max(h), 350, "{name}: {w}x{h}");
    }
    nginx.stop_and_check();
}

#[test]
fn a_full_pool_queue_answers_503_with_retry_after() {
    // One thread, one queued task: of four generations arriving while the
    // first sleeps, at least one finds the queue full.
    let mut builder = Nginx::builder()
        .main("thread_pool tiny threads=1 max_queue=1;")
        .server(&thumb_location(
            "/slow/",
            "",
            "64x64",
            None,
            "image_filter_rs_thread_pool tiny; image_filter_rs_debug_delay 2s;",
        ))
        .worker_processes(1);
    for i in 0..5 {
        builder = builder.file(
            &format!("media/a{i}.jpg"),
            images::jpeg(160, 120, [200, 40 * i as u8, 90]),
        );
    }
    let nginx = builder.start();
    let requests: Vec<Request> = (0..4)
        .map(|i| Request::get(&format!("/slow/a{i}.jpg")))
        .collect();
    let responses: Vec<Response> = http::concurrent(nginx.port(), &requests)
        .into_iter()
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("request {i}: {e}")))
        .collect();
    let codes: Vec<u16> = responses.iter().map(|r| r.status).collect();
    println!("statuses with a full pool: {codes:?}");
    for r in &responses {
        match r.status {
            200 => assert_eq!(decode(&r.body).dims(), (64, 48)),
            503 => assert_eq!(
                r.header("Retry-After"),
                Some("1"),
                "a 503 for a full queue says when to retry:\n{}",
                r.describe()
            ),
            _ => panic!("expected 200 or 503:\n{}", r.describe()),
        }
    }
    assert!(
        codes.contains(&503),
        "four generations on one thread with a queue of one: none was refused {codes:?}"
    );
    assert!(codes.contains(&200), "nothing was made: {codes:?}");
    let overflow = nginx.error_log_lines_with(&["thread pool \"tiny\" queue overflow"]);
    assert!(!overflow.is_empty(), "nginx did not log the overflow");
    // Once the pool drains, it takes work again.
    let after = nginx.get("/slow/a4.jpg");
    after.assert_status(200);
    assert_eq!(decode(&after.body).dims(), (64, 48));
    nginx.stop_and_check();
}

/// Uncached `/slow/` thumbnails of six distinct originals whose generation
/// first sleeps `delay` in the pool, under `image_filter_rs_concurrency 1`
/// and the given wait, on two workers.
fn one_slot(delay: &str, wait: &str) -> Nginx {
    let mut builder = Nginx::builder()
        .http(&format!(
            "image_filter_rs_concurrency 1; image_filter_rs_memory_timeout {wait};"
        ))
        .server(&thumb_location(
            "/slow/",
            "",
            "64x64",
            None,
            &format!("image_filter_rs_debug_delay {delay};"),
        ))
        .worker_processes(2);
    for i in 0..6 {
        builder = builder.file(
            &format!("media/s{i}.jpg"),
            images::jpeg(160, 120, [30 * i as u8, 200, 90]),
        );
    }
    builder.start()
}

#[test]
fn one_concurrency_slot_makes_thumbnails_one_at_a_time_across_workers() {
    let nginx = one_slot("1s", "20s");
    let requests: Vec<Request> = (0..3)
        .map(|i| Request::get(&format!("/slow/s{i}.jpg")))
        .collect();
    let started = Instant::now();
    let responses = http::concurrent_complete(nginx.port(), &requests);
    let took = started.elapsed();
    for r in &responses {
        r.assert_status(200);
        assert_eq!(decode(&r.body).dims(), (64, 48));
    }
    // Each generation holds its slot for its 1 s pause, so three can only
    // end after 3 s when none ran beside another (two workers, 32 threads
    // each, would otherwise run them together in about 1 s).
    assert!(
        took >= Duration::from_secs(3),
        "three 1 s generations with one slot took only {took:?}"
    );
    nginx.stop_and_check();
}

#[test]
fn a_concurrency_slot_that_stays_taken_answers_503_then_frees() {
    let nginx = one_slot("3s", "500ms");
    let requests: Vec<Request> = (0..2)
        .map(|i| Request::get(&format!("/slow/s{i}.jpg")))
        .collect();
    let responses = http::concurrent_complete(nginx.port(), &requests);
    let mut codes: Vec<u16> = responses.iter().map(|r| r.status).collect();
    codes.sort_unstable();
    assert_eq!(codes, [200, 503], "one made, one refused after the wait");
    let refused = responses.iter().find(|r| r.status == 503).unwrap();
    assert_eq!(
        refused.header("Retry-After"),
        Some("1"),
        "{}",
        refused.describe()
    );
    let lines = nginx.error_log_lines_with(&[
        "no image_filter_rs_concurrency slot came free within 500 ms, answered 503",
    ]);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let media = nginx.path("media").display().to_string();
    assert!(
        !String::from_utf8_lossy(&refused.body).contains(&media),
        "the answer leaks no path: {}",
        refused.describe()
    );
    // The slot is free again once the first thumbnail is done.
    let after = nginx.get("/slow/s5.jpg");
    after.assert_status(200);
    assert_eq!(decode(&after.body).dims(), (64, 48));
    nginx.stop_and_check();
}

#[test]
fn reloads_during_a_stream_of_generations_lose_no_response() {
    const ORIGINALS: usize = 1000;
    const CLIENTS: usize = 4;
    // A short delay keeps generations in flight at every moment, so each
    // reload finds some to wait for.
    let nginx = Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m levels=1:2;")
        .server(&thumb_location(
            "/gen/",
            "g/",
            "48x48",
            Some("thumbs"),
            "image_filter_rs_debug_delay 100ms;",
        ))
        .worker_processes(2)
        .start();
    let original = images::jpeg(96, 64, [90, 90, 200]);
    let media = nginx.media_dir().join("g");
    std::fs::create_dir_all(&media).unwrap();
    for i in 0..ORIGINALS {
        std::fs::write(media.join(format!("{i}.jpg")), &original).unwrap();
    }
    let port = nginx.port();
    let stop = Arc::new(AtomicBool::new(false));
    let next = Arc::new(AtomicUsize::new(0));
    let answered = Arc::new(AtomicUsize::new(0));
    let problems = Arc::new(Mutex::new(Vec::<String>::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (stop, next) = (Arc::clone(&stop), Arc::clone(&next));
            let (answered, problems) = (Arc::clone(&answered), Arc::clone(&problems));
            thread::spawn(move || {
                while !stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst) % ORIGINALS;
                    let path = format!("/gen/{i}.jpg");
                    let problem = match Request::get(&path).try_send(port) {
                        Err(e) => Some(format!("{path}: {e}")),
                        Ok(r) => check_storm_response(&r).map(|p| format!("{path}: {p}")),
                    };
                    if let Some(p) = problem {
                        problems.lock().unwrap().push(p);
                    }
                    answered.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    let started = Instant::now();
    let progress = |more: usize| {
        let target = answered.load(Ordering::SeqCst) + more;
        wait_until(
            &format!("{more} more answers"),
            Duration::from_secs(30),
            || (answered.load(Ordering::SeqCst) >= target).then_some(()),
        );
    };
    progress(8);
    nginx.reload();
    progress(8);
    nginx.reload();
    progress(8);
    wait_until("three seconds of traffic", Duration::from_secs(10), || {
        (started.elapsed() >= Duration::from_secs(3)).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.join().expect("client thread panicked");
    }
    let problems = problems.lock().unwrap().clone();
    let total = answered.load(Ordering::SeqCst);
    println!("{total} requests across two reloads");
    assert!(
        problems.is_empty(),
        "{} of {total} responses were neither a complete 200 thumbnail nor a clean 503; \
         first ones:\n{}",
        problems.len(),
        problems[..problems.len().min(5)].join("\n")
    );
    assert!(temp_files(&nginx.path("cache")).is_empty());
    nginx.stop_and_check();
}

/// What is wrong with one response of the reload storm, if anything: it
/// must be a 200 whose declared length matches and whose image decodes to
/// the right size, or a 503 that says when to retry.
fn check_storm_response(r: &Response) -> Option<String> {
    match r.status {
        200 => {
            if r.chunked || r.content_length() != Some(r.body.len() as u64) {
                return Some(format!("incomplete or unsized 200:\n{}", r.describe()));
            }
            let img = match image::load_from_memory(&r.body) {
                Ok(img) => img,
                Err(e) => return Some(format!("the 200's body does not decode: {e}")),
            };
            let dims = (img.width(), img.height());
            (dims != (48, 32)).then(|| format!("a {}x{} image instead of 48x32", dims.0, dims.1))
        }
        503 => r
            .header("Retry-After")
            .is_none()
            .then(|| format!("503 without Retry-After:\n{}", r.describe())),
        _ => Some(r.describe()),
    }
}

/// One worker; a slow (3 s) generation in `location`, then a static file
/// requested while it is known to be in progress. Returns whether the slow
/// thumbnail's complete response had already arrived when the static
/// file's response was read: the event loop was blocked by the generation.
fn static_waited_for_the_slow_thumbnail(pool: &str) -> bool {
    let nginx = Nginx::builder()
        .server("location /media/ { alias @MEDIA@/; }")
        .server(&thumb_location(
            "/slow/",
            "",
            "48x48",
            None,
            // Long enough that even a loaded machine answers a static file
            // from a free event loop well within it.
            &format!("image_filter_rs_thread_pool {pool}; image_filter_rs_debug_delay 3s;"),
        ))
        // Small, so the whole slow response fits in the socket buffer at
        // once and nginx never returns to its event loop to finish it.
        .file("media/tiny.jpg", images::jpeg(96, 64, [120, 60, 30]))
        .file("media/small.txt", "small\n")
        .worker_processes(1)
        .start();
    let mut slow = send_and_wait_until_read(&nginx, "/slow/tiny.jpg");
    // nginx has read the slow request, so the generation has started (its
    // handler runs in the same event-loop turn as the read).
    let static_resp = nginx.get("/media/small.txt");
    static_resp.assert_status(200);
    assert_eq!(static_resp.body, b"small\n");
    // Whatever of the slow response is already here, without waiting.
    slow.set_nonblocking(true).unwrap();
    let mut early = Vec::new();
    let mut buf = [0u8; 65536];
    let finished = loop {
        match slow.read(&mut buf) {
            Ok(0) => break true,
            Ok(n) => early.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
            Err(e) => panic!("reading the slow response: {e}"),
        }
    };
    slow.set_nonblocking(false).unwrap();
    let mut rest = Vec::new();
    slow.read_to_end(&mut rest).expect("read the slow response");
    early.extend_from_slice(&rest);
    let r = Response::parse(&early, false).expect("the slow response is complete");
    r.assert_status(200);
    assert_eq!(decode(&r.body).dims(), (48, 32));
    nginx.stop_and_check();
    finished
}

#[test]
fn with_offload_off_a_slow_thumbnail_blocks_the_event_loop() {
    // The contrast that shows what the pool is for: generation on the
    // event loop holds up every other request of the worker.
    assert!(
        static_waited_for_the_slow_thumbnail("off"),
        "with image_filter_rs_thread_pool off, the static file was answered while the \
         thumbnail was still being made: the generation did not run on the event loop"
    );
}

#[test]
fn with_the_default_pool_the_event_loop_stays_free() {
    assert!(
        !static_waited_for_the_slow_thumbnail("default"),
        "with the default thread pool, the static file was answered only after the \
         slow thumbnail: the generation blocked the event loop"
    );
}

#[test]
fn pool_threads_make_thumbnails_at_a_lower_priority_than_the_event_loop() {
    let nginx = Nginx::builder()
        .server(&thumb_location("/t/", "", "120x120", None, ""))
        .sample_media(&["wine.jpg"])
        .worker_processes(1)
        .start();
    nginx.get("/t/wine.jpg").assert_status(200);
    let worker = nginx.worker_pids()[0];
    let threads = procfs::thread_niceness(worker);
    let main_nice = threads.iter().find(|&&(tid, _)| tid == worker).map(|t| t.1);
    assert_eq!(
        main_nice,
        Some(0),
        "the event loop keeps its priority: {threads:?}"
    );
    assert!(
        threads.iter().any(|&(_, nice)| nice == 10),
        "the thread that made the thumbnail runs at nice 10: {threads:?}"
    );
    nginx.stop_and_check();
}

#[test]
fn graceful_stop_waits_for_a_thumbnail_in_flight() {
    // The generation sleeps 2 s in the pool when SIGQUIT arrives: the
    // worker must stay until it is done and the answer is sent.
    let nginx = slow_cached_thumbs()
        .sample_media(&["wine.jpg"])
        .worker_processes(2)
        .start();
    let slow = send_and_wait_until_read(&nginx, "/slow/wine.jpg");
    let reader = thread::spawn(move || read_response(slow, "the thumbnail in flight at stop"));
    nginx.stop_and_check();
    let r = reader.join().expect("reader thread");
    r.assert_status(200);
    assert_eq!(r.cache_status(), Some("MISS"), "{}", r.describe());
    assert_eq!(decode(&r.body).dims().1, 350);
}
