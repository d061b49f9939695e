//! A page's `srcset` asks for several widths of one original at once; the
//! worker decodes that original once and makes every width from it
//! (`image_filter_rs_decode_cache`), which the info log shows per thumbnail.
//! With the cache off each width decodes on its own.

use image_filter_rs_tests::images::{assert_fit, decode, file_dims};
use image_filter_rs_tests::{http, Nginx, Request};

const WIDTHS: [u32; 4] = [160, 320, 480, 640];

fn srcset_server(http_extra: &str) -> Nginx {
    Nginx::builder()
        .http(http_extra)
        .server(
            "location /srcset/ {\n    alias @MEDIA@/;\n    image_filter_rs query;\n    \
             image_filter_rs_sizes 160x- 320x- 480x- 640x-;\n}",
        )
        .sample_media(&["seeding.jpg"])
        .worker_processes(1)
        .log_level("info")
        .start()
}

/// Requests every width at once and checks each answer; returns the log
/// lines of the thumbnails made.
fn burst(nginx: &Nginx) -> Vec<String> {
    let requests: Vec<Request> = WIDTHS
        .iter()
        .map(|w| Request::get(&format!("/srcset/seeding.jpg?w={w}")))
        .collect();
    let source = file_dims(&nginx.media_dir().join("seeding.jpg"));
    for (response, &w) in http::concurrent_complete(nginx.port(), &requests)
        .iter()
        .zip(&WIDTHS)
    {
        response.assert_status(200);
        let thumb = decode(&response.body);
        assert_fit(&format!("w={w}"), thumb.dims(), source, Some(w), None);
    }
    nginx.error_log_lines_with(&["image_filter_rs: made", "seeding.jpg"])
}

#[test]
fn a_burst_of_widths_decodes_the_original_once() {
    let nginx = srcset_server("");
    let made = burst(&nginx);
    assert_eq!(
        made.len(),
        WIDTHS.len(),
        "one line per thumbnail: {made:#?}"
    );
    let own_decodes = made.iter().filter(|l| !l.contains(" decode")).count();
    assert_eq!(
        own_decodes, 1,
        "one thumbnail decodes, the others use its decode: {made:#?}"
    );
    // A later request (no thumbnail cache here, so it is made again)
    // reuses the retained decode.
    let response = nginx.get("/srcset/seeding.jpg?w=480");
    response.assert_status(200);
    assert_eq!(decode(&response.body).dims().0, 480);
    let again = nginx.error_log_lines_with(&["image_filter_rs: made 480x"]);
    assert!(
        again.len() == 2 && again[1].contains("from a retained decode"),
        "{again:#?}"
    );
    nginx.stop_and_check();
}

#[test]
fn with_the_decode_cache_off_each_width_decodes() {
    let nginx = srcset_server("image_filter_rs_decode_cache off;");
    let made = burst(&nginx);
    assert_eq!(made.len(), WIDTHS.len(), "{made:#?}");
    assert!(
        made.iter().all(|l| !l.contains(" decode")),
        "nothing shared: {made:#?}"
    );
    nginx.stop_and_check();
}
