//! End-to-end thumbnails of the real photographs in `../shared/photos/`:
//! sizes, formats, alpha, and agreement with a full-resolution reference.

mod common;

use common::{decode_rgba, psnr, read_shared, Rgba};
use thumbnailer::{make_thumbnail, ErrorClass, Fit, ImageFormat, Job, OutputFormat};

#[test]
fn dragonfly_fit_350_is_350x263_jpeg() {
    let Some(input) = read_shared("photos/dragonfly.jpg") else {
        return;
    };
    let t = make_thumbnail(
        &input,
        &Job::sized(Some(350), Some(350), Fit::Fit, OutputFormat::Original),
    )
    .unwrap();
    assert_eq!(t.format, ImageFormat::Jpeg);
    assert_eq!((t.width, t.height), (350, 263));
    let out = decode_rgba(&t.bytes);
    assert_eq!((out.width, out.height), (350, 263));
    let header = turbojpeg::read_header(&t.bytes).unwrap();
    assert_eq!(header.subsamp, turbojpeg::Subsamp::Sub2x2);
    assert!(!header.is_progressive);
}

/// Shrink-on-load must not cost visible quality: compare with a full-scale
/// decode resized by the same filter.
#[test]
fn dragonfly_shrink_on_load_matches_full_decode() {
    let Some(input) = read_shared("photos/dragonfly.jpg") else {
        return;
    };
    let t = make_thumbnail(
        &input,
        &Job::sized(Some(350), Some(350), Fit::Fit, OutputFormat::Png),
    )
    .unwrap();
    assert_eq!(t.format, ImageFormat::Png);
    let ours = decode_rgba(&t.bytes);

    let full = turbojpeg::decompress(&input, turbojpeg::PixelFormat::RGBA).unwrap();
    let src = fast_image_resize::images::ImageRef::new(
        full.width as u32,
        full.height as u32,
        &full.pixels,
        fast_image_resize::PixelType::U8x4,
    )
    .unwrap();
    let mut dst =
        fast_image_resize::images::Image::new(350, 263, fast_image_resize::PixelType::U8x4);
    fast_image_resize::Resizer::new()
        .resize(
            &src,
            &mut dst,
            &fast_image_resize::ResizeOptions::new().resize_alg(
                fast_image_resize::ResizeAlg::Convolution(fast_image_resize::FilterType::Lanczos3),
            ),
        )
        .unwrap();
    let reference = Rgba {
        width: 350,
        height: 263,
        data: dst.into_vec(),
    };
    let db = psnr(&ours, &reference);
    assert!(
        db > 35.0,
        "PSNR {db:.1} dB against a full-resolution resize"
    );
}

#[test]
fn dragonfly_crop_is_exactly_the_box() {
    let Some(input) = read_shared("photos/dragonfly.jpg") else {
        return;
    };
    let t = make_thumbnail(
        &input,
        &Job::sized(Some(200), Some(300), Fit::Crop, OutputFormat::Original),
    )
    .unwrap();
    assert_eq!((t.width, t.height), (200, 300));
    let out = decode_rgba(&t.bytes);
    assert_eq!((out.width, out.height), (200, 300));
}

#[test]
fn free_side_keeps_aspect() {
    let Some(input) = read_shared("photos/wine.jpg") else {
        return;
    };
    // 2560x3837 -> height 200 gives width round(2560*200/3837) = 133.
    let t = make_thumbnail(
        &input,
        &Job::sized(None, Some(200), Fit::Fit, OutputFormat::Original),
    )
    .unwrap();
    assert_eq!((t.width, t.height), (133, 200));
}

#[test]
fn gulp_png_keeps_alpha() {
    let Some(input) = read_shared("photos/gulp.png") else {
        return;
    };
    let t = make_thumbnail(
        &input,
        &Job::sized(Some(350), Some(350), Fit::Fit, OutputFormat::Original),
    )
    .unwrap();
    assert_eq!(t.format, ImageFormat::Png);
    assert_eq!((t.width, t.height), (350, 219)); // 1920x1200 -> 218.75
    let png = image::load_from_memory(&t.bytes).unwrap();
    assert!(
        png.color().has_alpha(),
        "alpha channel lost: {:?}",
        png.color()
    );
    let out = decode_rgba(&t.bytes);
    let min_alpha = out.data.chunks_exact(4).map(|p| p[3]).min().unwrap();
    assert!(min_alpha < 255, "source transparency lost");
}

#[test]
fn gulp_to_jpeg_is_flattened_on_the_background() {
    let Some(input) = read_shared("photos/gulp.png") else {
        return;
    };
    let t = make_thumbnail(
        &input,
        &Job::sized(Some(100), Some(100), Fit::Fit, OutputFormat::Jpeg),
    )
    .unwrap();
    assert_eq!(t.format, ImageFormat::Jpeg);
    assert_eq!(ImageFormat::sniff(&t.bytes), Some(ImageFormat::Jpeg));
    assert_eq!((t.width, t.height), (100, 63));
}

#[test]
fn small_limits_refuse_big_photos_before_decoding() {
    let Some(input) = read_shared("photos/kleiber.jpg") else {
        return;
    };
    let mut j = Job::sized(Some(350), Some(350), Fit::Fit, OutputFormat::Original);
    j.limits.max_pixels = 20_000_000; // kleiber is 6028x3391 = 20.4 Mpx
    let e = make_thumbnail(&input, &j).unwrap_err();
    assert_eq!(e.class(), ErrorClass::TooLarge);
    assert_eq!(
        e.to_string(),
        "image is 6028x3391, over the 20000000-pixel limit"
    );
    j.limits.max_pixels = 50_000_000;
    j.limits.max_source_size = 1_000_000;
    assert_eq!(
        make_thumbnail(&input, &j).unwrap_err().class(),
        ErrorClass::TooLarge
    );
}

#[test]
fn multiscan_optimised_huffman_jpeg_decodes_correctly() {
    let Some(input) = read_shared("corpus/valid/jpeg/gen_multiscan_opthuff_dragonfly.jpg") else {
        return;
    };
    let reference = decode_rgba(
        &read_shared("corpus/valid/jpeg/gen_multiscan_opthuff_dragonfly.reference.png").unwrap(),
    );
    // A box larger than the image: no resize, so the decode itself is compared.
    let t = make_thumbnail(
        &input,
        &Job::sized(Some(65535), Some(65535), Fit::Fit, OutputFormat::Png),
    )
    .unwrap();
    let ours = decode_rgba(&t.bytes);
    let db = psnr(&ours, &reference);
    // Decoders differ in IDCT and upsampling rounding (~33 dB here); the known
    // mis-decode this guards against scores about 6 dB.
    assert!(db > 30.0, "PSNR {db:.1} dB against the reference pixels");
}
