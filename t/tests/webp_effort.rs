//! `image_filter_rs_webp_effort`: libwebp's method per location. Effort 0
//! and 6 give the same picture in different bytes (6 smaller), each under
//! its own cache key, and the default (2) lies between them.

use image_filter_rs_tests::cache::files_under;
use image_filter_rs_tests::images::decode;
use image_filter_rs_tests::Nginx;

#[test]
fn effort_trades_bytes_for_time_and_keeps_the_picture() {
    let location = |name: &str, effort: &str| {
        format!(
            "location /{name}/ {{ alias @MEDIA@/; image_filter_rs 350x350; \
             image_filter_rs_format webp; image_filter_rs_cache t; {effort} \
             add_header X-Cache-Status $image_filter_rs_cache_status; }}"
        )
    };
    let nginx = Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache keys_zone=t:1m;")
        .server(&location("e0", "image_filter_rs_webp_effort 0;"))
        .server(&location("e2", ""))
        .server(&location("e6", "image_filter_rs_webp_effort 6;"))
        .sample_media(&["sunset.jpg"])
        .start();
    let mut bodies = Vec::new();
    for name in ["e0", "e2", "e6"] {
        let resp = nginx.get(&format!("/{name}/sunset.jpg"));
        resp.assert_status(200);
        assert_eq!(resp.headers_named("Content-Type"), ["image/webp"], "{name}");
        assert_eq!(resp.cache_status(), Some("MISS"), "{name}");
        bodies.push(resp.body);
    }
    let (e0, e2, e6) = (&bodies[0], &bodies[1], &bodies[2]);
    assert!(
        e6.len() < e2.len() && e2.len() < e0.len(),
        "bytes at effort 0, 2, 6: {}, {}, {}",
        e0.len(),
        e2.len(),
        e6.len()
    );
    let pictures: Vec<_> = bodies.iter().map(|b| decode(b).image.to_rgb8()).collect();
    for other in &pictures[1..] {
        assert_eq!(other.dimensions(), pictures[0].dimensions());
        let diff: u64 = other
            .as_raw()
            .iter()
            .zip(pictures[0].as_raw())
            .map(|(a, b)| u64::from(a.abs_diff(*b)))
            .sum();
        let mean = diff as f64 / other.as_raw().len() as f64;
        assert!(
            mean < 4.0,
            "mean sample difference {mean:.2} between efforts"
        );
    }
    // The default's key is the one it always had; the others add the effort.
    assert_eq!(files_under(&nginx.path("cache")).len(), 3);
    assert_eq!(nginx.get("/e6/sunset.jpg").cache_status(), Some("HIT"));
    nginx.stop_and_check();
}
