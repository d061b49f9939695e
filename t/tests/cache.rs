//! The thumbnail cache seen from outside: `MISS` then `HIT` with identical
//! bytes and validators, cache files laid out as `levels=` says with no
//! temporary files left behind, and `BYPASS` where no cache is configured.

use std::time::Duration;

use image_filter_rs_tests::cache::{check_layout, files_under};
use image_filter_rs_tests::presets::{self, CACHE_DIR, CACHE_LEVELS};
use image_filter_rs_tests::wait::try_wait_until;
use image_filter_rs_tests::{wait_until, Nginx, Response};

/// Files in the cache directory, each checked against the layout.
fn cache_files(nginx: &Nginx) -> Vec<std::path::PathBuf> {
    let files = files_under(&nginx.path(CACHE_DIR));
    for f in &files {
        if let Err(e) = check_layout(f, CACHE_LEVELS) {
            panic!("bad cache file: {e}\nall files: {files:?}");
        }
    }
    files
}

/// Waits for the cache to hold `n` files. The design renames the file into
/// place before answering, but waiting with a deadline also accepts a
/// module that finishes the write just after the response.
fn wait_for_cache_files(nginx: &Nginx, n: usize) -> Vec<std::path::PathBuf> {
    wait_until(
        &format!("{n} file(s) in the cache directory"),
        Duration::from_secs(10),
        || {
            let files = files_under(&nginx.path(CACHE_DIR));
            (files.len() >= n).then_some(())
        },
    );
    cache_files(nginx)
}

fn assert_same_entity(first: &Response, second: &Response) {
    for h in ["Content-Type", "Content-Length", "ETag", "Last-Modified"] {
        assert_eq!(
            first.header(h),
            second.header(h),
            "{h} differs between MISS and HIT:\n{}\n---\n{}",
            first.describe(),
            second.describe()
        );
    }
    assert!(
        first.body == second.body,
        "HIT body ({} bytes) differs from MISS body ({} bytes)",
        second.body.len(),
        first.body.len()
    );
}

#[test]
fn miss_then_hit_serves_identical_bytes() {
    let nginx = presets::standard().start();
    assert!(
        files_under(&nginx.path(CACHE_DIR)).is_empty(),
        "cache must start empty"
    );

    let miss = nginx.get("/thumb/seeding.jpg");
    miss.assert_status(200);
    assert_eq!(miss.cache_status(), Some("MISS"), "{}", miss.describe());
    assert!(
        miss.header("ETag").is_some(),
        "no ETag:\n{}",
        miss.describe()
    );
    let files = wait_for_cache_files(&nginx, 1);
    assert_eq!(files.len(), 1, "one thumbnail, one cache file: {files:?}");
    let layout = check_layout(&files[0], CACHE_LEVELS).unwrap();
    println!("cache file {} ({layout})", files[0].display());

    let hit = nginx.get("/thumb/seeding.jpg");
    hit.assert_status(200);
    assert_eq!(hit.cache_status(), Some("HIT"), "{}", hit.describe());
    assert_same_entity(&miss, &hit);

    // The cache file is not the body (it has a header) but holds it.
    let stored = std::fs::read(nginx.path(CACHE_DIR).join(&files[0])).unwrap();
    assert!(
        stored.len() >= miss.body.len(),
        "cache file ({} bytes) is smaller than the body it stores ({} bytes)",
        stored.len(),
        miss.body.len()
    );

    // Still exactly one file: the HIT wrote nothing new.
    assert_eq!(cache_files(&nginx).len(), 1);
    nginx.stop_and_check();
}

#[test]
fn different_operations_and_files_get_different_entries() {
    let nginx = presets::standard().start();
    let mut n = 0;
    for path in ["/thumb/sunset.jpg", "/crop/sunset.jpg", "/thumb/gulp.png"] {
        let miss = nginx.get(path);
        miss.assert_status(200);
        assert_eq!(
            miss.cache_status(),
            Some("MISS"),
            "{path}: {}",
            miss.describe()
        );
        n += 1;
        let files = wait_for_cache_files(&nginx, n);
        assert_eq!(files.len(), n, "after {path}: {files:?}");
    }
    // Each is now a HIT and still the right geometry: the keys did not collide.
    let fit = nginx.get("/thumb/sunset.jpg");
    let crop = nginx.get("/crop/sunset.jpg");
    assert_eq!(fit.cache_status(), Some("HIT"));
    assert_eq!(crop.cache_status(), Some("HIT"));
    let (fit, crop) = (
        image_filter_rs_tests::images::decode(&fit.body),
        image_filter_rs_tests::images::decode(&crop.body),
    );
    assert_eq!(crop.dims(), (200, 200));
    assert_eq!(fit.width, 350);
    assert_eq!(cache_files(&nginx).len(), 3);
    nginx.stop_and_check();
}

#[test]
fn head_first_then_get_share_one_entry() {
    // A HEAD that misses must still produce (or at least not corrupt) the
    // entry; the GET after it then serves the same entity.
    let nginx = presets::standard().start();
    let head = nginx.head("/thumb/wine.jpg");
    head.assert_status(200);
    assert!(head.body.is_empty(), "HEAD returned a body");
    let get = nginx.get("/thumb/wine.jpg");
    get.assert_status(200);
    assert_eq!(
        head.content_length(),
        Some(get.body.len() as u64),
        "HEAD Content-Length vs GET body:\n{}\n---\n{}",
        head.describe(),
        get.describe()
    );
    assert_eq!(head.header("ETag"), get.header("ETag"));
    let files = wait_for_cache_files(&nginx, 1);
    assert_eq!(files.len(), 1, "{files:?}");
    nginx.stop_and_check();
}

#[test]
fn without_cache_the_status_is_bypass() {
    let nginx = presets::standard().start();
    for _ in 0..2 {
        let resp = nginx.get("/nocache/sunset.jpg");
        resp.assert_status(200);
        assert_eq!(resp.cache_status(), Some("BYPASS"), "{}", resp.describe());
    }
    assert!(
        files_under(&nginx.path(CACHE_DIR)).is_empty(),
        "an uncached location wrote into the cache: {:?}",
        files_under(&nginx.path(CACHE_DIR))
    );
    nginx.stop_and_check();
}

#[test]
fn cache_survives_across_workers() {
    // With several workers, the index is in shared memory: once one worker
    // stored an entry, every request afterwards is a HIT, whichever worker
    // takes it. Connections are spread over workers by the kernel, so make
    // enough requests that more than one worker very likely answers.
    let nginx = presets::standard().worker_processes(3).start();
    let miss = nginx.get("/thumb/gulp.png");
    assert_eq!(miss.cache_status(), Some("MISS"), "{}", miss.describe());
    wait_for_cache_files(&nginx, 1);
    for i in 0..12 {
        let hit = nginx.get("/thumb/gulp.png");
        assert_eq!(
            hit.cache_status(),
            Some("HIT"),
            "request {i} after the MISS:\n{}",
            hit.describe()
        );
        assert!(hit.body == miss.body, "request {i}: body differs");
    }
    assert_eq!(cache_files(&nginx).len(), 1);
    nginx.stop_and_check();
}

/// Replaces the sunset (landscape) by the wine (portrait) under the same
/// name: written beside and renamed, as a deployment would, with the mtime
/// moved well away from the old one so a one-second clock cannot hide it.
fn replace_sunset_by_wine(nginx: &Nginx) {
    let target = nginx.media_dir().join("sunset.jpg");
    let tmp = nginx.media_dir().join(".sunset.jpg.new");
    std::fs::copy(nginx.media_dir().join("wine.jpg"), &tmp).unwrap();
    let old_mtime = std::fs::metadata(&target).unwrap().modified().unwrap();
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .unwrap()
        .set_modified(old_mtime + Duration::from_secs(3600))
        .unwrap();
    std::fs::rename(&tmp, &target).unwrap();
}

#[test]
fn a_changed_original_is_not_served_stale() {
    // Freshness is checked against the original on every request: replace
    // sunset (landscape) by wine (portrait) under the same name, with a new
    // mtime, and the thumbnail must follow.
    let nginx = presets::standard().start();
    let before = nginx.get("/thumb/sunset.jpg");
    assert_eq!(before.cache_status(), Some("MISS"));
    let landscape = image_filter_rs_tests::images::decode(&before.body);
    assert!(landscape.width > landscape.height);

    replace_sunset_by_wine(&nginx);

    let after = nginx.get("/thumb/sunset.jpg");
    after.assert_status(200);
    let portrait = image_filter_rs_tests::images::decode(&after.body);
    assert!(
        portrait.height > portrait.width,
        "stale thumbnail served after the original changed ({}x{}, cache status {:?})",
        portrait.width,
        portrait.height,
        after.cache_status()
    );
    assert_ne!(
        after.header("ETag"),
        before.header("ETag"),
        "ETag must change"
    );
    assert_ne!(
        after.header("Last-Modified"),
        before.header("Last-Modified"),
        "Last-Modified must follow the new original"
    );
    let again = nginx.get("/thumb/sunset.jpg");
    assert_eq!(again.cache_status(), Some("HIT"), "{}", again.describe());
    assert!(again.body == after.body);
    nginx.stop_and_check();
}

#[test]
fn with_open_file_cache_hits_follow_a_changed_original() {
    // nginx's open_file_cache keeps the cache file's descriptor and the
    // original's stat for open_file_cache_valid; a new original is then
    // seen within that time, and never as a mix of old and new.
    let nginx = presets::standard()
        .http("open_file_cache max=100 inactive=60s; open_file_cache_valid 1s;")
        .start();
    let before = nginx.get("/thumb/sunset.jpg");
    assert_eq!(before.cache_status(), Some("MISS"));
    let hit = nginx.get("/thumb/sunset.jpg");
    assert_eq!(hit.cache_status(), Some("HIT"));
    assert!(hit.body == before.body);

    replace_sunset_by_wine(&nginx);

    let portrait_body = wait_until(
        "the thumbnail of the new original",
        Duration::from_secs(10),
        || {
            let r = nginx.get("/thumb/sunset.jpg");
            r.assert_status(200);
            let d = image_filter_rs_tests::images::decode(&r.body);
            (d.height > d.width).then_some(r.body)
        },
    );
    // Once seen, only the new thumbnail is served, from the cache.
    for _ in 0..20 {
        let r = nginx.get("/thumb/sunset.jpg");
        assert!(r.body == portrait_body, "{}", r.describe());
    }
    assert_eq!(nginx.get("/thumb/sunset.jpg").cache_status(), Some("HIT"));
    nginx.stop_and_check();
}

#[test]
fn jpeg_quality_is_part_of_the_cache_key() {
    let nginx = Nginx::builder()
        .sample_media(&["seeding.jpg"])
        .http(presets::CACHE_HTTP)
        .server(
            "location /q10/ { alias @MEDIA@/; image_filter_rs 350x350; \
             image_filter_rs_jpeg_quality 10; image_filter_rs_cache thumbs; \
             add_header X-Cache-Status $image_filter_rs_cache_status always; }\n\
             location /q95/ { alias @MEDIA@/; image_filter_rs 350x350; \
             image_filter_rs_jpeg_quality 95; image_filter_rs_cache thumbs; \
             add_header X-Cache-Status $image_filter_rs_cache_status always; }",
        )
        .start();
    let low = nginx.get("/q10/seeding.jpg");
    let high = nginx.get("/q95/seeding.jpg");
    assert_eq!(low.cache_status(), Some("MISS"));
    assert_eq!(
        high.cache_status(),
        Some("MISS"),
        "quality 95 was served from the quality 10 entry"
    );
    assert!(low.body.len() < high.body.len());
    assert_eq!(wait_for_cache_files(&nginx, 2).len(), 2);
    nginx.stop_and_check();
}

#[test]
fn percent_encoded_path_hits_the_same_entry() {
    // The key comes from the original's path after nginx decodes the URI.
    let nginx = presets::standard().start();
    let miss = nginx.get("/thumb/seeding.jpg");
    assert_eq!(miss.cache_status(), Some("MISS"));
    let hit = nginx.get("/thumb/see%64ing.jpg");
    assert_eq!(hit.cache_status(), Some("HIT"), "{}", hit.describe());
    assert!(hit.body == miss.body);
    assert_eq!(wait_for_cache_files(&nginx, 1).len(), 1);
    nginx.stop_and_check();
}

#[test]
fn max_size_bounds_the_cache() {
    // proxy_cache_path semantics: the cache may overshoot max_size briefly,
    // but is brought back under it; evicted entries are simply made again.
    const MAX: u64 = 30 * 1024;
    let nginx = Nginx::builder()
        .sample_media(&["seeding.jpg", "sunset.jpg", "wine.jpg"])
        .http(&format!(
            "image_filter_rs_cache_path @PREFIX@/cache keys_zone=small:1m levels=1:2 max_size={}k;",
            MAX / 1024
        ))
        .server(
            "location /thumb/ { alias @MEDIA@/; image_filter_rs 350x350; \
             image_filter_rs_cache small; \
             add_header X-Cache-Status $image_filter_rs_cache_status always; }\n\
             location /crop/ { alias @MEDIA@/; image_filter_rs 200x200 crop; \
             image_filter_rs_cache small; \
             add_header X-Cache-Status $image_filter_rs_cache_status always; }",
        )
        .start();
    let paths: Vec<String> = ["thumb", "crop"]
        .iter()
        .flat_map(|l| {
            ["seeding.jpg", "sunset.jpg", "wine.jpg"]
                .iter()
                .map(move |n| format!("/{l}/{n}"))
        })
        .collect();
    let mut produced = 0u64;
    for p in &paths {
        let r = nginx.get(p);
        r.assert_status(200);
        produced += r.body.len() as u64;
    }
    assert!(
        produced > MAX,
        "the test needs more than {MAX} bytes of thumbnails, made {produced}"
    );
    let cache = nginx.path(CACHE_DIR);
    let total = |files: &[std::path::PathBuf]| -> u64 {
        files
            .iter()
            .map(|f| std::fs::metadata(cache.join(f)).map_or(0, |m| m.len()))
            .sum()
    };
    let shrunk = try_wait_until(Duration::from_secs(15), || {
        let files = files_under(&cache);
        (total(&files) <= MAX).then_some(files)
    });
    let files = shrunk.unwrap_or_else(|| {
        let files = files_under(&cache);
        let statuses: Vec<String> = paths
            .iter()
            .map(|p| format!("{p}: {:?}", nginx.get(p).cache_status()))
            .collect();
        panic!(
            "after 15 s the cache still holds {} bytes in {} files, over max_size={MAX} \
             ({produced} bytes of thumbnails made); statuses on re-request: {}",
            total(&files),
            files.len(),
            statuses.join(", ")
        )
    });
    assert!(
        !files.is_empty(),
        "max_size emptied the cache entirely ({produced} bytes made)"
    );
    for f in &files {
        check_layout(f, CACHE_LEVELS).unwrap();
    }
    // Everything is still served correctly, from the cache or made again.
    for p in &paths {
        nginx.get(p).assert_status(200);
    }
    nginx.stop_and_check();
}

/// nginx itself creates the cache directory at start (owned by the
/// workers' user, who may not be able to create it later): exactly the
/// path written, not the path run on into whatever the configuration pool
/// held next (it once made `cacheserver` for `cache`).
#[test]
fn nginx_creates_exactly_the_cache_directory_at_start() {
    let nginx = Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/made keys_zone=made:1m levels=1:2;")
        .server(
            "location /t/ { alias @MEDIA@/; image_filter_rs 100x100; image_filter_rs_cache made; }",
        )
        .start();
    assert!(
        nginx.path("made").is_dir(),
        "no request yet, the directory exists"
    );
    let strays: Vec<String> = std::fs::read_dir(nginx.prefix())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("made") && n != "made")
        .collect();
    assert!(
        strays.is_empty(),
        "directories nginx made by mistake: {strays:?}"
    );
    nginx.stop_and_check();
}
