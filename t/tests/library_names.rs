//! `image_filter_rs easy_thumbnails;` and `image_filter_rs versatileimagefield;`
//! against the real nginx: the names the two Django libraries write (the
//! exact spellings their 2.10.1 and 3.1 releases print) are served with the
//! size, fit, crop window, quality, enlargement and format the library would
//! give them, in both location layouts (`/media/` and `/media/__sized__/`);
//! names the module cannot read are a 400, a missing original a 404, a size
//! outside `image_filter_rs_sizes` a 400, each with one error-log line; a
//! location without `image_filter_rs_sizes` fails `nginx -t`; and
//! `nginx-conf/django-libraries.conf` serves, caches and purges them.

use std::fs;

use image::{ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use image_filter_rs_tests::images::{decode, Decoded};
use image_filter_rs_tests::{paths, Nginx, Request, Response};

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

/// Four vertical stripes, red, green, blue and white, a quarter each: a crop
/// window shows which quarters it kept.
fn stripes(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| {
        Rgb(match 4 * x / width {
            0 => RED,
            1 => GREEN,
            2 => BLUE,
            _ => WHITE,
        })
    })
}

fn jpeg(image: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95)
        .encode_image(image)
        .expect("encode JPEG");
    out
}

/// 400x200: left half transparent, right half opaque blue.
fn clear_png() -> Vec<u8> {
    let image = RgbaImage::from_fn(400, 200, |x, _| {
        if x < 200 {
            Rgba([0, 0, 0, 0])
        } else {
            Rgba([0, 0, 255, 255])
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode PNG");
    out.into_inner()
}

/// The originals every test serves from: `photos/stripes.jpg` (400x200),
/// `photos/small.jpg` (100x50) and `photos/clear.png` (400x200, half
/// transparent).
fn with_originals(builder: image_filter_rs_tests::Builder) -> image_filter_rs_tests::Builder {
    builder
        .file("media/photos/stripes.jpg", jpeg(&stripes(400, 200)))
        .file("media/photos/small.jpg", jpeg(&stripes(100, 50)))
        .file("media/photos/clear.png", clear_png())
}

/// A 200 with an image of `format` and `content_type`, decoded.
fn image(resp: &Response, content_type: &str, format: ImageFormat) -> Decoded {
    resp.assert_status(200);
    assert_eq!(
        resp.header("Content-Type"),
        Some(content_type),
        "{}",
        resp.describe()
    );
    let img = decode(&resp.body);
    assert_eq!(img.format, format, "{}", resp.describe());
    img
}

fn jpeg_of(nginx: &Nginx, uri: &str) -> Decoded {
    image(&nginx.get(uri), "image/jpeg", ImageFormat::Jpeg)
}

/// Asserts the pixel at (x, y) is `want`, within JPEG's error.
fn assert_colour(what: &str, img: &Decoded, (x, y): (u32, u32), want: [u8; 3]) {
    let got = img.image.to_rgb8().get_pixel(x, y).0;
    let close = got.iter().zip(want).all(|(&g, w)| g.abs_diff(w) <= 48);
    assert!(
        close,
        "{what}: pixel ({x}, {y}) is {got:?}, expected about {want:?}"
    );
}

/// A 400 whose plain-text reason contains `reason`, and exactly one error-log
/// line naming `logged` (new since `before` lines).
fn assert_refused(nginx: &Nginx, uri: &str, status: u16, reason: &str, logged: &str) {
    let before = nginx
        .error_log_lines_with(&["image_filter_rs", logged])
        .len();
    let resp = nginx.get(uri);
    resp.assert_status(status);
    if status == 400 {
        let body = String::from_utf8_lossy(&resp.body);
        assert!(
            body.contains(reason),
            "{uri}: reason {body:?} lacks {reason:?}"
        );
    }
    let lines = nginx.error_log_lines_with(&["image_filter_rs", logged]);
    assert_eq!(
        lines.len(),
        before + 1,
        "{uri}: expected one new error-log line with {logged:?}, got:\n{}",
        lines.join("\n")
    );
    assert!(
        lines.last().is_some_and(|l| l.contains(reason)),
        "{uri}: {:?} does not give the reason {reason:?}",
        lines.last()
    );
}

const EASY_LOCATION: &str = "location /media/ {\n\
     alias @MEDIA@/;\n\
     image_filter_rs easy_thumbnails;\n\
     image_filter_rs_sizes 350x350 200x200 -x100 350x-;\n\
     }";

#[test]
fn easy_thumbnails_sizes_crops_and_formats() {
    let nginx = with_originals(Nginx::builder())
        .server(EASY_LOCATION)
        .start();
    let p = "/media/photos/stripes.jpg";
    // A fit never enlarges; 0 is a free side.
    assert_eq!(
        jpeg_of(&nginx, &format!("{p}.350x350_q85.jpg")).dims(),
        (350, 175)
    );
    assert_eq!(
        jpeg_of(&nginx, &format!("{p}.350x0_q85.jpg")).dims(),
        (350, 175)
    );
    assert_eq!(
        jpeg_of(&nginx, &format!("{p}.0x100_q85.jpg")).dims(),
        (200, 100)
    );
    // crop: 350x350 of 400x200 cuts only the width (the library's 350x200),
    // around the centre: 25 pixels off each side.
    let crop = jpeg_of(&nginx, &format!("{p}.350x350_q85_crop.jpg"));
    assert_eq!(crop.dims(), (350, 200));
    assert_colour("crop", &crop, (5, 100), RED);
    assert_colour("crop", &crop, (344, 100), WHITE);
    // 200x200 windows: the centre, and as `target` and edges move them.
    let windows: &[(&str, [u8; 3], [u8; 3])] = &[
        ("200x200_q85_crop", GREEN, BLUE),
        ("200x200_q85_crop_target-0,50", RED, GREEN),
        ("200x200_q85_crop_target-100,50", BLUE, WHITE),
        ("200x200_q85_crop-0,0", RED, GREEN),
        ("200x200_q85_crop--0,", BLUE, WHITE),
    ];
    for &(options, left, right) in windows {
        let img = jpeg_of(&nginx, &format!("{p}.{options}.jpg"));
        assert_eq!(img.dims(), (200, 200), "{options}");
        assert_colour(options, &img, (10, 100), left);
        assert_colour(options, &img, (190, 100), right);
    }
    // The extension is the output format.
    let png = image(
        &nginx.get(&format!("{p}.200x200_q85.png")),
        "image/png",
        ImageFormat::Png,
    );
    assert_eq!(png.dims(), (200, 100));
    // bw is grey.
    let grey = jpeg_of(&nginx, &format!("{p}.200x200_q85_bw.jpg"));
    let [r, g, b] = grey.image.to_rgb8().get_pixel(10, 50).0;
    assert!(r.abs_diff(g) <= 8 && g.abs_diff(b) <= 8, "bw: {r} {g} {b}");
    assert!(r < 200, "bw of red is a mid grey, not white: {r}");
    // The quality is the name's.
    let low = nginx.get(&format!("{p}.200x200_q10.jpg"));
    let high = nginx.get(&format!("{p}.200x200_q95.jpg"));
    assert!(
        low.assert_status(200).body.len() * 5 < high.assert_status(200).body.len() * 4,
        "q10 is {} bytes, q95 {}",
        low.body.len(),
        high.body.len()
    );
    nginx.stop_and_check();
}

#[test]
fn easy_thumbnails_enlarges_only_with_upscale_and_pads_with_background() {
    let nginx = with_originals(Nginx::builder())
        .server(EASY_LOCATION)
        .start();
    let p = "/media/photos/small.jpg";
    assert_eq!(
        jpeg_of(&nginx, &format!("{p}.200x200_q85_crop.jpg")).dims(),
        (100, 50)
    );
    assert_eq!(
        jpeg_of(&nginx, &format!("{p}.200x200_q85.jpg")).dims(),
        (100, 50)
    );
    let up = jpeg_of(&nginx, &format!("{p}.200x200_q85_crop_upscale.jpg"));
    assert_eq!(up.dims(), (200, 200));
    // 100x50 enlarged to cover 200x200 is 400x200, cut to its middle.
    assert_colour("upscale crop", &up, (10, 100), GREEN);
    assert_colour("upscale crop", &up, (190, 100), BLUE);
    assert_eq!(
        jpeg_of(&nginx, &format!("{p}.200x200_q85_upscale.jpg")).dims(),
        (200, 100)
    );
    // background pads to the box, the image centred: 100x50 at (50, 75).
    // Django's storages write `#` as `%23` in URLs, as they must.
    let pad = jpeg_of(&nginx, &format!("{p}.200x200_q85_background-%23ff0000.jpg"));
    assert_eq!(pad.dims(), (200, 200));
    assert_colour("pad above", &pad, (100, 10), RED);
    assert_colour("pad below", &pad, (100, 190), RED);
    assert_colour("image", &pad, (90, 100), GREEN);
    assert_colour("image", &pad, (140, 100), WHITE);
    nginx.stop_and_check();
}

#[test]
fn easy_thumbnails_refusals() {
    let nginx = with_originals(Nginx::builder())
        .server(EASY_LOCATION)
        .start();
    let p = "/media/photos/stripes.jpg";
    let cases: &[(&str, u16, &str)] = &[
        // Not a name, an option with no equivalent, a subsampling.
        ("", 400, "not a easy_thumbnails name"),
        (
            ".200x200_q85_zoom-40.jpg",
            400,
            "option \"zoom-40\" is not supported",
        ),
        (".200x200_q85ss0.jpg", 400, "subsampling"),
        (".200x200_q85_crop--10,-0.jpg", 400, "is not supported"),
        (".200x200_q85_upscale_crop.jpg", 400, "out of order"),
        (".99999999999x200_q85.jpg", 400, "is not WxH"),
        // A readable name of a size the location does not make.
        (".123x123_q85.jpg", 400, "size not allowed here"),
    ];
    for &(suffix, status, reason) in cases {
        let uri = format!("{p}{suffix}");
        // The log names the file asked for.
        let logged = format!("stripes.jpg{suffix}\"");
        assert_refused(&nginx, &uri, status, reason, &logged);
    }
    // A missing original: 404, the original's path in the log.
    assert_refused(
        &nginx,
        "/media/photos/missing.jpg.200x200_q85.jpg",
        404,
        "failed",
        "photos/missing.jpg\" failed",
    );
    // Nothing was made for any refusal: a good name still works after them.
    assert_eq!(
        jpeg_of(&nginx, &format!("{p}.200x200_q85.jpg")).dims(),
        (200, 100)
    );
    nginx.stop_and_check();
}

/// The two layouts: a location that maps `/media/__sized__/` onto the media
/// root (originals served by `/media/`), and one that maps a whole prefix,
/// `__sized__` included, onto it.
const VIF_LOCATIONS: &str = "location /media/ { alias @MEDIA@/; }\n\
     location /media/__sized__/ {\n\
     alias @MEDIA@/;\n\
     image_filter_rs versatileimagefield;\n\
     image_filter_rs_sizes 350x350 200x200;\n\
     }\n\
     location /vif/ {\n\
     alias @MEDIA@/;\n\
     image_filter_rs versatileimagefield;\n\
     image_filter_rs_sizes 350x350 200x200;\n\
     }";

#[test]
fn versatileimagefield_in_both_layouts() {
    let nginx = with_originals(Nginx::builder())
        .server(VIF_LOCATIONS)
        .start();
    for prefix in ["/media/__sized__/photos", "/vif/__sized__/photos"] {
        let thumb = jpeg_of(
            &nginx,
            &format!("{prefix}/stripes-thumbnail-350x350-70.jpg"),
        );
        assert_eq!(thumb.dims(), (350, 175), "{prefix}");
        // crop: a square window centred on the point, pushed inside.
        let windows: &[(&str, [u8; 3], [u8; 3])] = &[
            ("c0-5__0-5", GREEN, BLUE),
            ("c0-25__0-5", RED, GREEN),
            ("c0-75__0-5", BLUE, WHITE),
            ("c0-0__1-0", RED, GREEN),
        ];
        for &(ppoi, left, right) in windows {
            let uri = format!("{prefix}/stripes-crop-{ppoi}-200x200-70.jpg");
            let img = jpeg_of(&nginx, &uri);
            assert_eq!(img.dims(), (200, 200), "{uri}");
            assert_colour(&uri, &img, (10, 100), left);
            assert_colour(&uri, &img, (190, 100), right);
        }
        // The crop enlarges a small original to the box; the thumbnail not.
        let up = jpeg_of(
            &nginx,
            &format!("{prefix}/small-crop-c0-5__0-5-200x200-70.jpg"),
        );
        assert_eq!(up.dims(), (200, 200), "{prefix}");
        assert_colour("enlarged crop", &up, (10, 100), GREEN);
        let small = jpeg_of(&nginx, &format!("{prefix}/small-thumbnail-200x200-70.jpg"));
        assert_eq!(small.dims(), (100, 50), "{prefix}");
        // The original's format, kept with its transparency; no quality in
        // a PNG's name.
        let png = image(
            &nginx.get(&format!("{prefix}/clear-thumbnail-200x200.png")),
            "image/png",
            ImageFormat::Png,
        );
        assert_eq!(png.dims(), (200, 100));
        assert_eq!(
            png.image.to_rgba8().get_pixel(10, 50).0[3],
            0,
            "transparent half"
        );
        assert_eq!(png.image.to_rgba8().get_pixel(190, 50).0, [0, 0, 255, 255]);
        // The quality is the name's.
        let low = nginx.get(&format!("{prefix}/stripes-thumbnail-200x200-10.jpg"));
        let high = nginx.get(&format!("{prefix}/stripes-thumbnail-200x200-95.jpg"));
        assert!(
            low.assert_status(200).body.len() * 5 < high.assert_status(200).body.len() * 4,
            "{prefix}: -10 is {} bytes, -95 {}",
            low.body.len(),
            high.body.len()
        );
    }
    // The originals stay static files.
    let original = nginx.get("/media/photos/stripes.jpg");
    original.assert_status(200);
    assert_eq!(
        original.body,
        fs::read(nginx.media_dir().join("photos/stripes.jpg")).expect("read original")
    );
    nginx.stop_and_check();
}

#[test]
fn versatileimagefield_refusals() {
    let nginx = with_originals(Nginx::builder())
        .server(VIF_LOCATIONS)
        .start();
    let p = "/media/__sized__/photos";
    let cases: &[(&str, u16, &str)] = &[
        (
            "stripes-scale-200x200-70.jpg",
            400,
            "no -thumbnail- or -crop-cX__Y- key",
        ),
        (
            "stripes-thumbnail-200x200.jpg",
            400,
            "not a versatileimagefield name",
        ),
        (
            "stripes-crop-c1-5__0-5-200x200-70.jpg",
            400,
            "point of interest",
        ),
        ("stripes-thumbnail-0x200-70.jpg", 400, "is not WxH"),
        (
            "stripes-thumbnail-100x100-70.jpg",
            400,
            "size not allowed here",
        ),
    ];
    for &(name, status, reason) in cases {
        assert_refused(
            &nginx,
            &format!("{p}/{name}"),
            status,
            reason,
            &format!("{name}\""),
        );
    }
    assert_refused(
        &nginx,
        &format!("{p}/missing-thumbnail-200x200-70.jpg"),
        404,
        "failed",
        "photos/missing.jpg\" failed",
    );
    nginx.stop_and_check();
}

#[test]
fn the_modes_need_image_filter_rs_sizes() {
    for mode in ["easy_thumbnails", "versatileimagefield"] {
        let check = Nginx::builder()
            .http("image_filter_rs_secret \"a key of at least 16 characters\";")
            .server(&format!(
                "location /media/ {{ alias @MEDIA@/; image_filter_rs {mode}; }}"
            ))
            .check();
        check.assert_fails_with(&[&format!(
            "\"image_filter_rs {mode}\" takes the size from the file name, so \
             \"image_filter_rs_sizes\" must be set too"
        )]);
        let check = Nginx::builder()
            .server(&format!(
                "location /media/ {{ alias @MEDIA@/; image_filter_rs {mode}; \
                 image_filter_rs_sizes 10x10; }}"
            ))
            .check();
        check.assert_ok();
        // One word only.
        let check = Nginx::builder()
            .server(&format!(
                "location /media/ {{ alias @MEDIA@/; image_filter_rs {mode} crop; \
                 image_filter_rs_sizes 10x10; }}"
            ))
            .check();
        check.assert_fails_with(&["invalid value \"crop\""]);
    }
}

#[test]
fn the_example_config_serves_caches_and_purges_library_names() {
    let file = paths::repo_root().join("nginx-conf/django-libraries.conf");
    let text = fs::read_to_string(&file).expect("read nginx-conf/django-libraries.conf");
    let nginx = with_originals(Nginx::builder()).start_config_text(&text);
    let easy = "/media/photos/stripes.jpg.350x350_q85_crop.jpg";
    let vif = "/media/__sized__/photos/stripes-crop-c0-5__0-5-180x180-70.jpg";
    let first = nginx.get(easy);
    assert_eq!(
        image(&first, "image/jpeg", ImageFormat::Jpeg).dims(),
        (350, 200)
    );
    assert_eq!(first.header("X-Image-Filter-Cache"), Some("MISS"));
    let again = nginx.get(easy);
    assert_eq!(
        again.header("X-Image-Filter-Cache"),
        Some("HIT"),
        "{}",
        again.describe()
    );
    assert_eq!(again.body, first.body);
    let crop = nginx.get(vif);
    assert_eq!(
        image(&crop, "image/jpeg", ImageFormat::Jpeg).dims(),
        (180, 180)
    );
    assert_eq!(crop.header("X-Image-Filter-Cache"), Some("MISS"));
    // Originals, easy-thumbnails' sizes not listed, another namer's names.
    let original = nginx.get("/media/photos/stripes.jpg");
    assert_eq!(decode(&original.assert_status(200).body).dims(), (400, 200));
    nginx
        .get("/media/photos/stripes.jpg.123x123_q85.jpg")
        .assert_status(400);
    nginx
        .get("/media/__sized__/photos/stripes-thumbnail-180x180-70.jpg")
        .assert_status(200);
    // HEAD makes and stores a rendition as GET does: a warmer can send the
    // names a page will use.
    let warm = "/media/__sized__/photos/stripes-crop-c0-5__0-5-220x220-70.jpg";
    let head = nginx.head(warm);
    head.assert_status(200);
    assert_eq!(head.header("X-Image-Filter-Cache"), Some("MISS"));
    assert_eq!(nginx.get(warm).header("X-Image-Filter-Cache"), Some("HIT"));
    // A purge of the original removes what both names made from it.
    let purge = Request::new("PURGE", "/purge/media/photos/stripes.jpg").send(nginx.port());
    purge.assert_status(200);
    let body = String::from_utf8_lossy(&purge.body);
    assert!(body.contains("\"purged\": 4"), "{body}");
    assert_eq!(nginx.get(easy).header("X-Image-Filter-Cache"), Some("MISS"));
    assert_eq!(nginx.get(vif).header("X-Image-Filter-Cache"), Some("MISS"));
    nginx.stop_and_check();
}
