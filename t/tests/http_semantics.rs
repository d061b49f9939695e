//! HTTP behaviour of thumbnail locations: 404 for a missing original, 415
//! (and exactly one log line) for bytes that are not an image, 304 for both
//! validators, HEAD with headers and no body, 405 for other methods, 301
//! for a directory, and Last-Modified taken from the original.

use std::time::Duration;

use image_filter_rs_tests::cache::{check_layout, files_under};
use image_filter_rs_tests::presets::{self, CACHE_DIR, CACHE_LEVELS};
use image_filter_rs_tests::{wait_until, Request};

const NOT_AN_IMAGE: &str = "not-an-image.jpg";

#[test]
fn missing_original_is_404() {
    let nginx = presets::standard().start();
    for path in [
        "/thumb/no-such-file.jpg",
        "/crop/no-such-file.png",
        "/nocache/no-such-file.jpg",
    ] {
        nginx.get(path).assert_status(404);
        nginx.head(path).assert_status(404);
    }
    assert!(
        files_under(&nginx.path(CACHE_DIR)).is_empty(),
        "a 404 wrote into the cache"
    );
    nginx.stop_and_check();
}

#[test]
fn non_image_is_415_with_one_log_line_naming_the_file() {
    let nginx = presets::standard()
        .file(
            &format!("media/{NOT_AN_IMAGE}"),
            "This is plain text that merely has a .jpg name.\n".repeat(20),
        )
        .start();
    let resp = nginx.get(&format!("/thumb/{NOT_AN_IMAGE}"));
    resp.assert_status(415);
    let lines = wait_until(
        "an error-log line naming the non-image",
        Duration::from_secs(10),
        || {
            let l = nginx.error_log_lines_with(&["image_filter_rs", NOT_AN_IMAGE]);
            (!l.is_empty()).then_some(l)
        },
    );
    assert_eq!(
        lines.len(),
        1,
        "one refusal, one log line; got:\n{}",
        lines.join("\n")
    );
    // No temporary or partial file may be left in the cache by a refusal.
    for f in files_under(&nginx.path(CACHE_DIR)) {
        if let Err(e) = check_layout(&f, CACHE_LEVELS) {
            panic!("refusal left a stray file in the cache: {e}");
        }
    }
    nginx.stop_and_check();
}

#[test]
fn conditional_get_gives_304_for_both_validators() {
    let nginx = presets::standard().start();
    for path in ["/thumb/sunset.jpg", "/nocache/sunset.jpg"] {
        let first = nginx.get(path);
        first.assert_status(200);
        let etag = first.expect_header("ETag").to_string();
        let last_modified = first.expect_header("Last-Modified").to_string();

        let inm = nginx.request(&Request::get(path).header("If-None-Match", &etag));
        assert_eq!(
            inm.status,
            304,
            "{path}: If-None-Match {etag}:\n{}",
            inm.describe()
        );
        assert!(inm.body.is_empty(), "{path}: 304 with a body");
        assert_eq!(inm.header("ETag"), Some(etag.as_str()), "{path}: 304 ETag");

        let ims = nginx.request(&Request::get(path).header("If-Modified-Since", &last_modified));
        assert_eq!(
            ims.status,
            304,
            "{path}: If-Modified-Since {last_modified}:\n{}",
            ims.describe()
        );
        assert!(ims.body.is_empty(), "{path}: 304 with a body");

        // A validator that does not match must give the full entity, or
        // the 304s above would prove nothing.
        let stale = nginx.request(&Request::get(path).header("If-None-Match", "\"no-such-etag\""));
        stale.assert_status(200);
        assert!(stale.body == first.body, "{path}: body changed");
        let old = nginx.request(
            &Request::get(path).header("If-Modified-Since", "Thu, 01 Jan 1998 00:00:00 GMT"),
        );
        old.assert_status(200);
    }
    nginx.stop_and_check();
}

#[test]
fn head_has_the_get_headers_and_no_body() {
    let nginx = presets::standard().start();
    for path in ["/thumb/gulp.png", "/nocache/seeding.jpg", "/crop/wine.jpg"] {
        let get = nginx.get(path);
        get.assert_status(200);
        let head = nginx.head(path);
        head.assert_status(200);
        assert!(
            head.body.is_empty(),
            "{path}: HEAD sent {} body bytes",
            head.body.len()
        );
        assert_eq!(
            head.content_length(),
            Some(get.body.len() as u64),
            "{path}: HEAD Content-Length must equal the GET body length:\n{}",
            head.describe()
        );
        for h in ["Content-Type", "ETag", "Last-Modified"] {
            assert_eq!(
                head.header(h),
                get.header(h),
                "{path}: {h} differs between HEAD and GET"
            );
        }
    }
    nginx.stop_and_check();
}

#[test]
fn other_methods_are_405() {
    let nginx = presets::standard().start();
    for path in ["/thumb/sunset.jpg", "/nocache/sunset.jpg"] {
        let post = nginx.request(&Request::new("POST", path).body("x=1"));
        assert_eq!(post.status, 405, "POST {path}:\n{}", post.describe());
        let delete = nginx.request(&Request::new("DELETE", path));
        assert_eq!(delete.status, 405, "DELETE {path}:\n{}", delete.describe());
    }
    // The refusals must not have produced cache entries.
    assert!(files_under(&nginx.path(CACHE_DIR)).is_empty());
    nginx.stop_and_check();
}

#[test]
fn directory_without_slash_redirects() {
    let nginx = presets::standard()
        .dir("media/sub")
        .copy_file(
            image_filter_rs_tests::paths::sample_media("sunset.jpg"),
            "media/sub/inner.jpg",
        )
        .start();
    let resp = nginx.get("/thumb/sub");
    assert_eq!(resp.status, 301, "{}", resp.describe());
    let location = resp.expect_header("Location");
    assert!(
        location.ends_with("/thumb/sub/"),
        "Location {location:?} should end with /thumb/sub/"
    );
    // A file inside the directory is still thumbnailed.
    let inner = nginx.get("/thumb/sub/inner.jpg");
    inner.assert_status(200);
    assert_eq!(
        image_filter_rs_tests::images::decode(&inner.body).width,
        350
    );
    nginx.stop_and_check();
}

#[test]
fn last_modified_is_the_originals() {
    let nginx = presets::standard().start();
    for name in presets::SAMPLES {
        let original = nginx.get(&format!("/media/{name}"));
        original.assert_status(200);
        let want = original.expect_header("Last-Modified");
        for loc in ["thumb", "crop", "nocache"] {
            let thumb = nginx.get(&format!("/{loc}/{name}"));
            thumb.assert_status(200);
            assert_eq!(
                thumb.header("Last-Modified"),
                Some(want),
                "/{loc}/{name}: Last-Modified must be the original's"
            );
            assert!(
                thumb.header("ETag").is_some(),
                "/{loc}/{name}: no ETag:\n{}",
                thumb.describe()
            );
        }
    }
    nginx.stop_and_check();
}

#[test]
fn special_files_are_refused_without_hanging() {
    // A FIFO named like an image must not block a worker on open or read,
    // and a directory named like an image behaves as one (301).
    let nginx = presets::standard()
        .dir("media/folder.jpg")
        .file("media/empty.jpg", "")
        .start();
    let fifo = nginx.media_dir().join("fifo.jpg");
    let c_path = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: c_path is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o644) }, 0, "mkfifo");

    let resp = nginx.get("/thumb/fifo.jpg");
    assert!(
        (400..500).contains(&resp.status),
        "FIFO: expected a 4xx:\n{}",
        resp.describe()
    );
    let resp = nginx.get("/thumb/folder.jpg");
    assert_eq!(resp.status, 301, "{}", resp.describe());
    assert!(resp
        .expect_header("Location")
        .ends_with("/thumb/folder.jpg/"));
    nginx.get("/thumb/empty.jpg").assert_status(415);
    assert!(
        files_under(&nginx.path(CACHE_DIR)).is_empty(),
        "a refusal wrote into the cache"
    );
    nginx.stop_and_check();
}

#[test]
fn range_requests_on_thumbnails() {
    // nginx's range filter applies to the thumbnail like to a static file,
    // whether it was just made (MISS) or comes from the cache (HIT).
    let nginx = presets::standard().start();
    let range = Request::get("/thumb/sunset.jpg").header("Range", "bytes=0-99");
    let first = nginx.request(&range);
    let full = nginx.get("/thumb/sunset.jpg");
    full.assert_status(200);
    let second = nginx.request(&range);
    for (pass, part) in [("first", &first), ("second", &second)] {
        assert_eq!(
            part.status,
            206,
            "{pass} range request:\n{}",
            part.describe()
        );
        assert!(part.body == full.body[..100], "{pass}: wrong bytes");
        let want = format!("bytes 0-99/{}", full.body.len());
        assert_eq!(
            part.header("Content-Range"),
            Some(want.as_str()),
            "{pass}: Content-Range"
        );
    }
    nginx.stop_and_check();
}
