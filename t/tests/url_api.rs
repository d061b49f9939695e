//! The URL as an API, and its safety, against the real nginx: presets with
//! django-imagekit's adjustments (from `nginx-conf/imagekit.conf`), query
//! parameters and their refusals, one cache file per resolved job whatever
//! the spelling, the sizes allow-list with `snap` bounding what 10,000
//! distinct requests can create, signed URLs and key rotation, sizes from
//! variables, `Accept` negotiation, path traversal and odd files under the
//! root, and the configurations `nginx -t` must refuse.
//!
//! Originals are generated here or taken from the committed
//! `sample-media/`, so nothing needs `../shared/`.

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use image::DynamicImage;
use image_filter_rs_tests::cache::cache_entries;
use image_filter_rs_tests::images::{self, decode};
use image_filter_rs_tests::presets::{STATUS_LOCATION, STATUS_PATH};
use image_filter_rs_tests::sign::{signature, signed_url};
use image_filter_rs_tests::{paths, status, Builder, Nginx, Request, Response};

/// One cache zone per test server, in `<prefix>/cache`.
const CACHE_HTTP: &str =
    "image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m levels=1:2;";

/// The generated original most query tests use: 1600x1000 (8:5), so that
/// fit, crop, fill and pad give four different answers for a 4:3 box.
const PIC: &str = "pic.jpg";
const PIC_DIMS: (u32, u32) = (1600, 1000);

fn pic() -> Vec<u8> {
    images::jpeg(PIC_DIMS.0, PIC_DIMS.1, [40, 90, 160])
}

/// A query-mode location at `prefix` on the media root, cached in
/// `thumbs`, with `extra` directives (sizes, secret, format...).
fn query_location(prefix: &str, extra: &str) -> String {
    format!(
        "location {prefix} {{\n    alias @MEDIA@/;\n    image_filter_rs query;\n    \
         image_filter_rs_cache thumbs;\n    \
         add_header X-Cache-Status $image_filter_rs_cache_status always;\n    {extra}\n}}"
    )
}

fn cache_files(nginx: &Nginx) -> Vec<std::path::PathBuf> {
    cache_entries(&nginx.path("cache"))
        .into_iter()
        .map(|(p, _)| p)
        .collect()
}

fn ok_image(nginx: &Nginx, url: &str) -> (Response, images::Decoded) {
    let resp = nginx.get(url);
    assert_eq!(resp.status, 200, "GET {url}:\n{}", resp.describe());
    let img = decode(&resp.body);
    (resp, img)
}

fn dims_of(nginx: &Nginx, url: &str) -> (u32, u32) {
    ok_image(nginx, url).1.dims()
}

/// A 400 whose body is a one-line `text/plain` reason that names no path.
fn assert_400_reason(nginx: &Nginx, url: &str) -> String {
    let resp = nginx.get(url);
    assert_eq!(
        resp.status,
        400,
        "GET {url} should be 400:\n{}",
        resp.describe()
    );
    let ct = resp.header("Content-Type").unwrap_or_default();
    assert!(
        ct.starts_with("text/plain"),
        "GET {url}: the reason should be text/plain:\n{}",
        resp.describe()
    );
    let text = String::from_utf8_lossy(&resp.body).into_owned();
    let line = text.strip_suffix('\n').unwrap_or(&text);
    assert!(
        !line.trim().is_empty() && !line.contains(['\n', '\r']) && line.len() <= 200,
        "GET {url}: the reason should be one short line, is {text:?}"
    );
    let prefix = nginx.prefix().to_string_lossy().into_owned();
    assert!(
        !text.contains(&prefix),
        "GET {url}: the reason names a server path: {text:?}"
    );
    line.to_string()
}

fn luminance_sd(image: &DynamicImage) -> f64 {
    let rgb = image.to_rgb8();
    let ys: Vec<f64> = rgb
        .pixels()
        .map(|p| 0.299 * f64::from(p[0]) + 0.587 * f64::from(p[1]) + 0.114 * f64::from(p[2]))
        .collect();
    let n = ys.len() as f64;
    let mean = ys.iter().sum::<f64>() / n;
    (ys.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / n).sqrt()
}

/// The `image_filter_rs_preset` lines of `nginx-conf/imagekit.conf`, so the
/// presets tested are the example's, not a copy that could drift.
fn imagekit_presets() -> String {
    let file = paths::repo_root().join("nginx-conf/imagekit.conf");
    let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let lines: Vec<&str> = text
        .lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
        .filter(|l| l.starts_with("image_filter_rs_preset "))
        .collect();
    assert_eq!(lines.len(), 2, "imagekit.conf should declare two presets");
    lines.join("\n")
}

#[test]
fn imagekit_presets_crop_adjust_and_desaturate() {
    let nginx = Nginx::builder()
        .http(&imagekit_presets())
        .server(
            "location /thumbnail/ { alias @MEDIA@/; image_filter_rs thumbnail; }\n\
             location /display/ { alias @MEDIA@/; image_filter_rs display; }\n\
             location /plain/ { alias @MEDIA@/; image_filter_rs 100x75 crop; }\n\
             location /plain-display/ { alias @MEDIA@/; image_filter_rs 200x400 crop; }",
        )
        .sample_media(&["sunset.jpg"])
        .start();
    let (_, thumb) = ok_image(&nginx, "/thumbnail/sunset.jpg");
    assert_eq!(
        thumb.dims(),
        (100, 75),
        "the thumbnail preset is 100x75 crop"
    );
    let (_, plain) = ok_image(&nginx, "/plain/sunset.jpg");
    assert_eq!(plain.dims(), (100, 75));
    let (sd_thumb, sd_plain) = (luminance_sd(&thumb.image), luminance_sd(&plain.image));
    println!("luminance sd: thumbnail {sd_thumb:.2}, plain crop {sd_plain:.2}");
    // contrast=1.2 stretches the spread about the mean by a fifth; 5% is a
    // margin JPEG noise cannot make up.
    assert!(
        sd_thumb > sd_plain * 1.05,
        "contrast=1.2 should raise the luminance spread: thumbnail sd {sd_thumb:.2}, \
         plain crop sd {sd_plain:.2}"
    );

    let (_, display) = ok_image(&nginx, "/display/sunset.jpg");
    assert_eq!(
        display.dims(),
        (200, 400),
        "the display preset is 200x400 crop"
    );
    let rgb = display.image.to_rgb8();
    let worst = rgb
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0;
            r.abs_diff(g).max(g.abs_diff(b)).max(r.abs_diff(b))
        })
        .max()
        .unwrap_or(0);
    assert!(
        worst <= 4,
        "saturation=0 should leave R=G=B (±4 for JPEG rounding); worst pixel differs by {worst}"
    );
    // The original is colourful, so grey output is the preset's doing: the
    // same region without the preset has a clear spread between channels.
    let plain_display = ok_image(&nginx, "/plain-display/sunset.jpg")
        .1
        .image
        .to_rgb8();
    let chroma = plain_display
        .pixels()
        .map(|p| {
            let [r, g, b] = p.0.map(f64::from);
            r.max(g).max(b) - r.min(g).min(b)
        })
        .sum::<f64>()
        / f64::from(plain_display.width() * plain_display.height());
    assert!(
        chroma > 15.0,
        "sunset.jpg should be colourful, mean chroma {chroma:.1}"
    );
    nginx.stop_and_check();
}

fn query_server() -> Builder {
    Nginx::builder()
        .http(CACHE_HTTP)
        .http("image_filter_rs_preset thumbnail 100x75 crop contrast=1.2 sharpness=1.1;")
        .server(&query_location(
            "/q/",
            "image_filter_rs_sizes 100x75 160x120 320x240 640x480 320x-;",
        ))
        .server(&query_location(
            "/qmax/",
            "image_filter_rs_sizes 320x240 640x480; image_filter_rs_max_output 500;",
        ))
        .server(STATUS_LOCATION)
        .file(&format!("media/{PIC}"), pic())
}

#[test]
fn query_parameters_set_size_fit_dpr_preset_and_quality() {
    let nginx = query_server().start();
    let u = |q: &str| format!("/q/{PIC}?{q}");
    assert_eq!(dims_of(&nginx, &u("w=320&h=240")), (320, 200), "fit");
    assert_eq!(dims_of(&nginx, &u("w=320")), (320, 200), "width only");
    assert_eq!(dims_of(&nginx, &u("w=320&h=240&fit=crop")), (320, 240));
    assert_eq!(dims_of(&nginx, &u("w=320&h=240&fit=force")), (320, 240));
    let (_, pad) = ok_image(&nginx, &u("w=320&h=240&fit=pad"));
    assert_eq!(pad.dims(), (320, 240), "pad fills the box");
    // 8:5 in 4:3 leaves bands above and below, on the default white.
    let rgb = pad.image.to_rgb8();
    for (x, y) in [(0, 0), (319, 0), (0, 239), (319, 239)] {
        let p = rgb.get_pixel(x, y).0;
        assert!(
            p.iter().all(|&c| c >= 235),
            "pad: corner ({x},{y}) should be the white background, is {p:?}"
        );
    }
    let centre = rgb.get_pixel(160, 120).0;
    assert!(
        centre[2] > centre[0] + 60,
        "pad: the centre is the picture, is {centre:?}"
    );
    let fill = dims_of(&nginx, &u("w=320&h=240&fit=fill"));
    assert!(
        fill.0 >= 320 && fill.1 >= 240 && (fill.0 == 320 || fill.1 == 240),
        "fill covers the box without cutting: {fill:?}"
    );
    assert_eq!(fill, (384, 240), "fill of 1600x1000 over 320x240");
    assert_eq!(
        dims_of(&nginx, &u("w=160&h=120&dpr=2")),
        (320, 200),
        "dpr=2"
    );
    assert_eq!(
        dims_of(&nginx, &u("w=320&h=240&dpr=2")),
        (640, 400),
        "dpr=2"
    );
    assert_eq!(dims_of(&nginx, &u("p=thumbnail")), (100, 75), "p=thumbnail");
    assert_eq!(
        dims_of(&nginx, &u("p=thumbnail&w=160&h=120")),
        (160, 120),
        "a preset refined by w and h keeps its crop"
    );
    let low = ok_image(&nginx, &u("w=320&h=240&q=20")).0.body;
    let high = ok_image(&nginx, &u("w=320&h=240&q=95")).0.body;
    assert!(
        low.len() < high.len(),
        "q=20 ({} bytes) should be smaller than q=95 ({} bytes)",
        low.len(),
        high.len()
    );
    nginx.stop_and_check();
}

#[test]
fn query_refusals_are_400_with_a_plain_text_reason() {
    let nginx = query_server().start();
    let cases = [
        ("z=1&w=320&h=240", "unknown"),
        ("x=4&w=320&h=240", "blurhash"),
        ("w=320&w=320&h=240", "repeated"),
        ("w=320&h=240&h=240", "repeated"),
        ("w=1e3&h=240", "invalid"),
        ("w=0x10&h=240", "invalid"),
        ("w=-1&h=240", "invalid"),
        ("w=+100&h=240", "invalid"),
        ("w=100abc&h=240", "invalid"),
        ("w=0320&h=240", "invalid"),
        ("w=&h=240", "empty"),
        ("w&h=240", "empty"),
        ("h=abc", "invalid"),
        ("w=320&h=240&fit=stretch", "invalid"),
        ("w=320&h=240&q=0", "invalid"),
        ("w=320&h=240&q=101", "invalid"),
        ("w=320&h=240&dpr=5", "invalid"),
        ("w=320&h=240&g=up", "invalid"),
        ("p=nosuch", "preset"),
        ("fit=crop", "size"),
        ("", "size"),
        ("w=300&h=200", "not allowed"),
        ("w=70000&h=240", "invalid"),
        ("w=320&h=240&fm=heic", "invalid"),
    ];
    let mut seen = Vec::new();
    for (query, word) in cases {
        let url = format!("/q/{PIC}?{query}");
        let reason = assert_400_reason(&nginx, &url);
        assert!(
            reason.contains(word),
            "GET {url}: the reason {reason:?} should say {word:?}"
        );
        seen.push(format!("{query:>26} -> {reason}"));
    }
    // Over image_filter_rs_max_output, even when the list allows it.
    for query in ["w=640&h=480", "w=320&h=240&dpr=2"] {
        let url = format!("/qmax/{PIC}?{query}");
        let reason = assert_400_reason(&nginx, &url);
        assert!(reason.contains("max_output"), "GET {url}: {reason:?}");
        seen.push(format!("{query:>26} -> {reason}"));
    }
    assert_eq!(
        dims_of(&nginx, &format!("/qmax/{PIC}?w=320&h=240")),
        (320, 200)
    );
    println!("{}", seen.join("\n"));
    // A refusal is logged, and leaves nothing in the cache.
    assert!(
        !nginx
            .error_log_lines_with(&["image_filter_rs: ", "unknown parameter"])
            .is_empty(),
        "the refusal should be in the error log\n{}",
        nginx.report()
    );
    assert_eq!(cache_files(&nginx).len(), 1, "only the one 200 is cached");
    nginx.stop_and_check();
}

#[test]
fn spellings_of_one_request_share_one_cache_file() {
    let nginx = query_server().start();
    let first = nginx.get(&format!("/q/{PIC}?w=320&h=240"));
    first.assert_status(200);
    assert_eq!(first.cache_status(), Some("MISS"), "{}", first.describe());
    for query in [
        "h=240&w=320",
        "w=320&h=240&fit=fit",
        "fit=fit&h=240&w=320",
        "w=320&h=240&dpr=1",
        "w=%33%32%30&h=240",
        "&w=320&&h=240&",
    ] {
        let resp = nginx.get(&format!("/q/{PIC}?{query}"));
        resp.assert_status(200);
        assert_eq!(
            resp.cache_status(),
            Some("HIT"),
            "?{query} is the same job as ?w=320&h=240:\n{}",
            resp.describe()
        );
        assert_eq!(resp.body, first.body, "?{query}: same file, same bytes");
    }
    let files = cache_files(&nginx);
    assert_eq!(files.len(), 1, "one job, one cache file: {files:?}");
    let stats = status::fetch(&nginx, STATUS_PATH, "thumbs");
    assert_eq!(stats.get("entries"), 1, "{}", stats.raw);
    nginx.stop_and_check();
}

#[test]
fn allow_list_snaps_and_bounds_what_clients_can_create() {
    const ALLOWED: &[(u32, u32)] = &[(160, 120), (320, 240), (640, 480)];
    let list = ALLOWED
        .iter()
        .map(|(w, h)| format!("{w}x{h}"))
        .collect::<Vec<_>>()
        .join(" ");
    let nginx = Nginx::builder()
        .http(CACHE_HTTP)
        .server(&query_location(
            "/exact/",
            &format!("image_filter_rs_sizes {list};"),
        ))
        .server(&query_location(
            "/snap/",
            &format!("image_filter_rs_sizes {list} snap;"),
        ))
        .server(STATUS_LOCATION)
        .file(&format!("media/{PIC}"), pic())
        .file("media/small.jpg", images::jpeg(48, 36, [200, 120, 40]))
        .worker_processes(2)
        .start();
    for (w, h) in ALLOWED {
        assert_eq!(
            dims_of(&nginx, &format!("/exact/{PIC}?w={w}&h={h}&fit=crop")),
            (*w, *h)
        );
    }
    assert_400_reason(&nginx, &format!("/exact/{PIC}?w=300&h=200"));
    assert_400_reason(&nginx, &format!("/exact/{PIC}?w=320"));
    let snapped = nginx.get(&format!("/snap/{PIC}?w=300&h=200&fit=crop"));
    snapped.assert_status(200);
    assert_eq!(
        decode(&snapped.body).dims(),
        (320, 240),
        "300x200 snaps to 320x240"
    );
    let exact = nginx.get(&format!("/snap/{PIC}?w=320&h=240&fit=crop"));
    assert_eq!(exact.cache_status(), Some("HIT"), "{}", exact.describe());
    assert_eq!(exact.body, snapped.body);
    assert_400_reason(&nginx, &format!("/snap/{PIC}?w=700&h=100"));
    let before = cache_files(&nginx).len();

    // 10,000 distinct sizes, all within the largest allowed box, from 8
    // clients at once. Each snaps to one of three sizes.
    let sizes: Vec<(u32, u32)> = (0..10_000u32).map(|i| (1 + i % 640, 1 + i / 640)).collect();
    let next = AtomicUsize::new(0);
    let failures = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..8 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&(w, h)) = sizes.get(i) else { break };
                let url = format!("/snap/small.jpg?w={w}&h={h}");
                match Request::get(&url).try_send(nginx.port()) {
                    Ok(r) if r.status == 200 => {}
                    Ok(r) => failures
                        .lock()
                        .unwrap()
                        .push(format!("{url}: {}", r.status)),
                    Err(e) => failures.lock().unwrap().push(format!("{url}: {e}")),
                }
            });
        }
    });
    println!("10,000 requests in {:?}", started.elapsed());
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of 10,000 snapped requests failed, e.g. {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    let files = cache_files(&nginx);
    assert!(
        files.len() - before <= ALLOWED.len(),
        "10,000 sizes made {} cache files for small.jpg, at most {} allowed: {files:?}",
        files.len() - before,
        ALLOWED.len()
    );
    let stats = status::fetch(&nginx, STATUS_PATH, "thumbs");
    assert!(
        stats.get("entries") as usize <= before + ALLOWED.len(),
        "the zone holds {} entries:\n{}",
        stats.get("entries"),
        stats.raw
    );
    nginx.stop_and_check();
}

const NEW_KEY: &str = "new signing key 0123456789";
const OLD_KEY: &str = "old signing key 9876543210";

#[test]
fn signatures_are_required_checked_and_rotated() {
    let nginx = Nginx::builder()
        .http(CACHE_HTTP)
        .server(&query_location(
            "/s/",
            &format!("image_filter_rs_secret \"{NEW_KEY}\" \"{OLD_KEY}\";"),
        ))
        .file(&format!("media/{PIC}"), pic())
        .file("media/other.jpg", images::jpeg(800, 600, [10, 160, 40]))
        .start();
    let path = format!("/s/{PIC}");
    let good = signed_url(NEW_KEY.as_bytes(), &path, "w=120&h=90");
    assert_eq!(dims_of(&nginx, &good), (120, 75), "{good}");

    let sig = signature(NEW_KEY.as_bytes(), &path, "w=120&h=90");
    let forbidden = |url: &str, what: &str| {
        let resp = nginx.get(url);
        assert_eq!(resp.status, 403, "{what}: GET {url}:\n{}", resp.describe());
    };
    forbidden(&format!("{path}?w=120&h=90"), "missing signature");
    forbidden(
        &format!("{path}?w=120&h=90&s={}", "A".repeat(43)),
        "bad signature",
    );
    forbidden(&format!("{path}?w=121&h=90&s={sig}"), "tampered w");
    forbidden(&format!("{path}?w=120&h=90&fit=crop&s={sig}"), "added fit");
    forbidden(&format!("/s/other.jpg?w=120&h=90&s={sig}"), "other path");
    forbidden(&format!("{path}?w=120&h=90&s={}", &sig[..42]), "truncated");
    // Not base64url at all: still a bad signature, not a bad argument.
    for garbage in ["garbage!!", "a+b/c=", "%7E%7E", "", "é"] {
        forbidden(&format!("{path}?w=120&h=90&s={garbage}"), "not base64url");
    }
    let wrong = signed_url(b"some other key, never listed", &path, "w=120&h=90");
    forbidden(&wrong, "unknown key");

    let reordered = format!("{path}?h=90&s={sig}&w=120");
    assert_eq!(
        dims_of(&nginx, &reordered),
        (120, 75),
        "reordered: {reordered}"
    );
    let old = signed_url(OLD_KEY.as_bytes(), &path, "w=160&h=120&fit=crop");
    assert_eq!(
        dims_of(&nginx, &old),
        (160, 120),
        "old key, listed second: {old}"
    );
    assert!(!nginx
        .error_log_lines_with(&["missing signature"])
        .is_empty());
    assert!(!nginx.error_log_lines_with(&["bad signature"]).is_empty());

    // Rotation done: the old key leaves the list, and its URLs stop working
    // (even the one whose thumbnail is in the cache).
    let conf = fs::read_to_string(nginx.conf_path()).unwrap();
    let retired = conf.replace(&format!(" \"{OLD_KEY}\""), "");
    assert_ne!(conf, retired, "the old key should be in the configuration");
    fs::write(nginx.conf_path(), retired).unwrap();
    nginx.reload();
    forbidden(&old, "expired key");
    assert_eq!(
        dims_of(&nginx, &good),
        (120, 75),
        "the current key still works"
    );
    nginx.stop_and_check();
}

/// A file name that needs percent-encoding, as Django's storage URLs give
/// them (`/s/caf%C3%A9%20au%20lait.jpg`): sign-url and the signature module
/// say the path signed is the raw path, percent-encoded as requested.
#[test]
fn signed_paths_are_signed_as_requested() {
    let nginx = Nginx::builder()
        .server(
            &query_location("/s/", &format!("image_filter_rs_secret \"{NEW_KEY}\";"))
                .replace("image_filter_rs_cache thumbs;\n    ", ""),
        )
        .file("media/caf\u{e9} au lait.jpg", pic())
        .start();
    let raw = "/s/caf%C3%A9%20au%20lait.jpg";
    let decoded = "/s/caf\u{e9} au lait.jpg";
    let as_requested = nginx.get(&signed_url(NEW_KEY.as_bytes(), raw, "w=120&h=90"));
    let sig_decoded = signature(NEW_KEY.as_bytes(), decoded, "w=120&h=90");
    let over_decoded = nginx.get(&format!("{raw}?w=120&h=90&s={sig_decoded}"));
    println!(
        "signed over the raw path: {}; signed over the decoded path: {}",
        as_requested.status, over_decoded.status
    );
    assert_eq!(
        as_requested.status,
        200,
        "a URL signed over its path as requested ({raw}) should be served, as sign-url's \
         usage says; signing the decoded path instead gets {}:\n{}",
        over_decoded.status,
        as_requested.describe()
    );
    nginx.stop_and_check();
}

#[test]
fn sizes_from_variables_are_checked_against_the_list() {
    let nginx = Nginx::builder()
        .server(
            "location /v/ {\n    alias @MEDIA@/;\n    image_filter_rs ${arg_w}x${arg_h} crop;\n    \
             image_filter_rs_sizes 100x100 200x200;\n}",
        )
        .file(&format!("media/{PIC}"), pic())
        .start();
    assert_eq!(
        dims_of(&nginx, &format!("/v/{PIC}?w=100&h=100")),
        (100, 100)
    );
    assert_eq!(
        dims_of(&nginx, &format!("/v/{PIC}?w=200&h=200")),
        (200, 200)
    );
    for query in ["w=150&h=150", "w=abc&h=100", "w=100", "", "w=100&h=100x100"] {
        assert_400_reason(&nginx, &format!("/v/{PIC}?{query}"));
    }
    nginx.stop_and_check();
}

#[test]
fn accept_negotiation_varies_and_caches_each_format() {
    let nginx = Nginx::builder()
        .http(CACHE_HTTP)
        .server(&query_location(
            "/a/",
            "image_filter_rs_sizes 320x240; image_filter_rs_format auto;",
        ))
        .file(&format!("media/{PIC}"), pic())
        .start();
    let url = format!("/a/{PIC}?w=320&h=240");
    let fetch = |accept: Option<&str>| {
        let resp = nginx.request(&Request::get(&url).optional_header("Accept", accept));
        assert_eq!(resp.status, 200, "Accept {accept:?}:\n{}", resp.describe());
        assert_eq!(
            resp.headers_named("Vary"),
            ["Accept"],
            "Accept {accept:?}: a negotiated response says Vary: Accept, once\n{}",
            resp.describe()
        );
        let img = decode(&resp.body);
        assert_eq!(img.dims(), (320, 200));
        (resp, img.format)
    };
    let (webp, fmt) = fetch(Some("image/webp,*/*"));
    assert_eq!(webp.header("Content-Type"), Some("image/webp"));
    assert_eq!(fmt, image::ImageFormat::WebP);
    for accept in [
        Some("image/jpeg"),
        None,
        Some("image/webp;q=0, image/jpeg"),
        Some("image/webp; q=0.0,*/*"),
    ] {
        let (resp, fmt) = fetch(accept);
        assert_eq!(
            resp.header("Content-Type"),
            Some("image/jpeg"),
            "{accept:?}"
        );
        assert_eq!(fmt, image::ImageFormat::Jpeg, "{accept:?}");
    }
    let (again, _) = fetch(Some("text/html,image/webp,*/*;q=0.8"));
    assert_eq!(again.header("Content-Type"), Some("image/webp"));
    assert_eq!(again.cache_status(), Some("HIT"), "{}", again.describe());
    let files = cache_files(&nginx);
    assert_eq!(files.len(), 2, "one cache file per format: {files:?}");
    nginx.stop_and_check();
}

/// What a request that must not reach `secret.jpg` got back.
fn assert_no_leak(nginx: &Nginx, url: &str, secret: &[u8]) -> String {
    let outcome = Request::get(url).try_send(nginx.port());
    let resp = match outcome {
        Ok(r) => r,
        // nginx closing on a request line it will not parse leaks nothing.
        Err(e) => return format!("{url:40} -> connection error ({e})"),
    };
    assert!(
        (400..500).contains(&resp.status),
        "GET {url} must be refused (4xx), got:\n{}",
        resp.describe()
    );
    assert!(
        !resp.body.windows(64).any(|w| secret[..64] == *w),
        "GET {url}: the body holds the secret's bytes"
    );
    let text = String::from_utf8_lossy(&resp.body);
    let prefix = nginx.prefix().to_string_lossy().into_owned();
    assert!(
        !text.contains(&prefix) && !text.contains("secret"),
        "GET {url}: the body names a path: {text:?}"
    );
    format!("{url:40} -> {}", resp.status)
}

#[test]
fn traversal_forms_never_reach_outside_the_root() {
    let secret = images::jpeg(64, 48, [250, 0, 0]);
    let nginx = Nginx::builder()
        .server(
            &query_location("/q/", "image_filter_rs_sizes 160x120;")
                .replace("image_filter_rs_cache thumbs;\n    ", ""),
        )
        .file(&format!("media/{PIC}"), pic())
        .file("secret.jpg", secret.clone())
        .start();
    assert_eq!(
        dims_of(&nginx, &format!("/q/{PIC}?w=160&h=120")),
        (160, 100)
    );
    let mut seen = Vec::new();
    for path in [
        "/q/../secret.jpg",
        "/q/%2e%2e/secret.jpg",
        "/q/%2E%2E/secret.jpg",
        "/q/..%2fsecret.jpg",
        "/q/..%2Fsecret.jpg",
        "/q/%2e%2e%2fsecret.jpg",
        "/q/%252e%252e/secret.jpg",
        "/q/..\\secret.jpg",
        "/q/..%5csecret.jpg",
        "/q/a%00.jpg",
        "/q/%c0%ae%c0%ae/secret.jpg",
        "/q/%c0%ae%c0%ae%c0%afsecret.jpg",
        "/q/./../secret.jpg",
        "/q//../secret.jpg",
        "/q/pic.jpg/../../secret.jpg",
    ] {
        seen.push(assert_no_leak(
            &nginx,
            &format!("{path}?w=160&h=120"),
            &secret,
        ));
    }
    println!("{}", seen.join("\n"));
    nginx.stop_and_check();
}

#[test]
fn symlinks_out_of_the_root_follow_the_static_module() {
    let secret = images::jpeg(64, 48, [250, 0, 0]);
    let nginx = Nginx::builder()
        .server(
            "location /q/ { alias @MEDIA@/; image_filter_rs 160x120; }\n\
             location /qs/ { alias @MEDIA@/; image_filter_rs 160x120; disable_symlinks on; }\n\
             location /static/ { alias @MEDIA@/; }\n\
             location /statics/ { alias @MEDIA@/; disable_symlinks on; }",
        )
        .file("secret.jpg", secret)
        .start();
    std::os::unix::fs::symlink(nginx.path("secret.jpg"), nginx.media_dir().join("link.jpg"))
        .unwrap();
    let st = |url: &str| nginx.get(url).status;
    let (module, stat) = (st("/q/link.jpg"), st("/static/link.jpg"));
    let (module_off, stat_off) = (st("/qs/link.jpg"), st("/statics/link.jpg"));
    println!(
        "symlink out of the root: module {module}, static {stat}; \
         with disable_symlinks on: module {module_off}, static {stat_off}"
    );
    // Without disable_symlinks nginx follows links, wherever they point;
    // the module must not be stricter or looser than the static module.
    assert_eq!(module, stat, "module and static module should agree");
    assert_eq!(
        module, 200,
        "a symlink is followed unless disable_symlinks says no"
    );
    assert!(
        [403, 404].contains(&module_off),
        "disable_symlinks on: the module answered {module_off}"
    );
    assert_eq!(
        module_off, stat_off,
        "module and static module should agree"
    );
    nginx.stop_and_check();
}

/// GET with a read timeout of `limit`, and how long it took.
fn get_within(port: u16, path: &str, limit: Duration) -> (std::io::Result<Response>, Duration) {
    let started = Instant::now();
    let outcome = (|| {
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut stream = TcpStream::connect_timeout(&addr, limit)?;
        stream.set_read_timeout(Some(limit))?;
        stream.write_all(&Request::get(path).to_bytes(port))?;
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw)?;
        Response::parse(&raw, false)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
    })();
    (outcome, started.elapsed())
}

#[test]
fn fifos_directories_and_unreadable_files_are_refused_cleanly() {
    let nginx = Nginx::builder()
        .server(
            "location /q/ { alias @MEDIA@/; image_filter_rs 160x120; }\n\
             location /static/ { alias @MEDIA@/; }",
        )
        .file(&format!("media/{PIC}"), pic())
        .file("media/locked.jpg", pic())
        .start();
    let media = nginx.media_dir();
    let fifo = std::ffi::CString::new(media.join("x.jpg").to_string_lossy().as_bytes()).unwrap();
    // SAFETY: a valid NUL-terminated path; mkfifo only creates a node.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0, "mkfifo");
    fs::create_dir(media.join("d.jpg")).unwrap();
    fs::set_permissions(media.join("locked.jpg"), fs::Permissions::from_mode(0o000)).unwrap();

    // One worker: if opening the FIFO blocked it, the next request would hang.
    let (fifo_resp, took) = get_within(nginx.port(), "/q/x.jpg", Duration::from_secs(3));
    let fifo_resp = fifo_resp.unwrap_or_else(|e| panic!("FIFO: no answer within 3 s ({e})"));
    assert!(
        (400..500).contains(&fifo_resp.status),
        "FIFO: {}",
        fifo_resp.describe()
    );
    assert!(took < Duration::from_secs(1), "FIFO answered in {took:?}");
    let (next, took) = get_within(nginx.port(), &format!("/q/{PIC}"), Duration::from_secs(10));
    let next = next.unwrap_or_else(|e| panic!("the worker is stuck after the FIFO ({e})"));
    next.assert_status(200);
    println!(
        "FIFO -> {}; next request 200 in {took:?}; log: {:?}",
        fifo_resp.status,
        nginx.error_log_lines_with(&["x.jpg"])
    );

    let dir = nginx.get("/q/d.jpg");
    let dir_static = nginx.get("/static/d.jpg");
    assert_eq!(dir.status, 301, "directory:\n{}", dir.describe());
    assert_eq!(dir_static.status, 301);
    assert!(
        dir.header("Location")
            .is_some_and(|l| l.ends_with("/q/d.jpg/")),
        "{}",
        dir.describe()
    );

    let locked = nginx.get("/q/locked.jpg");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        paths::notice(&format!(
            "SKIPPED url_api mode-000 file: running as root, which reads it anyway \
             (got {}); only checking it is not a 5xx",
            locked.status
        ));
        assert!(
            locked.status < 500,
            "mode 000 as root:\n{}",
            locked.describe()
        );
    } else {
        assert_eq!(locked.status, 403, "mode 000:\n{}", locked.describe());
    }
    nginx.stop_and_check();
}

#[test]
fn request_sized_locations_need_sizes_or_a_secret() {
    for filter in ["query", "${arg_w}x${arg_h}", "${arg_w}x${arg_h} crop"] {
        let check = Nginx::builder()
            .server(&format!(
                "location /t/ {{ alias @MEDIA@/; image_filter_rs {filter}; }}"
            ))
            .check();
        check.assert_fails_with(&["must be set too", "image_filter_rs_sizes"]);
    }
    // Inherited from the server level, the same location needs them too.
    Nginx::builder()
        .server("image_filter_rs query;\nlocation /t/ { alias @MEDIA@/; }")
        .check()
        .assert_fails_with(&["must be set too"]);
    for guard in [
        "image_filter_rs_sizes 100x100;",
        "image_filter_rs_secret \"sixteen chars ok\";",
    ] {
        Nginx::builder()
            .server(&format!(
                "location /t/ {{ alias @MEDIA@/; image_filter_rs query; {guard} }}"
            ))
            .check()
            .assert_ok();
    }
}

#[test]
fn bad_presets_and_secrets_are_refused() {
    for name in [
        "off",
        "query",
        "size",
        "test",
        "easy_thumbnails",
        "versatileimagefield",
    ] {
        let line = format!("image_filter_rs_preset {name} 100x75 crop;");
        let check = Nginx::builder().http(&line).check();
        check.assert_fails_with(&[
            &format!("invalid value \"{name}\""),
            &check.location_of(&line),
        ]);
    }
    let line = "image_filter_rs_preset thumb 100x75 crop foo=1;";
    let check = Nginx::builder().http(line).check();
    check.assert_fails_with(&["invalid value \"foo=1\"", &check.location_of(line)]);
    for bad in [
        "contrast=x",
        "quality=101",
        "format=bmp",
        "gravity=up",
        "rotate=45",
        "flip=x",
        "sharpen=1001",
        "blur=0.1",
    ] {
        Nginx::builder()
            .http(&format!("image_filter_rs_preset thumb 100x75 {bad};"))
            .check()
            .assert_fails_with(&[&format!("invalid value \"{bad}\"")]);
    }
    Nginx::builder()
        .http("image_filter_rs_preset thumb 100x75 crop;")
        .server("location /t/ { alias @MEDIA@/; image_filter_rs nosuch; }")
        .check()
        .assert_fails_with(&["unknown image_filter_rs preset \"nosuch\""]);
    let line = "image_filter_rs_secret \"fifteen chars..\";";
    let check = Nginx::builder()
        .server(&format!(
            "location /t/ {{ alias @MEDIA@/; image_filter_rs query; {line} }}"
        ))
        .check();
    check.assert_fails_with(&["at least 16 characters", &check.location_of(line)]);
}

#[test]
fn url_api_example_config_serves_query_and_signed_urls() {
    let file = paths::repo_root().join("nginx-conf/url-api.conf");
    let text = fs::read_to_string(&file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    let nginx = Nginx::builder()
        .sample_media(&["gulp.png"])
        .start_config_text(&text);
    // Snapped up to the 320x240 box, PNG kept (no Accept), Vary said.
    let snapped = nginx.get("/t/gulp.png?w=300&h=200&fit=crop");
    snapped.assert_status(200);
    assert_eq!(decode(&snapped.body).dims(), (320, 240));
    assert_eq!(snapped.headers_named("Vary"), ["Accept"]);
    let webp = nginx.request(
        &Request::get("/t/gulp.png?w=300&h=200&fit=crop").header("Accept", "image/webp,*/*"),
    );
    webp.assert_status(200);
    assert_eq!(webp.header("Content-Type"), Some("image/webp"));
    assert_eq!(nginx.get("/t/gulp.png?w=2000").status, 400);
    assert_eq!(nginx.get("/t/gulp.png?p=card").status, 200);
    // The keys as the file spells them, quotes removed.
    for key in [
        "current key, 16+ characters",
        "previous key, still accepted",
    ] {
        assert!(
            text.contains(&format!("\"{key}\"")),
            "url-api.conf lost {key:?}"
        );
        let url = signed_url(key.as_bytes(), "/s/gulp.png", "w=350&h=350");
        assert_eq!(dims_of(&nginx, &url), (350, 219), "{url}");
    }
    assert_eq!(nginx.get("/s/gulp.png?w=350&h=350").status, 403);
    nginx.stop_and_check();
}
