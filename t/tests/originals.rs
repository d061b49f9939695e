//! The module must leave plain static serving alone: originals on `/media/`
//! come back byte-identical, with their type, next to thumbnail locations
//! in the same server.

use image_filter_rs_tests::{paths, presets};

#[test]
fn originals_are_served_byte_identically() {
    let nginx = presets::standard().start();
    for name in presets::SAMPLES {
        let want = std::fs::read(paths::sample_media(name)).unwrap();
        let resp = nginx.get(&format!("/media/{name}"));
        resp.assert_status(200);
        assert!(
            resp.body == want,
            "/media/{name}: {} bytes served, original has {}",
            resp.body.len(),
            want.len()
        );
        let ty = if name.ends_with(".png") {
            "image/png"
        } else {
            "image/jpeg"
        };
        assert_eq!(resp.header("Content-Type"), Some(ty), "/media/{name}");
        assert_eq!(
            resp.cache_status(),
            None,
            "/media/ has no thumbnailing; it should not carry X-Cache-Status"
        );
    }
    nginx.stop_and_check();
}

#[test]
fn originals_stay_identical_after_thumbnailing() {
    // Thumbnailing must never write back to or lock the original.
    let nginx = presets::standard().start();
    let before = std::fs::read(nginx.media_dir().join("sunset.jpg")).unwrap();
    nginx.get("/thumb/sunset.jpg").assert_status(200);
    nginx.get("/crop/sunset.jpg").assert_status(200);
    let resp = nginx.get("/media/sunset.jpg");
    resp.assert_status(200);
    assert!(resp.body == before, "original changed after thumbnailing");
    let after = std::fs::read(nginx.media_dir().join("sunset.jpg")).unwrap();
    assert!(after == before, "original file on disk changed");
    nginx.stop_and_check();
}

#[test]
fn range_on_originals_still_works() {
    // The module registers in the same http block; nginx's range filter
    // must keep working for locations it does not handle.
    let nginx = presets::standard().start();
    let want = std::fs::read(paths::sample_media("wine.jpg")).unwrap();
    let resp = nginx.request(
        &image_filter_rs_tests::Request::get("/media/wine.jpg").header("Range", "bytes=100-199"),
    );
    assert_eq!(resp.status, 206, "{}", resp.describe());
    assert!(resp.body == want[100..200], "wrong range bytes");
    nginx.stop_and_check();
}
