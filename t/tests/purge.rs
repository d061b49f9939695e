//! `image_filter_rs_purge`: every rendition of one original (sizes, a
//! preset, negotiated formats, in two cache zones) leaves the index and the
//! disk, others stay; access through nginx's `allow`/`deny`; a purge racing
//! a generation leaves nothing of the old original; a directory's purge
//! takes everything under it and nothing beside it; HEAD fills the cache as
//! GET does, for warmers.

use std::path::PathBuf;
use std::thread;
use std::time::Duration;

use image_filter_rs_tests::cache::cache_entries;
use image_filter_rs_tests::images::{self, decode, mean_rgb};
use image_filter_rs_tests::presets::{STATUS_LOCATION, STATUS_PATH};
use image_filter_rs_tests::status::{self, CacheStats};
use image_filter_rs_tests::{Nginx, Request, Response};

const RED: [u8; 3] = [200, 30, 30];
const BLUE: [u8; 3] = [30, 30, 200];

fn server(thumb_extra: &str) -> image_filter_rs_tests::Builder {
    Nginx::builder()
        .http(
            "image_filter_rs_cache_path @PREFIX@/a keys_zone=a:1m levels=1:2; \
             image_filter_rs_cache_path @PREFIX@/b keys_zone=b:1m; \
             image_filter_rs_preset card 120x90 crop contrast=1.2;",
        )
        .server(&format!(
            "location /t/ {{ alias @MEDIA@/; image_filter_rs query; \
             image_filter_rs_sizes 100x100 200x200 300x300; image_filter_rs_format auto; \
             image_filter_rs_cache a; add_header X-Cache-Status $image_filter_rs_cache_status; \
             {thumb_extra} }}"
        ))
        .server(
            "location /card/ { alias @MEDIA@/; image_filter_rs card; image_filter_rs_cache b; \
             add_header X-Cache-Status $image_filter_rs_cache_status; }",
        )
        .server("location /purge/ { alias @MEDIA@/; image_filter_rs_purge; allow 127.0.0.1; deny all; }")
        .server("location /purge-denied/ { alias @MEDIA@/; image_filter_rs_purge; deny all; }")
        .server(STATUS_LOCATION)
        .file("media/photo.jpg", images::jpeg(640, 480, RED))
        .file("media/other.jpg", images::jpeg(640, 480, BLUE))
}

fn wait_loaded(nginx: &Nginx) {
    status::wait_for(
        nginx,
        STATUS_PATH,
        "a",
        "the index loaded",
        Duration::from_secs(10),
        |s| s.loaded(),
    );
}

fn stats(nginx: &Nginx, zone: &str) -> CacheStats {
    status::fetch(nginx, STATUS_PATH, zone)
}

fn files(nginx: &Nginx, zone: &str) -> Vec<PathBuf> {
    cache_entries(&nginx.path(zone))
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn purge(nginx: &Nginx, method: &str, path: &str) -> Response {
    nginx.request(&Request::new(method, path))
}

fn purged_count(resp: &Response) -> u64 {
    resp.assert_status(200);
    assert_eq!(resp.header("Content-Type"), Some("application/json"));
    let body = String::from_utf8_lossy(&resp.body);
    let json = status::parse_json(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    match json.get("purged") {
        Some(status::Json::Number(n)) => n.parse().unwrap_or_else(|e| panic!("{e}: {body}")),
        _ => panic!("no \"purged\" number in {body}"),
    }
}

/// Every rendition of photo.jpg: three sizes, each as WebP and JPEG, and the
/// preset; and one of other.jpg.
fn make_renditions(nginx: &Nginx) {
    for size in [100, 200, 300] {
        for accept in ["image/webp", "image/jpeg"] {
            let url = format!("/t/photo.jpg?w={size}&h={size}");
            let resp = nginx.request(&Request::get(&url).header("Accept", accept));
            assert_eq!(
                resp.cache_status(),
                Some("MISS"),
                "{url} {accept}: {}",
                resp.describe()
            );
        }
    }
    assert_eq!(nginx.get("/card/photo.jpg").cache_status(), Some("MISS"));
    assert_eq!(
        nginx.get("/t/other.jpg?w=100&h=100").cache_status(),
        Some("MISS")
    );
}

#[test]
fn purge_removes_every_rendition_of_one_original_and_nothing_else() {
    let nginx = server("").start();
    wait_loaded(&nginx);
    make_renditions(&nginx);
    assert_eq!(files(&nginx, "a").len(), 7);
    assert_eq!(files(&nginx, "b").len(), 1);

    assert_eq!(purged_count(&purge(&nginx, "PURGE", "/purge/photo.jpg")), 7);
    assert_eq!(files(&nginx, "a").len(), 1, "other.jpg's rendition stays");
    assert!(
        files(&nginx, "b").is_empty(),
        "the preset's, in the other zone, goes too"
    );
    let (a, b) = (stats(&nginx, "a"), stats(&nginx, "b"));
    assert_eq!(a.get("entries"), 1, "{}", a.raw);
    assert_eq!(b.get("entries"), 0, "{}", b.raw);
    assert_eq!(a.get("purged_files") + b.get("purged_files"), 7);
    assert_eq!(a.get("purges"), 1);

    // Everything is made again on request; other.jpg is still a hit.
    assert_eq!(
        nginx.get("/t/photo.jpg?w=100&h=100").cache_status(),
        Some("MISS")
    );
    assert_eq!(nginx.get("/card/photo.jpg").cache_status(), Some("MISS"));
    assert_eq!(
        nginx.get("/t/other.jpg?w=100&h=100").cache_status(),
        Some("HIT")
    );

    // DELETE too; nothing left is 0, still 200; a missing original is fine.
    assert_eq!(
        purged_count(&purge(&nginx, "DELETE", "/purge/photo.jpg")),
        2
    );
    assert_eq!(purged_count(&purge(&nginx, "PURGE", "/purge/photo.jpg")), 0);
    assert_eq!(
        purged_count(&purge(&nginx, "PURGE", "/purge/never-was.jpg")),
        0
    );
    // Other methods, a denied client.
    assert_eq!(nginx.get("/purge/photo.jpg").status, 405);
    assert_eq!(purge(&nginx, "POST", "/purge/photo.jpg").status, 405);
    assert_eq!(
        purge(&nginx, "PURGE", "/purge-denied/other.jpg").status,
        403
    );
    assert_eq!(
        nginx.get("/t/other.jpg?w=100&h=100").cache_status(),
        Some("HIT")
    );
    nginx.stop_and_check();
}

/// Django's order: the new file is saved, then the purge comes, while a
/// thumbnail of the old file is still being made. Nothing of the old file
/// may stay in the cache, whatever the order of the last steps.
#[test]
fn a_purge_racing_a_generation_leaves_nothing_of_the_old_original() {
    purge_racing_a_generation(server, "photo.jpg", "/purge/photo.jpg");
}

/// Four rounds, two workers: a thumbnail of `original` (under the media
/// root) is being made from its old bytes when the file is replaced and
/// `purge_uri` is purged. The late rendition is served to its request but
/// not kept, and the next request makes one from the new bytes.
fn purge_racing_a_generation(
    server: fn(&str) -> image_filter_rs_tests::Builder,
    original: &str,
    purge_uri: &str,
) {
    let url = format!("/t/{original}?w=100&h=100");
    for round in 0..4 {
        let nginx = server("image_filter_rs_debug_delay 600ms;")
            .worker_processes(2)
            .start();
        wait_loaded(&nginx);
        let port = nginx.port();
        let in_flight = url.clone();
        let old = thread::spawn(move || Request::get(&in_flight).send(port));
        // The claim is in the index (a MISS counted) while the thread sleeps.
        status::wait_for(
            &nginx,
            STATUS_PATH,
            "a",
            "the generation in flight",
            Duration::from_secs(10),
            |s| s.get("misses") == 1,
        );
        let path = nginx.media_dir().join(original);
        let staged = path.with_extension("new");
        std::fs::write(&staged, images::jpeg(640, 480, BLUE)).unwrap();
        std::fs::rename(&staged, &path).unwrap();
        assert_eq!(
            purged_count(&purge(&nginx, "PURGE", purge_uri)),
            0,
            "round {round}"
        );
        let old = old.join().unwrap();
        old.assert_status(200);
        let s = status::wait_for(
            &nginx,
            STATUS_PATH,
            "a",
            "the late generation discarded",
            Duration::from_secs(10),
            |s| s.get("discarded") == 1,
        );
        assert_eq!(s.get("entries"), 0, "round {round}: {}", s.raw);
        assert!(
            files(&nginx, "a").is_empty(),
            "round {round}: the old rendition is not kept"
        );
        let fresh = nginx.get(&url);
        assert_eq!(fresh.cache_status(), Some("MISS"), "round {round}");
        let m = mean_rgb(&decode(&fresh.body).image);
        assert!(
            m[2] > 150.0 && m[0] < 80.0,
            "round {round}: the new original's pixels: {m:?}"
        );
        nginx.stop_and_check();
    }
}

/// Originals under `photos/` (one a level deeper), and beside it one whose
/// directory name only starts like it.
fn directory_server(thumb_extra: &str) -> image_filter_rs_tests::Builder {
    server(thumb_extra)
        .file("media/photos/a.jpg", images::jpeg(640, 480, RED))
        .file("media/photos/b.jpg", images::jpeg(640, 480, BLUE))
        .file("media/photos/deep/c.jpg", images::jpeg(640, 480, RED))
        .file("media/photos2/d.jpg", images::jpeg(640, 480, BLUE))
}

#[test]
fn a_directory_purge_takes_everything_under_it_and_nothing_beside_it() {
    let nginx = directory_server("").worker_processes(2).start();
    wait_loaded(&nginx);
    let under = ["photos/a.jpg", "photos/b.jpg", "photos/deep/c.jpg"];
    let beside = ["photos2/d.jpg", "photo.jpg"];
    for name in under.iter().chain(&beside) {
        for size in [100, 200] {
            let url = format!("/t/{name}?w={size}&h={size}");
            assert_eq!(nginx.get(&url).cache_status(), Some("MISS"), "{url}");
        }
        let card = format!("/card/{name}");
        assert_eq!(nginx.get(&card).cache_status(), Some("MISS"), "{card}");
    }
    assert_eq!(files(&nginx, "a").len(), 10);
    assert_eq!(files(&nginx, "b").len(), 5);

    // Two sizes and the preset of each of the three originals under it.
    let resp = purge(&nginx, "PURGE", "/purge/photos/");
    assert_eq!(purged_count(&resp), 9);
    assert_eq!(files(&nginx, "a").len(), 4);
    assert_eq!(files(&nginx, "b").len(), 2);
    let (a, b) = (stats(&nginx, "a"), stats(&nginx, "b"));
    assert_eq!(a.get("entries"), 4, "{}", a.raw);
    assert_eq!(b.get("entries"), 2, "{}", b.raw);
    assert_eq!(a.get("purged_files") + b.get("purged_files"), 9);
    assert_eq!(a.get("purges"), 1, "{}", a.raw);
    for name in &under {
        let url = format!("/t/{name}?w=100&h=100");
        assert_eq!(nginx.get(&url).cache_status(), Some("MISS"), "{url}");
    }
    for name in &beside {
        let url = format!("/t/{name}?w=100&h=100");
        assert_eq!(nginx.get(&url).cache_status(), Some("HIT"), "{url}");
    }
    assert_eq!(
        nginx
            .error_log_lines_with(&["purged 9 renditions under \"", "/photos/\""])
            .len(),
        1
    );

    // A deeper directory, DELETE, and then the whole media root.
    assert_eq!(
        purged_count(&purge(&nginx, "DELETE", "/purge/photos/deep/")),
        1
    );
    assert_eq!(
        purged_count(&purge(&nginx, "PURGE", "/purge/no-such-dir/")),
        0
    );
    // photos2/d.jpg and photo.jpg (two sizes and the preset each), and
    // photos/a.jpg and b.jpg made again above.
    assert_eq!(purged_count(&purge(&nginx, "PURGE", "/purge/")), 8);
    assert!(files(&nginx, "a").is_empty());
    assert!(files(&nginx, "b").is_empty());
    assert_eq!(purge(&nginx, "PURGE", "/purge-denied/").status, 403);
    nginx.stop_and_check();
}

/// A directory purge while a rendition of an original under it is being
/// made from the old bytes: the late rendition is not kept.
#[test]
fn a_directory_purge_racing_a_generation_leaves_nothing_of_the_old_original() {
    purge_racing_a_generation(directory_server, "photos/deep/c.jpg", "/purge/photos/");
}

/// A warmer's request: HEAD makes and stores a cold rendition as GET does.
#[test]
fn head_makes_and_stores_a_cold_rendition() {
    let nginx = server("").start();
    let head = nginx.head("/t/photo.jpg?w=200&h=200");
    head.assert_status(200);
    assert!(head.body.is_empty());
    assert_eq!(head.cache_status(), Some("MISS"));
    assert_eq!(files(&nginx, "a").len(), 1);
    let get = nginx.get("/t/photo.jpg?w=200&h=200");
    assert_eq!(get.cache_status(), Some("HIT"));
    assert_eq!(decode(&get.body).dims(), (200, 150));
    assert_eq!(head.content_length(), Some(get.body.len() as u64));
    nginx.stop_and_check();
}

/// An original deleted without a purge (`rm`, a storage backend): its
/// renditions leave the disk within `originals_check`, with no request for
/// them; a replaced original's stay, to be made again when asked for.
#[test]
fn renditions_of_deleted_originals_are_removed_by_the_cache_manager() {
    let nginx = Nginx::builder()
        .http(
            "image_filter_rs_cache_path @PREFIX@/a keys_zone=a:64k levels=1:2 originals_check=1s;",
        )
        .server(
            "location /t/ { alias @MEDIA@/; image_filter_rs query; \
             image_filter_rs_sizes 100x100 200x200 300x300; image_filter_rs_cache a; \
             add_header X-Cache-Status $image_filter_rs_cache_status; }",
        )
        .server(STATUS_LOCATION)
        .file("media/photo.jpg", images::jpeg(640, 480, RED))
        .file("media/other.jpg", images::jpeg(640, 480, BLUE))
        .start();
    for size in [100, 200, 300] {
        let url = format!("/t/photo.jpg?w={size}&h={size}");
        assert_eq!(nginx.get(&url).cache_status(), Some("MISS"), "{url}");
    }
    assert_eq!(
        nginx.get("/t/other.jpg?w=100&h=100").cache_status(),
        Some("MISS")
    );
    assert_eq!(files(&nginx, "a").len(), 4);
    let capacity = stats(&nginx, "a").get("capacity");

    std::fs::remove_file(nginx.media_dir().join("photo.jpg")).unwrap();
    // Replaced, not deleted: a new file at the same path.
    std::fs::write(
        nginx.media_dir().join("other.jpg.new"),
        images::jpeg(640, 480, RED),
    )
    .unwrap();
    std::fs::rename(
        nginx.media_dir().join("other.jpg.new"),
        nginx.media_dir().join("other.jpg"),
    )
    .unwrap();
    let checked_before = stats(&nginx, "a").get("originals_checked");
    let s = status::wait_for(
        &nginx,
        STATUS_PATH,
        "a",
        "the deleted original's renditions removed",
        Duration::from_secs(15),
        |s| s.get("originals_gone") == 3,
    );
    assert_eq!(s.get("entries"), 1, "{}", s.raw);
    assert_eq!(
        files(&nginx, "a").len(),
        1,
        "only other.jpg's rendition is left"
    );
    // Two whole passes more: the replaced original's rendition still stays.
    status::wait_for(
        &nginx,
        STATUS_PATH,
        "a",
        "two more passes",
        Duration::from_secs(15),
        |s| s.get("originals_checked") >= checked_before + 3 * capacity,
    );
    let s = stats(&nginx, "a");
    assert_eq!(s.get("originals_gone"), 3, "{}", s.raw);
    assert_eq!(files(&nginx, "a").len(), 1);
    // Asked for, it is made again from the new file.
    assert_eq!(
        nginx.get("/t/other.jpg?w=100&h=100").cache_status(),
        Some("EXPIRED")
    );
    assert_eq!(nginx.get("/t/photo.jpg?w=100&h=100").status, 404);
    nginx.stop_and_check();
}
