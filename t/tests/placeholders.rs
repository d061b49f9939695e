//! Placeholders through nginx: `fm=thumbhash`, `fm=blurhash` (with `x`/`y`
//! components), `fm=color` and `fm=lqip` in query mode, a preset with
//! `format=thumbhash` in a location of its own, and `image_filter_rs_format`
//! from variables in a location sized by its configuration. Each is answered with its
//! content type, cached like a rendition (HIT the second time) and refused
//! where the location's size rule says so. That the strings decode with
//! the formats' own public decoders is checked in
//! `python/tests/test_placeholders.py`.

use image_filter_rs_tests::images::{self, decode};
use image_filter_rs_tests::{Nginx, Response};

const TEXT: &str = "text/plain; charset=utf-8";

fn server() -> Nginx {
    Nginx::builder()
        .http(
            "image_filter_rs_cache_path @PREFIX@/cache keys_zone=t:1m; \
             image_filter_rs_preset placeholder 200x200 format=thumbhash;",
        )
        .server(
            "location /t/ { alias @MEDIA@/; image_filter_rs query; \
             image_filter_rs_sizes 200x150 200x- 100x100 200x200; image_filter_rs_cache t; \
             add_header X-Cache-Status $image_filter_rs_cache_status; }",
        )
        .server(
            "location /ph/ { alias @MEDIA@/; image_filter_rs placeholder; \
             image_filter_rs_cache t; add_header X-Cache-Status $image_filter_rs_cache_status; }",
        )
        .file("media/flat.png", images::flat_png(400, 300, [200, 30, 30]))
        .file("media/photo.jpg", images::jpeg(400, 300, [30, 160, 40]))
        .start()
}

/// GET twice: a MISS, then a HIT with the same bytes.
fn get_cached(nginx: &Nginx, url: &str) -> Response {
    let first = nginx.get(url);
    first.assert_status(200);
    assert_eq!(first.cache_status(), Some("MISS"), "{url}");
    let second = nginx.get(url);
    assert_eq!(second.cache_status(), Some("HIT"), "{url}");
    assert_eq!(second.body, first.body, "{url}");
    assert_eq!(
        second.headers_named("Content-Type"),
        first.headers_named("Content-Type")
    );
    second
}

fn body_text(resp: &Response) -> String {
    String::from_utf8(resp.body.clone()).expect("a text placeholder is UTF-8")
}

#[test]
fn the_colour_of_a_flat_image_is_exact_and_cached() {
    let nginx = server();
    let resp = get_cached(&nginx, "/t/flat.png?w=200&h=150&fm=color");
    assert_eq!(resp.headers_named("Content-Type"), [TEXT]);
    assert_eq!(body_text(&resp), "#c81e1e");
    // The photo's colour is its green, not some average with white.
    let green = body_text(&get_cached(&nginx, "/t/photo.jpg?w=200&fm=color"));
    let g = u8::from_str_radix(&green[3..5], 16).unwrap();
    let r = u8::from_str_radix(&green[1..3], 16).unwrap();
    assert!(green.len() == 7 && g > 120 && r < 60, "{green}");
    nginx.stop_and_check();
}

#[test]
fn thumbhash_and_blurhash_are_text_in_their_encodings() {
    let nginx = server();
    let thumbhash = body_text(&get_cached(&nginx, "/t/photo.jpg?w=200&h=150&fm=thumbhash"));
    // Standard base64 with padding of 5 header bytes and the AC nibbles.
    assert!(
        thumbhash.len() >= 24 && thumbhash.len().is_multiple_of(4),
        "{thumbhash}"
    );
    assert!(
        thumbhash
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
        "{thumbhash}"
    );

    let blurhash = get_cached(&nginx, "/t/photo.jpg?w=200&h=150&fm=blurhash&x=5&y=4");
    assert_eq!(blurhash.headers_named("Content-Type"), [TEXT]);
    let blurhash = body_text(&blurhash);
    // Size flag, maximum, DC (4), then two characters per AC component.
    assert_eq!(blurhash.len(), 1 + 1 + 4 + 2 * (5 * 4 - 1), "{blurhash}");
    // The size flag is (x - 1) + (y - 1) * 9 = 31 in base 83: 'V'.
    assert!(blurhash.starts_with('V'), "{blurhash}");
    let default = body_text(&get_cached(&nginx, "/t/photo.jpg?w=200&h=150&fm=blurhash"));
    assert_eq!(default.len(), 6 + 2 * (4 * 3 - 1), "{default}");
    nginx.stop_and_check();
}

#[test]
fn an_lqip_is_a_tiny_webp_of_the_same_crop() {
    let nginx = server();
    let resp = get_cached(&nginx, "/t/photo.jpg?w=100&h=100&fit=crop&fm=lqip");
    assert_eq!(resp.headers_named("Content-Type"), ["image/webp"]);
    let img = decode(&resp.body);
    assert_eq!(img.dims(), (32, 32), "the 100x100 crop, scaled to 32");
    let wide = decode(&get_cached(&nginx, "/t/photo.jpg?w=200&fm=lqip").body);
    assert_eq!(wide.dims(), (32, 24));
    assert!(resp.body.len() < 1500, "{} bytes", resp.body.len());
    nginx.stop_and_check();
}

#[test]
fn a_preset_answers_a_placeholder() {
    let nginx = server();
    let resp = get_cached(&nginx, "/ph/photo.jpg");
    assert_eq!(resp.headers_named("Content-Type"), [TEXT]);
    let query = nginx.get("/t/photo.jpg?p=placeholder");
    query.assert_status(200);
    assert_eq!(query.body, resp.body, "the same preset through p=");
    nginx.stop_and_check();
}

#[test]
fn placeholders_follow_the_location_rules() {
    let nginx = server();
    // Not an allowed size: a placeholder of it is refused like the image.
    assert_eq!(nginx.get("/t/photo.jpg?w=150&fm=thumbhash").status, 400);
    // Components only with blurhash, and only 1 to 9.
    assert_eq!(nginx.get("/t/photo.jpg?w=200&fm=thumbhash&x=3").status, 400);
    assert_eq!(nginx.get("/t/photo.jpg?w=200&fm=blurhash&x=10").status, 400);
    assert_eq!(nginx.get("/t/photo.jpg?w=200&fm=blurhash&y=0").status, 400);
    assert_eq!(nginx.get("/t/photo.jpg?w=200&fm=thumbhash").status, 200);
    assert_eq!(
        nginx.error_log_lines_with(&["only with fm=blurhash"]).len(),
        1
    );
    nginx.stop_and_check();
}

#[test]
fn image_filter_rs_format_takes_a_placeholder_from_variables() {
    let nginx = Nginx::builder()
        .http(
            "image_filter_rs_cache_path @PREFIX@/cache keys_zone=t:1m; \
             map $arg_ph $placeholder { default \"\"; thumbhash thumbhash; color color; }",
        )
        .server(
            "location /v/ { alias @MEDIA@/; image_filter_rs 200x150; \
             image_filter_rs_format $placeholder; image_filter_rs_cache t; \
             add_header X-Cache-Status $image_filter_rs_cache_status; }",
        )
        .server(
            "location /q/ { alias @MEDIA@/; image_filter_rs query; image_filter_rs_sizes 200x150; }",
        )
        .server("location /w/ { alias @MEDIA@/; image_filter_rs 200x150; image_filter_rs_format $arg_fm; }")
        .file("media/flat.png", images::flat_png(400, 300, [200, 30, 30]))
        .file("media/photo.jpg", images::jpeg(400, 300, [30, 160, 40]))
        .start();
    // Empty: the location's default, the original's format.
    let image = get_cached(&nginx, "/v/photo.jpg");
    assert_eq!(image.headers_named("Content-Type"), ["image/jpeg"]);
    assert_eq!(decode(&image.body).dims(), (200, 150));
    let hash = get_cached(&nginx, "/v/photo.jpg?ph=thumbhash");
    assert_eq!(hash.headers_named("Content-Type"), [TEXT]);
    let same = nginx.get("/q/photo.jpg?w=200&h=150&fm=thumbhash");
    assert_eq!(
        body_text(&hash),
        body_text(&same),
        "the same placeholder either way"
    );
    assert_eq!(
        body_text(&get_cached(&nginx, "/v/flat.png?ph=color")),
        "#c81e1e"
    );
    // A value the directive cannot take is the client's doing: 400.
    assert_eq!(nginx.get("/w/photo.jpg?fm=bmp").status, 400);
    assert_eq!(
        nginx
            .error_log_lines_with(&["invalid image_filter_rs_format value \"bmp\""])
            .len(),
        1
    );
    assert_eq!(nginx.get("/w/photo.jpg?fm=color").status, 200);
    nginx.stop_and_check();
}
