//! A drop-in for nginx's `image_filter`: the assertions of nginx's own tests
//! for it (nginx-tests `image_filter.t`, `image_filter_webp.t`,
//! `image_filter_finalize.t`) re-expressed with this module's directives, on
//! the same test images (100x120, a white background made transparent, a
//! black square outline), plus what we add: frames in `size`, flips,
//! sharpening and blur, variable qualities refused when bad.
//!
//! Where we differ on purpose (our default JPEG quality is 82, not 75; a
//! file over the size limit is 413 for thumbnails) the README's "Coming from
//! image_filter" table says so; `test` and `size` keep image_filter's
//! answers (415 and `{}`).

use image::{DynamicImage, GenericImageView, Rgba, RgbaImage};
use image_filter_rs_tests::images::{decode, mean_rgb};
use image_filter_rs_tests::{Nginx, Request, Response};

const W: u32 = 100;
const H: u32 = 120;

/// image_filter.t's picture: white, with a black 100x100 square outline at
/// the top; white is the transparent colour of the GIF and the PNG.
fn gd_picture() -> RgbaImage {
    RgbaImage::from_fn(W, H, |x, y| {
        let edge = y < 100 && (x == 0 || x == 99 || y == 0 || y == 99);
        if edge {
            Rgba([0, 0, 0, 255])
        } else {
            Rgba([255, 255, 255, 255])
        }
    })
}

fn jpeg_bytes() -> Vec<u8> {
    let rgb = DynamicImage::ImageRgba8(gd_picture()).to_rgb8();
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&rgb)
        .unwrap();
    out
}

/// A two-colour palette GIF (black, white) with white transparent, as GD
/// writes `$im->transparent($white)`.
fn gif_bytes(frames: usize) -> Vec<u8> {
    let picture = gd_picture();
    let indices: Vec<u8> = picture.pixels().map(|p| u8::from(p.0[0] == 255)).collect();
    let mut out = Vec::new();
    {
        let mut encoder =
            gif::Encoder::new(&mut out, W as u16, H as u16, &[0, 0, 0, 255, 255, 255]).unwrap();
        if frames > 1 {
            encoder.set_repeat(gif::Repeat::Infinite).unwrap();
        }
        for _ in 0..frames {
            let mut frame =
                gif::Frame::from_indexed_pixels(W as u16, H as u16, indices.clone(), Some(1));
            frame.delay = 10;
            encoder.write_frame(&frame).unwrap();
        }
    }
    out
}

/// The same picture as a palette PNG with white transparent (tRNS).
fn png_bytes() -> Vec<u8> {
    let picture = gd_picture();
    let indices: Vec<u8> = picture.pixels().map(|p| u8::from(p.0[0] == 255)).collect();
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, W, H);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_palette(vec![0, 0, 0, 255, 255, 255]);
        encoder.set_trns(vec![255, 0]);
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(&indices).unwrap();
    }
    out
}

/// Lossless WebP of the picture (the `image` crate writes VP8L).
fn webp_bytes() -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::webp::WebPEncoder::new_lossless(&mut out)
        .encode(gd_picture().as_raw(), W, H, image::ExtendedColorType::Rgba8)
        .unwrap();
    out
}

/// A JPEG with an EXIF orientation tag: 6 means "turn 90° clockwise to
/// show", so a 100x120 file shows 120x100.
fn jpeg_with_orientation(jpeg: &[u8], orientation: u8) -> Vec<u8> {
    let mut exif = b"Exif\0\0MM\0\x2a\0\0\0\x08\0\x01".to_vec();
    exif.extend_from_slice(&[0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, orientation, 0, 0]);
    exif.extend_from_slice(&[0, 0, 0, 0]);
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    out.extend_from_slice(&((exif.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&exif);
    out.extend_from_slice(&jpeg[2..]);
    out
}

/// Width and height from a GIF's logical screen descriptor, as
/// image_filter.t's `gif_size` reads them.
fn gif_size(body: &[u8]) -> (u16, u16) {
    assert!(
        body.starts_with(b"GIF8"),
        "not a GIF: {:02x?}",
        &body[..body.len().min(8)]
    );
    (
        u16::from_le_bytes([body[6], body[7]]),
        u16::from_le_bytes([body[8], body[9]]),
    )
}

/// The first frame's transparent index, if any.
fn gif_transparent(body: &[u8]) -> Option<u8> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(body).unwrap();
    decoder.read_next_frame().unwrap().unwrap().transparent
}

/// The first luminance quantisation value of a JPEG, which libjpeg derives
/// from the quality: 16 scaled by 5000/q (q < 50) or 200 - 2q percent.
fn jpeg_luma_quant(body: &[u8]) -> u16 {
    let at = body
        .windows(2)
        .position(|w| w == [0xFF, 0xDB])
        .expect("a DQT segment");
    let precision = body[at + 4] >> 4;
    if precision == 0 {
        u16::from(body[at + 5])
    } else {
        u16::from_be_bytes([body[at + 5], body[at + 6]])
    }
}

fn quant_for_quality(q: u32) -> u16 {
    let scale = if q < 50 { 5000 / q } else { 200 - 2 * q };
    ((16 * scale + 50) / 100).clamp(1, 255) as u16
}

fn gd_server() -> image_filter_rs_tests::Builder {
    Nginx::builder()
        .file("media/jpeg", jpeg_bytes())
        .file("media/gif", gif_bytes(1))
        .file("media/png", png_bytes())
        .file("media/webp", webp_bytes())
        .file("media/txt", "SEE-THIS")
}

fn body_text(resp: &Response) -> String {
    String::from_utf8_lossy(&resp.body).into_owned()
}

#[test]
fn size_answers_image_filters_json_without_decoding() {
    let nginx = gd_server()
        .file(
            "media/oriented.jpg",
            jpeg_with_orientation(&jpeg_bytes(), 6),
        )
        .file("media/animated.gif", gif_bytes(3))
        .file("media/truncated.jpg", jpeg_bytes()[..200].to_vec())
        .server("location /size/ { alias @MEDIA@/; image_filter_rs size; }")
        .server(
            "location /q/ { alias @MEDIA@/; image_filter_rs query; \
             image_filter_rs_sizes 10x12; }",
        )
        .start();
    for (name, kind) in [
        ("jpeg", "jpeg"),
        ("gif", "gif"),
        ("png", "png"),
        ("webp", "webp"),
    ] {
        let resp = nginx.get(&format!("/size/{name}"));
        resp.assert_status(200);
        assert_eq!(resp.headers_named("Content-Type"), ["application/json"]);
        assert_eq!(
            body_text(&resp),
            format!(
                "{{ \"img\" : {{ \"width\": 100, \"height\": 120, \"type\": \"{kind}\" }} }}\r\n"
            ),
            "GET /size/{name}"
        );
    }
    // The size as shown, after EXIF orientation; frames of an animation.
    assert!(body_text(&nginx.get("/size/oriented.jpg")).contains("\"width\": 120, \"height\": 100"));
    assert!(
        body_text(&nginx.get("/size/animated.gif")).contains("\"type\": \"gif\", \"frames\": 3")
    );
    // Not an image, or a damaged one: image_filter's `{}`, here with 415.
    for name in ["txt", "truncated.jpg"] {
        let resp = nginx.get(&format!("/size/{name}"));
        resp.assert_status(415);
        assert_eq!(body_text(&resp), "{}\r\n", "GET /size/{name}");
        assert_eq!(resp.header("Content-Type"), Some("application/json"));
    }
    let head = nginx.head("/size/txt");
    assert_eq!(head.header("Content-Type"), Some("application/json"));
    assert!(head.body.is_empty());
    assert_eq!(nginx.get("/size/missing").status, 404);
    // The same by query, even where sizes are restricted.
    let info = nginx.get("/q/jpeg?info=1");
    info.assert_status(200);
    assert!(body_text(&info).contains("\"width\": 100, \"height\": 120, \"type\": \"jpeg\""));
    assert_eq!(nginx.get("/q/jpeg?info=2").status, 400);
    // One log line per refused original, naming it.
    let lines = nginx.error_log_lines_with(&["image_filter_rs: ", "/txt\""]);
    assert_eq!(lines.len(), 2, "GET and HEAD of /size/txt: {lines:#?}");
    nginx.stop_and_check();
}

#[test]
fn test_passes_images_unchanged_and_refuses_the_rest_with_415() {
    let gif = gif_bytes(1);
    let mut bogus_webp = b"RIFF\x40\0\0\0WEBPVP8 \x34\0\0\0".to_vec();
    bogus_webp.extend_from_slice(&[0x5a; 52]);
    let webp = webp_bytes();
    let nginx = gd_server()
        .file("media/truncated.webp", webp[..webp.len() / 2].to_vec())
        .file("media/bogus.webp", bogus_webp)
        .server(
            "location /test/ { alias @MEDIA@/; image_filter_rs test; \
             location /test/off/ { alias @MEDIA@/; image_filter_rs off; } }",
        )
        .server("location /buffer/ { alias @MEDIA@/; image_filter_rs test; image_filter_rs_max_source_size 1k; }")
        .start();
    let head = nginx.head("/test/gif");
    head.assert_status(200);
    assert_eq!(head.header("Content-Type"), Some("image/gif"));
    assert!(head.body.is_empty());
    let resp = nginx.get("/test/gif");
    resp.assert_status(200);
    assert!(resp.body == gif, "the original's bytes, unchanged");
    assert!(resp.header("Last-Modified").is_some() && resp.header("ETag").is_some());
    let webp_resp = nginx.get("/test/webp");
    webp_resp.assert_status(200);
    assert_eq!(webp_resp.header("Content-Type"), Some("image/webp"));
    for bad in [
        "/test/txt",
        "/test/truncated.webp",
        "/test/bogus.webp",
        "/buffer/jpeg",
    ] {
        let resp = nginx.get(bad);
        assert_eq!(resp.status, 415, "GET {bad}:\n{}", resp.describe());
        assert!(!body_text(&resp).contains("SEE-THIS"));
    }
    assert!(body_text(&nginx.get("/test/off/txt")).contains("SEE-THIS"));
    assert_eq!(
        nginx
            .error_log_lines_with(&["/jpeg\"", "source size limit"])
            .len(),
        1,
        "one line naming the limit"
    );
    nginx.stop_and_check();
}

/// image_filter.t's resize, rotate and crop sizes, read from the GIF header
/// as its `gif_size` does: GIF in, GIF out.
#[test]
fn resize_rotate_and_crop_give_image_filters_sizes() {
    let nginx = gd_server()
        .http("map $arg_w $w { \"\" -; default $arg_w; } map $arg_h $h { \"\" -; default $arg_h; }")
        .server("location /resize/ { alias @MEDIA@/; image_filter_rs 10x12; }")
        .server("location /resize1/ { alias @MEDIA@/; image_filter_rs 10x-; }")
        .server("location /resize2/ { alias @MEDIA@/; image_filter_rs -x12; }")
        .server(
            "location /resize_var/ { alias @MEDIA@/; image_filter_rs ${w}x${h}; \
             image_filter_rs_sizes 10x12 10x- -x12; }",
        )
        .server(
            "location /rotate/ { alias @MEDIA@/; image_filter_rs -x-; image_filter_rs_rotate 90; }",
        )
        .server(
            "location /rotate_var/ { alias @MEDIA@/; image_filter_rs -x-; \
             image_filter_rs_rotate $arg_r; }",
        )
        .server("location /crop/ { alias @MEDIA@/; image_filter_rs 60x80 crop; }")
        .server(
            "location /crop_var/ { alias @MEDIA@/; image_filter_rs ${arg_w}x${arg_h} crop; \
             image_filter_rs_sizes 10x20; }",
        )
        .server(
            "location /crop_rotate/ { alias @MEDIA@/; image_filter_rs ${arg_w}x${arg_h} crop; \
             image_filter_rs_rotate $arg_r; image_filter_rs_sizes 5x6; }",
        )
        .server(
            "location /resize_rotate/ { alias @MEDIA@/; image_filter_rs ${w}x${h}; \
             image_filter_rs_rotate $arg_r; image_filter_rs_sizes 5x6 10x12; \
             location /resize_rotate/resize/ { alias @MEDIA@/; image_filter_rs 10x12; } }",
        )
        .start();
    let size = |url: &str| {
        let resp = nginx.get(url);
        assert_eq!(resp.status, 200, "GET {url}:\n{}", resp.describe());
        assert_eq!(resp.header("Content-Type"), Some("image/gif"), "GET {url}");
        gif_size(&resp.body)
    };
    let cases = [
        ("/resize/gif", (10, 12)),
        ("/resize1/gif", (10, 12)),
        ("/resize2/gif", (10, 12)),
        ("/resize_var/gif?w=10&h=12", (10, 12)),
        ("/resize_var/gif?w=10", (10, 12)),
        ("/resize_var/gif?h=12", (10, 12)),
        ("/rotate/gif", (120, 100)),
        ("/rotate_var/gif?r=180", (100, 120)),
        ("/rotate_var/gif?r=270", (120, 100)),
        ("/rotate_var/gif", (100, 120)),
        ("/crop/gif", (60, 80)),
        ("/crop_var/gif?w=10&h=20", (10, 20)),
        ("/crop_rotate/gif?w=5&h=6&r=90", (5, 5)),
        ("/resize_rotate/gif?w=5&h=6&r=90", (6, 5)),
        ("/resize_rotate/resize/gif??w=5&h=6&r=90", (10, 12)),
    ];
    for (url, want) in cases {
        assert_eq!(size(url), want, "GET {url}");
    }
    // A bad angle from a variable is the client's mistake: 400 with why.
    let bad = nginx.get("/rotate_var/gif?r=45");
    bad.assert_status(400);
    assert!(
        body_text(&bad).contains("image_filter_rs_rotate"),
        "{}",
        bad.describe()
    );
    nginx.stop_and_check();
}

#[test]
fn transparency_is_kept_or_dropped_as_told() {
    let nginx = gd_server()
        .server("location /resize/ { alias @MEDIA@/; image_filter_rs 10x12; }")
        .server(
            "location /nontransparent/ { alias @MEDIA@/; image_filter_rs 10x12; \
             image_filter_rs_transparency off; }",
        )
        .start();
    // GIF: the transparent index survives, or is gone.
    let kept = nginx.get("/resize/gif");
    kept.assert_status(200);
    assert!(
        gif_transparent(&kept.body).is_some(),
        "gif transparent kept"
    );
    let dropped = nginx.get("/nontransparent/gif");
    dropped.assert_status(200);
    assert_eq!(gif_transparent(&dropped.body), None, "gif transparent loss");
    // PNG: transparent pixels, or none at all (flattened on white).
    let alpha_min = |body: &[u8]| {
        let img = decode(body);
        img.image.pixels().map(|(_, _, p)| p.0[3]).min().unwrap()
    };
    let png = nginx.get("/resize/png");
    assert_eq!(png.header("Content-Type"), Some("image/png"));
    assert_eq!(alpha_min(&png.body), 0, "png transparent kept");
    let flat = nginx.get("/nontransparent/png");
    assert_eq!(alpha_min(&flat.body), 255, "png transparent loss");
    let m = mean_rgb(&decode(&flat.body).image);
    assert!(
        m.iter().all(|&c| c > 180.0),
        "flattened on the white background: {m:?}"
    );
    nginx.stop_and_check();
}

#[test]
fn jpeg_quality_fixed_variable_nested_and_refused() {
    let nginx = gd_server()
        .server("location /resize/ { alias @MEDIA@/; image_filter_rs 10x12; }")
        .server(
            "location /quality/ { alias @MEDIA@/; image_filter_rs 10x12; \
             image_filter_rs_jpeg_quality 50; }",
        )
        .server(
            "location /quality_var/ { alias @MEDIA@/; image_filter_rs 10x12; \
             image_filter_rs_jpeg_quality $arg_q; \
             location /quality_var/quality/ { alias @MEDIA@/; image_filter_rs_jpeg_quality 60; } }",
        )
        .server(
            "location /webp_var/ { alias @MEDIA@/; image_filter_rs 10x12; \
             image_filter_rs_format webp; image_filter_rs_webp_quality $arg_q; }",
        )
        .start();
    let quant = |url: &str| {
        let resp = nginx.get(url);
        assert_eq!(resp.status, 200, "GET {url}:\n{}", resp.describe());
        jpeg_luma_quant(&resp.body)
    };
    assert_eq!(
        quant("/resize/jpeg"),
        quant_for_quality(82),
        "our default, 82"
    );
    assert_eq!(quant("/quality/jpeg"), quant_for_quality(50));
    assert_eq!(quant("/quality_var/jpeg?q=40"), quant_for_quality(40));
    assert_eq!(
        quant("/quality_var/jpeg"),
        quant_for_quality(82),
        "empty: the default"
    );
    assert_eq!(
        quant("/quality_var/quality/jpeg?q=40"),
        quant_for_quality(60),
        "nested"
    );
    for bad in [
        "/quality_var/jpeg?q=0",
        "/quality_var/jpeg?q=101",
        "/quality_var/jpeg?q=abc",
    ] {
        let resp = nginx.get(bad);
        resp.assert_status(400);
        assert!(
            body_text(&resp).contains("image_filter_rs_jpeg_quality"),
            "GET {bad}: {}",
            resp.describe()
        );
    }
    // WebP's quality from a variable shows in the size.
    let small = nginx.get("/webp_var/png?q=5");
    let large = nginx.get("/webp_var/png?q=95");
    assert_eq!(small.header("Content-Type"), Some("image/webp"));
    assert!(
        small.body.len() < large.body.len(),
        "{} vs {}",
        small.body.len(),
        large.body.len()
    );
    assert_eq!(nginx.get("/webp_var/png?q=x").status, 400);
    nginx.stop_and_check();
}

/// Left half red, right half blue: flips and turns can be told apart.
fn halves() -> Vec<u8> {
    let img = RgbaImage::from_fn(200, 100, |x, _| {
        if x < 100 {
            Rgba([220, 20, 20, 255])
        } else {
            Rgba([20, 20, 220, 255])
        }
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgba8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

/// Fine stripes, whose contrast sharpening raises and blur lowers.
fn stripes() -> Vec<u8> {
    let img = RgbaImage::from_fn(200, 200, |x, _| {
        if (x / 4) % 2 == 0 {
            Rgba([90, 90, 90, 255])
        } else {
            Rgba([160, 160, 160, 255])
        }
    });
    let mut out = Vec::new();
    DynamicImage::ImageRgba8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

fn luminance_sd(image: &DynamicImage) -> f64 {
    let grey = image.to_luma8();
    let n = grey.len() as f64;
    let mean = grey.pixels().map(|p| f64::from(p.0[0])).sum::<f64>() / n;
    (grey
        .pixels()
        .map(|p| (f64::from(p.0[0]) - mean).powi(2))
        .sum::<f64>()
        / n)
        .sqrt()
}

#[test]
fn flips_sharpen_and_blur_by_directive_query_and_preset() {
    let nginx = Nginx::builder()
        .file("media/halves.png", halves())
        .file("media/stripes.png", stripes())
        .http("image_filter_rs_preset mirrored 100x100 flip=h sharpen=50;")
        .server(
            "location /flip/ { alias @MEDIA@/; image_filter_rs 100x100; image_filter_rs_flip h; }",
        )
        .server("location /plain/ { alias @MEDIA@/; image_filter_rs 100x100; }")
        .server(
            "location /sharp/ { alias @MEDIA@/; image_filter_rs 100x100; \
             image_filter_rs_sharpen 200; }",
        )
        .server("location /preset/ { alias @MEDIA@/; image_filter_rs mirrored; }")
        .server(
            "location /q/ { alias @MEDIA@/; image_filter_rs query; \
             image_filter_rs_sizes 100x100; }",
        )
        .start();
    let left_right = |url: &str| {
        let resp = nginx.get(url);
        assert_eq!(resp.status, 200, "GET {url}:\n{}", resp.describe());
        let img = decode(&resp.body).image;
        let (w, h) = img.dimensions();
        (img.get_pixel(2, h / 2).0, img.get_pixel(w - 3, h / 2).0)
    };
    let (l, r) = left_right("/plain/halves.png");
    assert!(
        l[0] > 150 && r[2] > 150,
        "red left, blue right: {l:?} {r:?}"
    );
    for url in [
        "/flip/halves.png",
        "/preset/halves.png",
        "/q/halves.png?w=100&h=100&flip=h",
    ] {
        let (l, r) = left_right(url);
        assert!(
            l[2] > 150 && r[0] > 150,
            "{url}: blue left, red right: {l:?} {r:?}"
        );
    }
    // Turned 90° counter-clockwise, the left half ends at the bottom.
    let turned = decode(&nginx.get("/q/halves.png?w=100&h=100&r=90").body).image;
    assert_eq!(turned.dimensions(), (50, 100));
    assert!(turned.get_pixel(25, 97).0[0] > 150, "red at the bottom");
    assert!(turned.get_pixel(25, 2).0[2] > 150, "blue at the top");

    let sd = |url: &str| {
        let resp = nginx.get(url);
        assert_eq!(resp.status, 200, "GET {url}:\n{}", resp.describe());
        luminance_sd(&decode(&resp.body).image)
    };
    let plain = sd("/plain/stripes.png");
    let sharp = sd("/sharp/stripes.png");
    let queried = sd("/q/stripes.png?w=100&h=100&sharpen=200");
    let blurred = sd("/q/stripes.png?w=100&h=100&blur=3");
    assert!(
        sharp > plain * 1.05,
        "sharpen raises contrast: {sharp} vs {plain}"
    );
    assert!(
        (queried - sharp).abs() < 0.5,
        "the query's sharpen is the directive's"
    );
    assert!(
        blurred < plain * 0.5,
        "blur flattens stripes: {blurred} vs {plain}"
    );
    for bad in ["r=45", "flip=x", "sharpen=-1", "blur=0", "blur=101"] {
        let url = format!("/q/halves.png?w=100&h=100&{bad}");
        assert_eq!(nginx.get(&url).status, 400, "GET {url}");
    }
    nginx.stop_and_check();
}

/// image_filter_finalize.t's concern, and the README's recipe: a refusal
/// goes through `error_page`, with the fallback's own body and status.
#[test]
fn error_page_recipe_serves_fallbacks_for_404_413_and_415() {
    let nginx = gd_server()
        .file("media/fallback.gif", gif_bytes(1))
        .server(
            "location /thumb/ { alias @MEDIA@/; image_filter_rs 10x12; \
             image_filter_rs_max_source_size 100k; \
             error_page 404 413 415 = /fallback/fallback.gif; }",
        )
        .server("location /fallback/ { alias @MEDIA@/; }")
        .server(
            "location /test/ { alias @MEDIA@/; image_filter_rs test; \
             error_page 415 = /empty; }",
        )
        .server("location = /empty { return 204; }")
        .file("media/big.jpg", {
            let mut big = jpeg_bytes();
            big.resize(200 * 1024, 0);
            big
        })
        .start();
    for url in ["/thumb/missing.jpg", "/thumb/txt", "/thumb/big.jpg"] {
        let resp = nginx.get(url);
        assert_eq!(resp.status, 200, "GET {url}:\n{}", resp.describe());
        assert_eq!(resp.header("Content-Type"), Some("image/gif"), "GET {url}");
        assert_eq!(gif_size(&resp.body), (100, 120), "the fallback, unresized");
    }
    assert_eq!(gif_size(&nginx.get("/thumb/gif").body), (10, 12));
    assert_eq!(nginx.get("/test/txt").status, 204);
    assert_eq!(nginx.get("/test/jpeg").status, 200);
    // HEAD through the same paths.
    let head = nginx.request(&Request::head("/thumb/txt"));
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    nginx.stop_and_check();
}
