//! The names django-versatileimagefield 3.1 writes (printed by its own
//! `get_resized_path`), read back; the sizes its sizers make (measured
//! with it) against this crate's plans; hostile names refused.

#![allow(clippy::type_complexity)] // the tables read better inline

use super::parse;
use crate::job::{Fit, Focal, OutputFormat};
use crate::processing::geometry::plan;
use crate::url::names::Named;
use crate::ErrorClass;

fn ok(name: &str) -> Named {
    parse(name.as_bytes()).unwrap_or_else(|e| panic!("{name:?}: {e}"))
}

#[test]
fn the_library_names_are_read_back() {
    // (name, original, box, crop focal (None: thumbnail), quality)
    type Row = (
        &'static str,
        &'static str,
        (u32, u32),
        Option<(u16, u16)>,
        Option<u8>,
    );
    let table: &[Row] = &[
        (
            "__sized__/photos/gradient-thumbnail-350x350-70.jpg",
            "photos/gradient.jpg",
            (350, 350),
            None,
            Some(70),
        ),
        (
            "__sized__/photos/gradient-crop-c0-5__0-5-350x350-70.jpg",
            "photos/gradient.jpg",
            (350, 350),
            Some((500, 500)),
            Some(70),
        ),
        (
            "__sized__/photos/gradient-crop-c0-25__0-75-350x350-70.jpg",
            "photos/gradient.jpg",
            (350, 350),
            Some((250, 750)),
            Some(70),
        ),
        (
            "__sized__/photos/gradient-crop-c0-0__1-0-350x350-70.jpg",
            "photos/gradient.jpg",
            (350, 350),
            Some((0, 1000)),
            Some(70),
        ),
        (
            "__sized__/photos/gradient-crop-c0-3333333333333333__0-1-350x350-70.jpg",
            "photos/gradient.jpg",
            (350, 350),
            Some((333, 100)),
            Some(70),
        ),
        (
            "__sized__/photos/clear-crop-c0-25__0-75-350x350.png",
            "photos/clear.png",
            (350, 350),
            Some((250, 750)),
            None,
        ),
        (
            "__sized__/photos/clear-thumbnail-350x350.png",
            "photos/clear.png",
            (350, 350),
            None,
            None,
        ),
        (
            "__sized__/photos/x-thumbnail-350x350-70.WEBP",
            "photos/x.WEBP",
            (350, 350),
            None,
            Some(70),
        ),
        (
            "__sized__/photos/ab-crop-c0-5__0-5-350x350-70.JPEG",
            "photos/ab.JPEG",
            (350, 350),
            Some((500, 500)),
            Some(70),
        ),
        (
            "__sized__/photos/__sized__/a-thumbnail-350x350.gif",
            "photos/__sized__/a.gif",
            (350, 350),
            None,
            None,
        ),
        // The `/media/__sized__/` location: no `__sized__` left in the path.
        (
            "/photos/gradient-thumbnail-180x180-70.jpg",
            "/photos/gradient.jpg",
            (180, 180),
            None,
            Some(70),
        ),
        (
            "/__sized__/photos/gradient-thumbnail-180x180-70.jpg",
            "/photos/gradient.jpg",
            (180, 180),
            None,
            Some(70),
        ),
        // Names with the library's separators in them.
        (
            "__sized__/my-crop-c-photo-thumbnail-2-thumbnail-1x65535-100.jpeg",
            "my-crop-c-photo-thumbnail-2.jpeg",
            (1, 65535),
            None,
            Some(100),
        ),
        (
            "__sized__/a-thumbnail-crop-c1__0-350x350-1.jpg",
            "a-thumbnail.jpg",
            (350, 350),
            Some((1000, 0)),
            Some(1),
        ),
        (
            "__sized__/a.b-thumbnail-10x10.tar.gz",
            "a.b-thumbnail-10x10.tar.gz",
            (10, 10),
            None,
            None,
        ),
    ];
    for &(name, original, (w, h), focal, quality) in table {
        // The last row has no key before its extension: refused.
        if name.ends_with(".tar.gz") {
            assert!(parse(name.as_bytes()).is_err(), "{name}");
            continue;
        }
        let n = ok(name);
        assert_eq!(n.original, original.as_bytes(), "{name}");
        assert_eq!(
            (n.geometry.width, n.geometry.height),
            (Some(w), Some(h)),
            "{name}"
        );
        let want = focal.map(|(x_milli, y_milli)| Focal { x_milli, y_milli });
        assert_eq!(n.geometry.focal, want, "{name}");
        let fit = if focal.is_some() { Fit::Crop } else { Fit::Fit };
        assert_eq!(n.geometry.fit, fit, "{name}");
        assert_eq!(n.geometry.enlarge, focal.is_some(), "{name}");
        assert_eq!(n.quality, quality, "{name}");
        assert_eq!(n.format, OutputFormat::Original, "{name}");
        assert!(n.background.is_none() && !n.grayscale);
    }
}

#[test]
fn sizes_are_the_libraries() {
    // Measured with the library's sizers: the crop always ends at the box,
    // the thumbnail never enlarges.
    let table: &[((u32, u32), &str, (u32, u32))] = &[
        ((400, 200), "crop-c0-25__0-75-350x350-70", (350, 350)),
        ((100, 50), "crop-c0-25__0-75-350x350-70", (350, 350)),
        ((200, 400), "crop-c0-25__0-75-350x350-70", (350, 350)),
        ((400, 200), "thumbnail-350x350-70", (350, 175)),
        ((100, 50), "thumbnail-350x350-70", (100, 50)),
        ((200, 400), "thumbnail-350x350-70", (175, 350)),
    ];
    for &((sw, sh), key, want) in table {
        let n = ok(&format!("__sized__/a-{key}.jpg"));
        let p = plan(sw, sh, &n.geometry);
        assert_eq!((p.out_width, p.out_height), want, "{sw}x{sh} {key}");
    }
}

#[test]
fn the_crop_window_is_the_libraries() {
    // The library: a 200-wide window of a 400x200 source, left edge at
    // int(400 * x) - 100, pushed inside.
    let table: &[(&str, u32)] = &[
        ("0-25", 0),
        ("0-5", 100),
        ("0-75", 200),
        ("0-6", 140),
        ("1-0", 200),
        ("0", 0),
    ];
    for &(x, left) in table {
        let n = ok(&format!("__sized__/a-crop-c{x}__0-5-350x350-70.jpg"));
        let p = plan(400, 200, &n.geometry);
        assert_eq!((p.region.width, p.region.height), (200, 200));
        assert_eq!(p.region.left, left, "x = {x}");
    }
    // Tall: a 200-high window of 200x400 around y = 0.75 (300): top 200.
    let n = ok("__sized__/a-crop-c0-5__0-75-350x350-70.jpg");
    assert_eq!(plan(200, 400, &n.geometry).region.top, 200);
}

#[test]
fn malformed_and_unreadable_names_are_refused() {
    let table: &[&str] = &[
        // No key, another sizer, a hashed post-processor.
        "__sized__/photos/gradient.jpg",
        "__sized__/photos/gradient-350x350-70.jpg",
        "__sized__/photos/gradient-scale-350x350-70.jpg",
        "__sized__/photos/gradient-crop-350x350-70.jpg",
        "__sized__/photos/5f9c4ab08cac7457e9111a30e4664920.jpg",
        "photos/__filtered__/gradient__invert__.jpg",
        // The quality: required for jpg/jpeg/webp, never for others.
        "__sized__/photos/gradient-thumbnail-350x350.jpg",
        "__sized__/photos/gradient-thumbnail-350x350.JPG",
        "__sized__/photos/gradient-thumbnail-350x350.webp",
        "__sized__/photos/gradient-thumbnail-350x350-70.png",
        "__sized__/photos/gradient-thumbnail-350x350-0.jpg",
        "__sized__/photos/gradient-thumbnail-350x350-101.jpg",
        "__sized__/photos/gradient-thumbnail-350x350-070.jpg",
        "__sized__/photos/gradient-thumbnail-350x350-.jpg",
        // Sizes.
        "__sized__/photos/gradient-thumbnail-0x350-70.jpg",
        "__sized__/photos/gradient-thumbnail-350x0-70.jpg",
        "__sized__/photos/gradient-thumbnail-350-70.jpg",
        "__sized__/photos/gradient-thumbnail-65536x1-70.jpg",
        "__sized__/photos/gradient-thumbnail-99999999999999999999x1-70.jpg",
        "__sized__/photos/gradient-thumbnail-350X350-70.jpg",
        // Points of interest.
        "__sized__/photos/gradient-crop-c0-5-350x350-70.jpg",
        "__sized__/photos/gradient-crop-c0-5__-350x350-70.jpg",
        "__sized__/photos/gradient-crop-c__0-5-350x350-70.jpg",
        "__sized__/photos/gradient-crop-c1-5__0-5-350x350-70.jpg",
        "__sized__/photos/gradient-crop-c2__0-5-350x350-70.jpg",
        "__sized__/photos/gradient-crop-c0-__0-5-350x350-70.jpg",
        "__sized__/photos/gradient-crop-c1e-05__0-5-350x350-70.jpg",
        "__sized__/photos/gradient-crop-c0-123456789012345678__0-5-350x350-70.jpg",
        // No original name, no extension.
        "__sized__/photos/-thumbnail-350x350-70.jpg",
        "__sized__/photos/-crop-c0-5__0-5-350x350-70.jpg",
        "__sized__/photos/gradient-thumbnail-350x350-70",
        "__sized__/photos/gradient-thumbnail-350x350-70.",
        // Paths.
        "__sized__/../gradient-thumbnail-350x350-70.jpg",
        "../__sized__/gradient-thumbnail-350x350-70.jpg",
        "__sized__//gradient-thumbnail-350x350-70.jpg",
        "__sized__/./gradient-thumbnail-350x350-70.jpg",
        "__sized__/a\0-thumbnail-350x350-70.jpg",
        "",
        "/",
        "__sized__/",
    ];
    for name in table {
        let err = parse(name.as_bytes()).expect_err(name);
        assert_eq!(err.class(), ErrorClass::BadRequest, "{name:?}");
        assert!(
            err.to_string()
                .starts_with("not a versatileimagefield name"),
            "{err}"
        );
    }
}

#[test]
fn only_the_first_sized_directory_goes() {
    let n = ok("a/__sized__/b/__sized__/c-thumbnail-1x1.png");
    assert_eq!(n.original, b"a/b/__sized__/c.png");
    let n = ok("__sized__x/c-thumbnail-1x1.png");
    assert_eq!(n.original, b"__sized__x/c.png");
}
