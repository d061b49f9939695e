//! JPEG XL originals through nginx: a lossy photo-like file becomes a JPEG
//! thumbnail of the right size and colours, one with alpha a PNG that keeps
//! it, and a cut-off file a 415 with one error-log line. The originals are
//! made at test time by `cjxl` (Debian's libjxl-tools) from images written
//! here, so what they must look like is known exactly.

use std::path::Path;
use std::process::Command;

use image::{DynamicImage, Rgb, RgbImage, Rgba, RgbaImage};
use image_filter_rs_tests::images::{decode, mean_rgb};
use image_filter_rs_tests::Nginx;

/// `cjxl` on a PNG of `img`; None (a skip) when cjxl is missing, a failure
/// under CI.
fn cjxl(img: DynamicImage, distance: &str) -> Option<Vec<u8>> {
    let dir = tempfile::tempdir().unwrap();
    let (png, jxl) = (dir.path().join("in.png"), dir.path().join("out.jxl"));
    img.save(&png).unwrap();
    let run = Command::new("cjxl")
        .arg(&png)
        .arg(&jxl)
        .args(["-d", distance])
        .output();
    match run {
        Ok(out) if out.status.success() => Some(std::fs::read(Path::new(&jxl)).unwrap()),
        Ok(out) => panic!("cjxl failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("cjxl (Debian package libjxl-tools) is required under CI")
        }
        Err(_) => {
            eprintln!("skipping: cjxl (Debian package libjxl-tools) is not installed");
            None
        }
    }
}

/// Left half red, right half blue: where the colours land shows the
/// orientation and the decode at once.
fn halves(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            Rgb([220, 30, 30])
        } else {
            Rgb([30, 40, 210])
        }
    })
}

#[test]
fn jxl_originals_are_thumbnailed() {
    let Some(photo) = cjxl(halves(800, 600).into(), "1") else {
        return;
    };
    let translucent = RgbaImage::from_fn(400, 400, |_, y| {
        Rgba([20, 200, 40, if y < 200 { 255 } else { 0 }])
    });
    let Some(alpha) = cjxl(translucent.into(), "0") else {
        return;
    };
    let cut = photo[..photo.len() / 3].to_vec();
    let nginx = Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache keys_zone=t:1m;")
        .server(
            "location /t/ { alias @MEDIA@/; image_filter_rs 200x200; \
             image_filter_rs_cache t; add_header X-Cache-Status $image_filter_rs_cache_status; }",
        )
        .file("media/photo.jxl", photo)
        .file("media/alpha.jxl", alpha)
        .file("media/cut.jxl", cut)
        .start();

    let resp = nginx.get("/t/photo.jxl");
    resp.assert_status(200);
    assert_eq!(resp.headers_named("Content-Type"), ["image/jpeg"]);
    let img = decode(&resp.body);
    assert_eq!(img.dims(), (200, 150));
    let rgb = img.image.to_rgb8();
    let left = mean_rgb(&DynamicImage::ImageRgb8(
        image::imageops::crop_imm(&rgb, 10, 10, 80, 130).to_image(),
    ));
    let right = mean_rgb(&DynamicImage::ImageRgb8(
        image::imageops::crop_imm(&rgb, 110, 10, 80, 130).to_image(),
    ));
    for (got, want) in left.iter().zip([220.0, 30.0, 30.0]) {
        assert!((got - want).abs() < 12.0, "left half {left:?}");
    }
    for (got, want) in right.iter().zip([30.0, 40.0, 210.0]) {
        assert!((got - want).abs() < 12.0, "right half {right:?}");
    }
    let again = nginx.get("/t/photo.jxl");
    assert_eq!(again.cache_status(), Some("HIT"));
    assert_eq!(again.body, resp.body);

    let resp = nginx.get("/t/alpha.jxl");
    resp.assert_status(200);
    assert_eq!(resp.headers_named("Content-Type"), ["image/png"]);
    let img = decode(&resp.body);
    assert_eq!(img.dims(), (200, 200));
    let rgba = img.image.to_rgba8();
    assert_eq!(rgba.get_pixel(100, 20).0, [20, 200, 40, 255]);
    assert_eq!(rgba.get_pixel(100, 180)[3], 0, "transparent half kept");

    let resp = nginx.get("/t/cut.jxl");
    resp.assert_status(415);
    let lines = nginx.error_log_lines_with(&["cut.jxl"]);
    assert_eq!(
        lines.len(),
        1,
        "one error-log line for the cut file: {lines:?}"
    );
    nginx.stop_and_check();
}
