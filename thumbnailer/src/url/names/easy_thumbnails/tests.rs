//! The names easy-thumbnails 2.10.1 writes (printed by its own
//! `get_thumbnail_name`), read back; the sizes its `scale_and_crop` makes
//! (measured with it) against this crate's plans; hostile names refused.

#![allow(clippy::type_complexity)] // the tables read better inline

use super::parse;
use crate::job::{Fit, Focal, Gravity, OutputFormat, Rgb};
use crate::processing::geometry::plan;
use crate::url::names::Named;
use crate::ErrorClass;

fn ok(name: &str) -> Named {
    parse(name.as_bytes()).unwrap_or_else(|e| panic!("{name:?}: {e}"))
}

#[test]
fn the_library_names_are_read_back() {
    // (name, original, box, fit, gravity, focal, quality, format)
    type Row = (
        &'static str,
        &'static str,
        (Option<u32>, Option<u32>),
        Fit,
        Gravity,
        Option<(u16, u16)>,
        u8,
        OutputFormat,
    );
    let (s, c) = (Some(350), Some(350));
    let table: &[Row] = &[
        (
            "photos/gradient.jpg.350x350_q85.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Fit,
            Gravity::Center,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::Center,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop.png",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::Center,
            None,
            85,
            OutputFormat::Png,
        ),
        (
            "photos/gradient.jpg.350x0_q85.jpg",
            "photos/gradient.jpg",
            (s, None),
            Fit::Fit,
            Gravity::Center,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.0x200_q70.jpg",
            "photos/gradient.jpg",
            (None, Some(200)),
            Fit::Fit,
            Gravity::Center,
            None,
            70,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop-smart.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::Smart,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop-scale.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Fill,
            Gravity::Center,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop-0,0.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::NorthWest,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop--0,-0.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::SouthEast,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop-,0.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::North,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop--0,.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::East,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop-,.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::Center,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop_target-10,20.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::Center,
            Some((100, 200)),
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop_target-20,None.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::Center,
            Some((200, 500)),
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_crop_target-,60.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::Center,
            Some((500, 600)),
            85,
            OutputFormat::Jpeg,
        ),
        // The smart crop ignores the target, as the library's does.
        (
            "photos/gradient.jpg.350x350_q85_crop-smart_target-10,20.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Crop,
            Gravity::Smart,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        // Edges with a centred target.
        (
            "a.jpg.350x350_q85_crop-0,_target-50,50.jpg",
            "a.jpg",
            (s, c),
            Fit::Crop,
            Gravity::West,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "photos/gradient.jpg.350x350_q85_background-#ff0000.jpg",
            "photos/gradient.jpg",
            (s, c),
            Fit::Pad,
            Gravity::Center,
            None,
            85,
            OutputFormat::Jpeg,
        ),
        (
            "/a b/Ünïcode.PNG.10x20_q1.webp",
            "/a b/Ünïcode.PNG",
            (Some(10), Some(20)),
            Fit::Fit,
            Gravity::Center,
            None,
            1,
            OutputFormat::Webp,
        ),
        (
            "photo.1x1_q100.gif",
            "photo",
            (Some(1), Some(1)),
            Fit::Fit,
            Gravity::Center,
            None,
            100,
            OutputFormat::Gif,
        ),
        (
            "x.y.z.65535x65535_q85.jpeg",
            "x.y.z",
            (Some(65535), Some(65535)),
            Fit::Fit,
            Gravity::Center,
            None,
            85,
            OutputFormat::Jpeg,
        ),
    ];
    for &(name, original, (w, h), fit, gravity, focal, quality, format) in table {
        let n = ok(name);
        assert_eq!(n.original, original.as_bytes(), "{name}");
        assert_eq!((n.geometry.width, n.geometry.height), (w, h), "{name}");
        assert_eq!(n.geometry.fit, fit, "{name}");
        assert_eq!(n.geometry.gravity, gravity, "{name}");
        let want = focal.map(|(x_milli, y_milli)| Focal { x_milli, y_milli });
        assert_eq!(n.geometry.focal, want, "{name}");
        assert_eq!(n.quality, Some(quality), "{name}");
        assert_eq!(n.format, format, "{name}");
        assert!(!n.geometry.enlarge, "{name}");
    }
}

#[test]
fn options_change_what_they_should() {
    let n = ok("photos/gradient.jpg.350x350_q85_crop_target-10,20_upscale.jpg");
    assert!(n.geometry.enlarge);
    assert_eq!(n.geometry.fit, Fit::Crop);
    let n = ok("photos/gradient.jpg.350x350_q85_bw.jpg");
    assert!(n.grayscale);
    assert_eq!(
        ok("a.jpg.1x1_q85_background-#f00.jpg").background,
        Some(Rgb(255, 0, 0))
    );
    assert_eq!(
        ok("a.jpg.1x1_q85_background-#0A0b0C.jpg").background,
        Some(Rgb(10, 11, 12))
    );
    assert_eq!(ok("a.jpg.1x1_q85.jpg").background, None);
    assert!(!ok("a.jpg.1x1_q85.jpg").grayscale);
}

#[test]
fn sizes_are_the_libraries() {
    // Measured with easy-thumbnails 2.10.1's processors on blank images:
    // (source, name suffix, size it made).
    let table: &[((u32, u32), &str, (u32, u32))] = &[
        ((400, 200), "350x350_q85", (350, 175)),
        ((400, 200), "350x350_q85_crop", (350, 200)),
        ((400, 200), "350x0_q85", (350, 175)),
        ((400, 200), "0x100_q85", (200, 100)),
        ((400, 200), "350x350_q85_crop-scale", (400, 200)),
        ((400, 200), "350x350_q85_crop_upscale", (350, 350)),
        ((400, 200), "150x150_q85_crop-scale", (300, 150)),
        ((400, 200), "150x150_q85_crop", (150, 150)),
        ((100, 50), "350x350_q85", (100, 50)),
        ((100, 50), "350x350_q85_crop", (100, 50)),
        ((100, 50), "0x100_q85", (100, 50)),
        ((100, 50), "350x350_q85_crop_upscale", (350, 350)),
        ((100, 50), "350x350_q85_upscale", (350, 175)),
        ((100, 50), "150x150_q85_crop-scale", (100, 50)),
        ((1000, 200), "350x350_q85", (350, 70)),
        ((1000, 200), "350x350_q85_crop", (350, 200)),
        ((1000, 200), "0x100_q85", (500, 100)),
        ((1000, 200), "150x150_q85_crop-scale", (750, 150)),
    ];
    for &((sw, sh), suffix, want) in table {
        let n = ok(&format!("a.jpg.{suffix}.jpg"));
        let p = plan(sw, sh, &n.geometry);
        assert_eq!((p.out_width, p.out_height), want, "{sw}x{sh} {suffix}");
    }
    // `background` pads to the box whatever the source (350x350 for all
    // three sources above).
    for (sw, sh) in [(400, 200), (100, 50), (1000, 200)] {
        let n = ok("a.jpg.350x350_q85_background-#ff0000.jpg");
        assert_eq!(plan(sw, sh, &n.geometry).final_size(), (350, 350));
    }
}

#[test]
fn the_target_moves_the_crop() {
    // 1000x200 cropped to 350x200 around x = 10%: the library's box starts
    // at max(0, 100 - 175) = 0; at 90% it ends at the right edge.
    let n = ok("a.jpg.350x350_q85_crop_target-10,50.jpg");
    assert_eq!(plan(1000, 200, &n.geometry).region.left, 0);
    let n = ok("a.jpg.350x350_q85_crop_target-90,50.jpg");
    assert_eq!(plan(1000, 200, &n.geometry).region.left, 650);
    let n = ok("a.jpg.350x350_q85_crop_target-40,50.jpg");
    // Library: int(1000 * 40 / 100) - 175 = 225.
    assert_eq!(plan(1000, 200, &n.geometry).region.left, 225);
}

#[test]
fn unsupported_and_malformed_names_are_refused() {
    let table: &[&str] = &[
        // Options the library writes that this module cannot honour.
        "photos/gradient.jpg.350x350_q85ss0.jpg",
        "photos/gradient.jpg.350x350_q85ss1.jpg",
        "photos/gradient.jpg.350x350_q85_zoom-40.jpg",
        "photos/gradient.jpg.350x350_q85_replace_alpha-#fff.jpg",
        "photos/gradient.jpg.350x350_q85_autocrop_detail_sharpen.jpg",
        "photos/gradient.jpg.350x350_q85_keep_icc_profile.jpg",
        "photos/gradient.jpg.350x350_q85_crop--10,-0.jpg",
        "photos/gradient.jpg.350x350_q85_crop-10,0.jpg",
        "photos/gradient.jpg.350x350_q85_crop-top.jpg",
        "photos/gradient.jpg.350x350_q85_crop-0,_target-10,20.jpg",
        "photos/gradient.jpg.350x350_q85_background-#ff0000_crop.jpg",
        "photos/gradient.jpg.350x350_q85_background-#ff0000.png",
        "photos/gradient.jpg.350x350_q85_background-red.jpg",
        "photos/gradient.jpg.350x350_q85_background-#ff00.jpg",
        "photos/gradient.jpg.350x350_q85_target-101,0.jpg",
        "photos/gradient.jpg.350x350_q85_target-10.jpg",
        "photos/gradient.jpg.350x350_q85_upscale-1.jpg",
        "photos/gradient.jpg.350x350_q85_crop-True.jpg",
        // Order and repetition: not a name the library writes.
        "photos/gradient.jpg.350x350_q85_upscale_crop.jpg",
        "photos/gradient.jpg.350x350_q85_crop_crop.jpg",
        // Another namer, or no suffix at all.
        "photos/6qW1buHgLaZ9.jpg",
        "photos/1xedFtqllFo9_100x100_QHCa6G1l.jpg",
        "photos/gradient.jpg.medium_large.jpg",
        "photos/gradient.jpg",
        "photos/gradient",
        "photos/.350x350_q85.jpg",
        "photos/..350x350_q85.jpg",
        "photos/...350x350_q85.jpg",
        // Sizes and qualities.
        "a.jpg.0x0_q85.jpg",
        "a.jpg.350_q85.jpg",
        "a.jpg.350x_q85.jpg",
        "a.jpg.x350_q85.jpg",
        "a.jpg.-1x350_q85.jpg",
        "a.jpg.0350x350_q85.jpg",
        "a.jpg.65536x1_q85.jpg",
        "a.jpg.99999999999999999999x1_q85.jpg",
        "a.jpg.350X350_q85.jpg",
        "a.jpg.350x350.jpg",
        "a.jpg.350x350_.jpg",
        "a.jpg.350x350_q0.jpg",
        "a.jpg.350x350_q101.jpg",
        "a.jpg.350x350_q085.jpg",
        "a.jpg.350x350_85.jpg",
        "a.jpg.350x350_qkeep.jpg",
        "a.jpg.350x350_q85__crop.jpg",
        "a.jpg.350x350_q85_.jpg",
        // Extensions.
        "a.jpg.350x350_q85.JPG",
        "a.jpg.350x350_q85.tif",
        "a.jpg.350x350_q85.",
        // Paths.
        "../a.jpg.350x350_q85.jpg",
        "photos/../../a.jpg.350x350_q85.jpg",
        "photos//a.jpg.350x350_q85.jpg",
        "photos/./a.jpg.350x350_q85.jpg",
        "a\0.jpg.350x350_q85.jpg",
        "",
        "/",
    ];
    for name in table {
        let err = parse(name.as_bytes()).expect_err(name);
        assert_eq!(err.class(), ErrorClass::BadRequest, "{name:?}");
        assert!(
            err.to_string().starts_with("not a easy_thumbnails name"),
            "{err}"
        );
    }
}

#[test]
fn hostile_names_give_short_reasons() {
    let long = format!("a.jpg.350x350_q85_{}.jpg", "z".repeat(100_000));
    let err = parse(long.as_bytes()).unwrap_err().to_string();
    assert!(err.len() < 120, "{err}");
    let err = parse("a.jpg.350x350_q85_\"\n.jpg".as_bytes())
        .unwrap_err()
        .to_string();
    assert!(err.contains("\\\"\\n"), "{err}");
    assert!(
        parse(&[0xff, b'.', b'1', b'x', b'1', b'_', b'q', b'1', b'.', b'j', b'p', b'g']).is_ok()
    );
}
