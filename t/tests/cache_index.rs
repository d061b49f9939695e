//! The shared-memory cache index and its cache manager, tested against the
//! real nginx with several workers: one generation per key under a herd,
//! `max_size` holding during an eviction storm, `inactive` expiry, replaced
//! and deleted originals, the index across reload and restart, a worker
//! killed while it holds a key's claim, a full disk, and cache files damaged
//! behind the module's back. The module's status page is the proof of what
//! happened inside (`generated`, `evictions`, `stale_locks`...), alongside
//! the files on disk and the error log.

use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use image_filter_rs_tests::cache::{cache_bytes, cache_entries, check_layout, temp_files};
use image_filter_rs_tests::images::{self, decode, mean_rgb};
use image_filter_rs_tests::presets::{thumb_location, STATUS_LOCATION, STATUS_PATH};
use image_filter_rs_tests::status::{self, CacheStats};
use image_filter_rs_tests::tmpfs::Tmpfs;
use image_filter_rs_tests::{http, procfs, wait_until, Builder, Nginx, Request, Response};

const LEVELS: &[usize] = &[1, 2];

/// A server with one cache zone `thumbs` in `<prefix>/cache` (levels 1:2
/// plus `cache_params`), fit thumbnails on `/thumb/` (with `thumb_extra`
/// directives), originals on `/media/` and the status page.
fn cached_server(cache_params: &str, thumb_extra: &str) -> Builder {
    Nginx::builder()
        .http(&format!(
            "image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m levels=1:2 {cache_params};"
        ))
        .server("location /media/ { alias @MEDIA@/; }")
        .server(&thumb_location(
            "/thumb/",
            "",
            "350x350",
            Some("thumbs"),
            thumb_extra,
        ))
        .server(STATUS_LOCATION)
}

fn stats(nginx: &Nginx) -> CacheStats {
    status::fetch(nginx, STATUS_PATH, "thumbs")
}

/// The cache files in `<prefix>/cache` (temporaries excluded), each checked
/// against the `levels=1:2` layout.
fn cache_files(nginx: &Nginx) -> Vec<PathBuf> {
    let dir = nginx.path("cache");
    let files: Vec<PathBuf> = cache_entries(&dir).into_iter().map(|(p, _)| p).collect();
    for f in &files {
        if let Err(e) = check_layout(f, LEVELS) {
            panic!("bad cache file: {e}\nall files: {files:?}");
        }
    }
    files
}

/// Error-log lines saying the module made a thumbnail of `name`.
fn made_lines(nginx: &Nginx, name: &str) -> Vec<String> {
    nginx.error_log_lines_with(&["image_filter_rs: made ", &format!("/{name}\", ")])
}

fn assert_status_in(resp: &Response, allowed: &[&str], what: &str) {
    let got = resp.cache_status();
    assert!(
        got.is_some_and(|s| allowed.contains(&s)),
        "{what}: X-Cache-Status should be one of {allowed:?}:\n{}",
        resp.describe()
    );
}

#[test]
fn a_herd_of_fifty_makes_the_thumbnail_once() {
    // The debug delay keeps the one generation in flight for a second, so
    // all fifty requests arrive while it runs: a real herd, across two
    // workers, not fifty requests that happen to queue up one by one. The
    // long lock timeout keeps the waiters waiting however slow a loaded
    // machine makes the maker (past it, each would rightly make its own).
    let nginx = cached_server(
        "",
        "image_filter_rs_debug_delay 1s; image_filter_rs_cache_lock_timeout 60s;",
    )
    .sample_media(&["sunset.jpg"])
    .worker_processes(2)
    .start();
    let requests = vec![Request::get("/thumb/sunset.jpg"); 50];
    let responses = http::concurrent_complete(nginx.port(), &requests);
    http::assert_all_ok_and_alike(&responses);
    let first = &responses[0];
    assert_eq!(decode(&first.body).width, 350);
    let statuses: Vec<&str> = responses
        .iter()
        .map(|r| r.cache_status().unwrap_or("(none)"))
        .collect();
    println!("herd statuses: {statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == "MISS").count(),
        1,
        "exactly one request of the herd makes the thumbnail: {statuses:?}"
    );
    assert!(
        statuses
            .iter()
            .all(|s| matches!(*s, "MISS" | "UPDATING" | "HIT")),
        "{statuses:?}"
    );
    let s = stats(&nginx);
    assert_eq!(
        s.get("generated"),
        1,
        "one generation for the herd:\n{}",
        s.raw
    );
    assert_eq!(s.get("misses"), 1, "{}", s.raw);
    assert_eq!(s.get("generation_failures"), 0, "{}", s.raw);
    assert_eq!(s.get("lock_timeouts"), 0, "{}", s.raw);
    assert_eq!(s.get("entries"), 1, "{}", s.raw);
    // Validity of the test itself: the others did wait for the one maker.
    assert!(
        s.get("waits") >= 1,
        "no request waited, so this was no herd:\n{}",
        s.raw
    );
    let made = made_lines(&nginx, "sunset.jpg");
    assert_eq!(made.len(), 1, "one 'made' log line: {made:#?}");
    assert_eq!(cache_files(&nginx).len(), 1);
    let after = nginx.get("/thumb/sunset.jpg");
    assert_eq!(after.cache_status(), Some("HIT"), "{}", after.describe());
    assert!(after.body == first.body);
    nginx.stop_and_check();
}

/// Herds on fresh keys, many times over, with two and four workers: a race
/// in claiming a key that shows once in eight herds (it did: two MISSes and
/// `generated: 2` for one key) fails here with near certainty, as 48 herds
/// let it through with a chance of (7/8)^48, about 0.2 %.
#[test]
fn repeated_herds_on_fresh_keys_make_each_thumbnail_once() {
    const HERDS_PER_RUN: usize = 24;
    const HERD_SIZE: usize = 24;
    let original = fs::read(image_filter_rs_tests::paths::sample_media("sunset.jpg")).unwrap();
    let mut races_seen = 0;
    for workers in [2, 4] {
        let mut builder = cached_server(
            "",
            "image_filter_rs_debug_delay 200ms; image_filter_rs_cache_lock_timeout 60s;",
        )
        .worker_processes(workers);
        for herd in 0..HERDS_PER_RUN {
            builder = builder.file(&format!("media/herd{herd:02}.jpg"), original.clone());
        }
        let nginx = builder.start();
        for herd in 0..HERDS_PER_RUN {
            let url = format!("/thumb/herd{herd:02}.jpg");
            let requests = vec![Request::get(&url); HERD_SIZE];
            let responses = http::concurrent_complete(nginx.port(), &requests);
            http::assert_all_ok_and_alike(&responses);
            let statuses: Vec<&str> = responses
                .iter()
                .map(|r| r.cache_status().unwrap_or("(none)"))
                .collect();
            assert_eq!(
                statuses.iter().filter(|s| **s == "MISS").count(),
                1,
                "{workers} workers, herd {herd}: exactly one MISS: {statuses:?}"
            );
            let made = made_lines(&nginx, &format!("herd{herd:02}.jpg"));
            assert_eq!(made.len(), 1, "{workers} workers, herd {herd}: {made:#?}");
        }
        let s = stats(&nginx);
        let herds = HERDS_PER_RUN as u64;
        assert_eq!(s.get("generated"), herds, "{workers} workers:\n{}", s.raw);
        assert_eq!(s.get("misses"), herds, "{}", s.raw);
        assert_eq!(s.get("entries"), herds, "{}", s.raw);
        assert_eq!(s.get("lock_timeouts"), 0, "{}", s.raw);
        assert_eq!(cache_files(&nginx).len(), HERDS_PER_RUN);
        races_seen += s.get("claim_races");
        nginx.stop_and_check();
    }
    // How often the race this test guards against came up, and was lost by
    // the late claimant as it should be.
    println!("claims that found the key taken since their look: {races_seen}");
}

#[test]
fn max_size_holds_during_an_eviction_storm() {
    const KEYS: usize = 5000;
    const CLIENTS: usize = 8;
    const WORKERS: usize = 2;
    const MAX: u64 = 200 * 1024;
    // `levels=1` keeps each sample's walk (done with nginx frozen) to 16
    // directories, so the freezes stay short; eviction does not depend on
    // the levels.
    let nginx = Nginx::builder()
        .http(&format!(
            "image_filter_rs_cache_path @PREFIX@/storm keys_zone=storm:4m levels=1 max_size={}k;",
            MAX / 1024
        ))
        .server(&thumb_location("/small/", "s/", "48x48", Some("storm"), ""))
        .server(STATUS_LOCATION)
        .worker_processes(WORKERS)
        .start();
    // Distinct names make distinct keys; the content may be shared.
    let original = images::jpeg(96, 64, [40, 160, 90]);
    let media = nginx.media_dir().join("s");
    fs::create_dir_all(&media).unwrap();
    for i in 0..KEYS {
        fs::write(media.join(format!("{i:05}.jpg")), &original).unwrap();
    }
    let cache_dir = nginx.path("storm");
    let mut storm_time = Duration::ZERO;

    let next = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(Mutex::new(Vec::<String>::new()));
    let port = nginx.port();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (next, failures) = (Arc::clone(&next), Arc::clone(&failures));
            thread::spawn(move || loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= KEYS {
                    return;
                }
                let path = format!("/small/{i:05}.jpg");
                let problem = match Request::get(&path).try_send(port) {
                    Ok(r) if r.status == 200 && r.cache_status() == Some("MISS") => continue,
                    Ok(r) => r.describe(),
                    Err(e) => e.to_string(),
                };
                failures.lock().unwrap().push(format!("{path}: {problem}"));
            })
        })
        .collect();

    // Sample the disk while the storm runs. Each sample freezes nginx's
    // processes, so a walk of the directory is an exact snapshot rather
    // than a sum over files that come and go while it is walked.
    let done = Arc::new(AtomicBool::new(false));
    let (mut samples, mut worst, mut biggest_file) = (0usize, 0u64, 0u64);
    thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::SeqCst) {
                let entries = {
                    let _frozen = nginx.freeze();
                    cache_entries(&cache_dir)
                };
                let total: u64 = entries.iter().map(|(_, l)| l).sum();
                let biggest = entries.iter().map(|(_, l)| *l).max().unwrap_or(0);
                biggest_file = biggest_file.max(biggest);
                worst = worst.max(total);
                samples += 1;
                // The sampling period, not a wait for something to happen.
                thread::sleep(Duration::from_millis(10));
            }
        });
        let started = Instant::now();
        for c in clients {
            c.join().expect("client thread panicked");
        }
        storm_time = started.elapsed();
        done.store(true, Ordering::SeqCst);
    });
    let failures = failures.lock().unwrap().clone();
    assert!(
        failures.is_empty(),
        "{} of {KEYS} requests did not answer 200 MISS, first ones:\n{}",
        failures.len(),
        failures[..failures.len().min(5)].join("\n")
    );
    println!(
        "storm: {KEYS} keys in {storm_time:?}, {samples} samples, worst {worst} bytes on disk, \
         largest cache file {biggest_file} bytes"
    );
    assert!(samples >= 5, "only {samples} disk samples during the storm");
    // What a snapshot may hold over max_size: the file of each generation
    // in flight (one per client), renamed into place before its worker
    // indexes it and evicts; and per worker the victim of the last eviction,
    // dropped from the index but not unlinked yet. All entries are the same
    // size (same original, same operation).
    let allowance = (CLIENTS + WORKERS) as u64 * biggest_file;
    assert!(
        worst <= MAX + allowance,
        "the cache reached {worst} bytes on disk during the storm, over max_size {MAX} \
         plus {allowance} for entries in flight"
    );
    // Every request has been answered, and workers evict before answering:
    // the disk is within max_size now, and the index agrees with it.
    let entries = cache_entries(&cache_dir);
    let on_disk: u64 = entries.iter().map(|(_, l)| l).sum();
    let s = status::fetch(&nginx, STATUS_PATH, "storm");
    println!("{}", s.raw.trim_end());
    assert!(
        on_disk <= MAX,
        "{on_disk} bytes on disk after the storm, over {MAX}"
    );
    assert!(!entries.is_empty(), "eviction emptied the cache entirely");
    assert_eq!(s.get("generated"), KEYS as u64, "{}", s.raw);
    assert_eq!(s.get("store_failures"), 0, "{}", s.raw);
    assert!(s.get("evictions") > 0, "no evictions reported:\n{}", s.raw);
    assert!(
        s.get("evictions") >= (KEYS - entries.len()) as u64,
        "{} entries left of {KEYS} made, so at least {} evictions:\n{}",
        entries.len(),
        KEYS - entries.len(),
        s.raw
    );
    assert_eq!(s.max_size(), Some(MAX), "{}", s.raw);
    assert_eq!(
        s.get("entries"),
        entries.len() as u64,
        "the index and the disk disagree on the number of entries:\n{}",
        s.raw
    );
    assert_eq!(
        s.get("size"),
        on_disk,
        "the index and the disk disagree on the cache's size:\n{}",
        s.raw
    );
    assert!(
        temp_files(&cache_dir).is_empty(),
        "{:?}",
        temp_files(&cache_dir)
    );
    // Evicted thumbnails are simply made again.
    let again = nginx.get("/small/00000.jpg");
    again.assert_status(200);
    assert_eq!(decode(&again.body).dims(), (48, 32));
    nginx.stop_and_check();
}

#[test]
fn inactive_entries_and_their_files_are_removed() {
    let nginx = cached_server("inactive=2s", "")
        .sample_media(&["wine.jpg", "sunset.jpg", "gulp.png"])
        .worker_processes(2)
        .start();
    for name in ["wine.jpg", "sunset.jpg", "gulp.png"] {
        let r = nginx.get(&format!("/thumb/{name}"));
        r.assert_status(200);
        assert_eq!(r.cache_status(), Some("MISS"), "{}", r.describe());
    }
    // All three were indexed: each is an entry still, or already expired
    // (on a slow machine the first may expire before the third is made).
    let s = stats(&nginx);
    assert_eq!(
        s.get("entries") + s.get("inactive_removals"),
        3,
        "{}",
        s.raw
    );
    let s = status::wait_for(
        &nginx,
        STATUS_PATH,
        "thumbs",
        "the index to empty after inactive=2s",
        Duration::from_secs(15),
        |s| s.get("entries") == 0,
    );
    assert_eq!(s.get("inactive_removals"), 3, "{}", s.raw);
    assert_eq!(s.get("size"), 0, "{}", s.raw);
    wait_until(
        "the inactive entries' files to be removed",
        Duration::from_secs(15),
        || cache_files(&nginx).is_empty().then_some(()),
    );
    // Expiry forgets; the next request makes it again.
    let r = nginx.get("/thumb/wine.jpg");
    r.assert_status(200);
    assert_eq!(r.cache_status(), Some("MISS"), "{}", r.describe());
    nginx.stop_and_check();
}

#[test]
fn a_replaced_original_expires_and_a_deleted_one_is_dropped() {
    // Two originals of the same size that differ only in colour: the
    // geometry cannot tell them apart, only fresh pixels can.
    let red = images::jpeg(640, 480, [220, 30, 30]);
    let blue = images::jpeg(640, 480, [30, 30, 220]);
    let nginx = cached_server("", "")
        .file("media/photo.jpg", red)
        .worker_processes(2)
        .start();
    let before = nginx.get("/thumb/photo.jpg");
    before.assert_status(200);
    assert_eq!(before.cache_status(), Some("MISS"), "{}", before.describe());
    let old = decode(&before.body);
    assert_eq!(old.dims(), (350, 263));
    let [r, _, b] = mean_rgb(&old.image);
    assert!(
        r > b + 100.0,
        "the first thumbnail should be red: {r} vs {b}"
    );
    assert_eq!(cache_files(&nginx).len(), 1);

    // Replace it as a deployment does: write beside, rename over. The mtime
    // is moved well away so a coarse clock cannot hide the change.
    let target = nginx.media_dir().join("photo.jpg");
    let tmp = nginx.media_dir().join(".photo.jpg.new");
    fs::write(&tmp, blue).unwrap();
    let mtime = fs::metadata(&target).unwrap().modified().unwrap() + Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    fs::rename(&tmp, &target).unwrap();

    let after = nginx.get("/thumb/photo.jpg");
    after.assert_status(200);
    assert_eq!(
        after.cache_status(),
        Some("EXPIRED"),
        "a replaced original must be made again:\n{}",
        after.describe()
    );
    let new = decode(&after.body);
    assert_eq!(new.dims(), (350, 263));
    let [r, _, b] = mean_rgb(&new.image);
    assert!(
        b > r + 100.0,
        "the thumbnail after the replacement should be blue, is R {r:.0} B {b:.0}: stale pixels"
    );
    assert!(old.image.to_rgb8().as_raw() != new.image.to_rgb8().as_raw());
    let s = stats(&nginx);
    assert_eq!(s.get("expired"), 1, "{}", s.raw);
    assert_eq!(s.get("generated"), 2, "{}", s.raw);
    let hit = nginx.get("/thumb/photo.jpg");
    assert_eq!(hit.cache_status(), Some("HIT"), "{}", hit.describe());
    assert!(hit.body == after.body, "the HIT is not the new thumbnail");
    let files = cache_files(&nginx);
    assert_eq!(files.len(), 1, "the new file replaces the old: {files:?}");

    fs::remove_file(&target).unwrap();
    let gone = nginx.get("/thumb/photo.jpg");
    gone.assert_status(404);
    wait_until(
        "the deleted original's cache file to go",
        Duration::from_secs(5),
        || cache_files(&nginx).is_empty().then_some(()),
    );
    let s = stats(&nginx);
    assert_eq!(s.get("entries"), 0, "{}", s.raw);
    assert_eq!(s.get("size"), 0, "{}", s.raw);
    nginx.stop_and_check();
}

#[test]
fn the_cache_survives_reload_and_restart() {
    let mut nginx = cached_server("", "")
        .sample_media(&["seeding.jpg", "wine.jpg"])
        .worker_processes(2)
        .start();
    let names = ["seeding.jpg", "wine.jpg"];
    let made: Vec<Response> = names
        .iter()
        .map(|n| {
            let r = nginx.get(&format!("/thumb/{n}"));
            assert_eq!(r.cache_status(), Some("MISS"), "{}", r.describe());
            r
        })
        .collect();

    nginx.reload();
    for (n, first) in names.iter().zip(&made) {
        let r = nginx.get(&format!("/thumb/{n}"));
        r.assert_status(200);
        assert_eq!(
            r.cache_status(),
            Some("HIT"),
            "{n} after HUP:\n{}",
            r.describe()
        );
        assert!(r.body == first.body, "{n}: body changed across the reload");
    }
    // The zone, counters included, is the same across a reload.
    let s = stats(&nginx);
    assert_eq!(s.get("entries"), 2, "{}", s.raw);
    assert_eq!(s.get("generated"), 2, "{}", s.raw);
    assert_eq!(s.get("hits"), 2, "{}", s.raw);

    nginx.restart();
    for (n, first) in names.iter().zip(&made) {
        let r = nginx.get(&format!("/thumb/{n}"));
        r.assert_status(200);
        assert_eq!(
            r.cache_status(),
            Some("HIT"),
            "{n} after a stop and start:\n{}",
            r.describe()
        );
        assert!(r.body == first.body, "{n}: body changed across the restart");
        assert_eq!(r.header("ETag"), first.header("ETag"), "{n}");
    }
    // The manager of the new run indexes what it finds (or what the
    // requests above adopted first), damaging nothing.
    wait_until(
        "the restarted cache manager's load notice",
        Duration::from_secs(15),
        || {
            let lines = nginx.error_log_lines_with(&["image_filter_rs: cache \"thumbs\" loaded"]);
            (lines.len() >= 2).then_some(())
        },
    );
    let loads = nginx.error_log_lines_with(&["image_filter_rs: cache \"thumbs\" loaded"]);
    assert!(
        loads[1].contains("removed 0 damaged"),
        "after the restart: {}",
        loads[1]
    );
    let s = stats(&nginx);
    assert!(s.loaded(), "{}", s.raw);
    assert_eq!(s.get("entries"), 2, "{}", s.raw);
    assert_eq!(s.get("generated"), 0, "nothing is made again:\n{}", s.raw);
    assert_eq!(s.get("damaged_files"), 0, "{}", s.raw);
    assert_eq!(made_lines(&nginx, "seeding.jpg").len(), 1);
    assert_eq!(cache_files(&nginx).len(), 2);
    nginx.stop_and_check();
}

#[test]
fn a_killed_worker_claim_is_taken_over() {
    // The maker sleeps 3 s in the pool before working; the lock timeout is
    // well above that, so a quick answer after the kill can only come from
    // noticing that the claim's owner is dead, not from the timeout.
    const LOCK_TIMEOUT: Duration = Duration::from_secs(10);
    let nginx = cached_server(
        "",
        "image_filter_rs_debug_delay 3s; image_filter_rs_cache_lock_timeout 10s;",
    )
    .sample_media(&["sunset.jpg"])
    .worker_processes(2)
    .start();
    let port = nginx.port();
    let (port_tx, port_rx) = mpsc::channel();
    let victim_client = thread::spawn(move || {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        port_tx.send(stream.local_addr().unwrap().port()).unwrap();
        stream.set_read_timeout(Some(http::READ_TIMEOUT)).unwrap();
        stream
            .write_all(&Request::get("/thumb/sunset.jpg").to_bytes(port))
            .expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).map(|_| raw)
    });
    let client_port = port_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    wait_until("nginx to read the request", Duration::from_secs(10), || {
        procfs::request_read(port, client_port).then_some(())
    });
    let s = status::wait_for(
        &nginx,
        STATUS_PATH,
        "thumbs",
        "the key's claim in the index",
        Duration::from_secs(10),
        |s| s.get("entries") == 1,
    );
    assert_eq!(
        s.get("generated"),
        0,
        "already made; too late to kill:\n{}",
        s.raw
    );

    let inode = procfs::server_end(port, client_port)
        .expect("the connection is listed")
        .inode;
    let workers = nginx.worker_pids();
    let owner = procfs::owner_of_socket(&workers, inode)
        .unwrap_or_else(|| panic!("no worker of {workers:?} holds the connection"));
    nginx.expect_worker_crash(owner);
    // SAFETY: kill has no memory-safety preconditions; `owner` is one of
    // this test's nginx workers.
    assert_eq!(unsafe { libc::kill(owner, libc::SIGKILL) }, 0);
    let exited = format!("worker process {owner} exited on signal 9");
    wait_until(
        "the master to reap the killed worker",
        Duration::from_secs(10),
        || (!nginx.error_log_lines_with(&[&exited]).is_empty()).then_some(()),
    );
    let victim = victim_client.join().expect("client thread");
    if let Ok(raw) = &victim {
        if let Ok(r) = Response::parse(raw, false) {
            assert_ne!(
                r.status, 200,
                "the killed worker's client got a thumbnail: the wrong worker was killed?"
            );
        }
    }
    // The dead worker's claim is still in the index.
    let s = stats(&nginx);
    assert_eq!((s.get("entries"), s.get("generated")), (1, 0), "{}", s.raw);

    // A writer killed mid-write leaves a temporary file named after its
    // PID; plant one for the dead worker, and one for a live process (this
    // test), which the sweep must leave alone.
    let tmp_dir = nginx.path("cache/.tmp");
    fs::create_dir_all(&tmp_dir).unwrap();
    let dead_tmp = tmp_dir.join(format!("{:032x}.{owner}.1.tmp", 0xdead_u32));
    let live_tmp = tmp_dir.join(format!("{:032x}.{}.1.tmp", 0xa11e_u32, std::process::id()));
    fs::write(&dead_tmp, b"half a thumbnail").unwrap();
    fs::write(&live_tmp, b"still being written").unwrap();

    let started = Instant::now();
    let r = nginx.get("/thumb/sunset.jpg");
    let took = started.elapsed();
    r.assert_status(200);
    assert_eq!(decode(&r.body).width, 350);
    assert_eq!(
        r.cache_status(),
        Some("MISS"),
        "the request after the kill should take the claim over:\n{}",
        r.describe()
    );
    assert!(
        took < LOCK_TIMEOUT,
        "the request after the kill took {took:?}, as long as the lock timeout: \
         the dead worker's claim was not noticed"
    );
    let s = stats(&nginx);
    assert!(s.get("stale_locks") >= 1, "{}", s.raw);
    assert_eq!(s.get("lock_timeouts"), 0, "{}", s.raw);
    assert_eq!(s.get("generated"), 1, "{}", s.raw);
    assert_eq!(s.get("entries"), 1, "{}", s.raw);
    let hit = nginx.get("/thumb/sunset.jpg");
    assert_eq!(hit.cache_status(), Some("HIT"), "{}", hit.describe());
    assert!(hit.body == r.body);

    wait_until(
        "the cache manager to remove the dead writer's temporary file",
        Duration::from_secs(10),
        || (!dead_tmp.exists()).then_some(()),
    );
    assert!(
        live_tmp.exists(),
        "the sweep removed the temporary file of a live writer"
    );
    fs::remove_file(&live_tmp).unwrap();
    assert!(temp_files(&nginx.path("cache")).is_empty());
    assert_eq!(cache_files(&nginx).len(), 1);
    nginx.stop_and_check();
}

#[test]
fn a_full_disk_serves_uncached_and_leaves_no_partial_file() {
    let Some(disk) = Tmpfs::mount(
        "512k",
        "a_full_disk_serves_uncached_and_leaves_no_partial_file",
    ) else {
        return;
    };
    let root = disk.path().to_path_buf();
    let nginx = Nginx::builder()
        .http(&format!(
            "image_filter_rs_cache_path {} keys_zone=thumbs:1m levels=1:2;",
            root.display()
        ))
        .server(&thumb_location(
            "/thumb/",
            "",
            "350x350",
            Some("thumbs"),
            "",
        ))
        .server(STATUS_LOCATION)
        .sample_media(&["wine.jpg", "seeding.jpg"])
        .worker_processes(2)
        .start();
    let on_disk = |root: &Path| -> Vec<PathBuf> {
        cache_entries(root)
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p != Path::new("filler"))
            .collect()
    };
    // With room, it caches.
    let first = nginx.get("/thumb/wine.jpg");
    assert_eq!(first.cache_status(), Some("MISS"), "{}", first.describe());
    assert_eq!(on_disk(&root).len(), 1);

    let (filler, filled) = disk.fill("filler");
    println!("filled the tmpfs with {filled} bytes");
    for attempt in 1..=2 {
        let r = nginx.get("/thumb/seeding.jpg");
        r.assert_status(200);
        assert_eq!(decode(&r.body).width, 350, "attempt {attempt}");
        // It did miss; it could not store. HIT or UPDATING would mean a
        // partial file was served or a failed claim was left behind.
        assert_status_in(
            &r,
            &["MISS", "BYPASS"],
            &format!("attempt {attempt} on a full disk"),
        );
        let failed = nginx.error_log_lines_with(&[
            "storing the thumbnail of \"",
            "/seeding.jpg\" failed (",
            "served uncached",
        ]);
        assert_eq!(
            failed.len(),
            attempt,
            "one 'served uncached' line per failed store: {failed:#?}"
        );
        let s = stats(&nginx);
        assert_eq!(s.get("store_failures"), attempt as u64, "{}", s.raw);
        assert_eq!(
            s.get("entries"),
            1,
            "no entry for the failed store:\n{}",
            s.raw
        );
        let files = on_disk(&root);
        assert_eq!(files.len(), 1, "a partial file was left: {files:?}");
        let temps = temp_files(&root);
        assert!(temps.is_empty(), "temporary files left: {temps:?}");
    }
    // The entry that was stored before is still served.
    let hit = nginx.get("/thumb/wine.jpg");
    assert_eq!(hit.cache_status(), Some("HIT"), "{}", hit.describe());
    assert!(hit.body == first.body);

    // With room again, it caches again.
    fs::remove_file(&filler).unwrap();
    let stored = nginx.get("/thumb/seeding.jpg");
    assert_eq!(stored.cache_status(), Some("MISS"), "{}", stored.describe());
    let hit = nginx.get("/thumb/seeding.jpg");
    assert_eq!(hit.cache_status(), Some("HIT"), "{}", hit.describe());
    assert_eq!(on_disk(&root).len(), 2);
    nginx.stop_and_check();
    drop(disk);
}

#[test]
fn a_deleted_or_truncated_cache_file_is_made_again() {
    let nginx = cached_server("", "")
        .sample_media(&["sunset.jpg"])
        .worker_processes(2)
        .start();
    let first = nginx.get("/thumb/sunset.jpg");
    assert_eq!(first.cache_status(), Some("MISS"), "{}", first.describe());
    let files = cache_files(&nginx);
    assert_eq!(files.len(), 1);
    let file = nginx.path("cache").join(&files[0]);
    let full_size = fs::metadata(&file).unwrap().len();

    type Damage = fn(&Path, u64);
    let damages: [(&str, Damage); 2] = [
        ("deleted", |f, _| fs::remove_file(f).unwrap()),
        ("truncated", |f, size| {
            fs::File::options()
                .write(true)
                .open(f)
                .unwrap()
                .set_len(size / 2)
                .unwrap()
        }),
    ];
    for (n, (how, damage)) in damages.iter().enumerate() {
        damage(&file, full_size);
        let r = nginx.get("/thumb/sunset.jpg");
        r.assert_status(200);
        assert_status_in(&r, &["MISS", "EXPIRED"], &format!("cache file {how}"));
        assert!(
            r.body == first.body,
            "cache file {how}: the answer ({} bytes) is not the thumbnail ({} bytes)",
            r.body.len(),
            first.body.len()
        );
        assert_eq!(
            fs::metadata(&file).map(|m| m.len()).ok(),
            Some(full_size),
            "cache file {how}: not written back whole"
        );
        let hit = nginx.get("/thumb/sunset.jpg");
        assert_eq!(hit.cache_status(), Some("HIT"), "{how}: {}", hit.describe());
        assert!(hit.body == first.body, "{how}: HIT body differs");
        let s = stats(&nginx);
        assert_eq!(s.get("generated"), n as u64 + 2, "{how}:\n{}", s.raw);
        assert_eq!(s.get("damaged_files"), n as u64 + 1, "{how}:\n{}", s.raw);
        assert_eq!(s.get("entries"), 1, "{how}:\n{}", s.raw);
        assert_eq!(s.get("size"), full_size, "{how}:\n{}", s.raw);
    }
    assert_eq!(cache_files(&nginx).len(), 1);
    assert_eq!(cache_bytes(&nginx.path("cache")), full_size);
    nginx.stop_and_check();
}
