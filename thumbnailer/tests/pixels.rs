//! Pixel-level checks within tolerance: EXIF orientations come out upright,
//! CMYK matches its RGB twin, alpha edges keep their colour, and wide-gamut
//! sources are converted to sRGB.

mod common;

use common::{decode_rgba, psnr, read_shared, Rgba};
use image::ImageEncoder;
use thumbnailer::{make_thumbnail, Fit, ImageFormat, Job, OutputFormat};

/// Decoded pixels of the thumbnail `make_thumbnail` makes at `w`x`h`, lossless.
fn thumb(input: &[u8], w: u32, h: u32) -> Rgba {
    let t = make_thumbnail(
        input,
        &Job::sized(Some(w), Some(h), Fit::Fit, OutputFormat::Png),
    )
    .unwrap();
    assert_eq!(t.format, ImageFormat::Png);
    decode_rgba(&t.bytes)
}

fn mirrored(img: &Rgba) -> Rgba {
    let mut data = Vec::with_capacity(img.data.len());
    for y in 0..img.height {
        for x in (0..img.width).rev() {
            data.extend_from_slice(&img.pixel(x, y));
        }
    }
    Rgba {
        width: img.width,
        height: img.height,
        data,
    }
}

#[test]
fn recurser_landscapes_are_all_upright() {
    let Some(upright) = read_shared("corpus/valid/jpeg/exif-orientation/Landscape_1.jpg") else {
        return;
    };
    let reference = thumb(&upright, 300, 300);
    assert_eq!((reference.width, reference.height), (300, 200));
    // The check can tell a wrong orientation from a right one.
    assert!(psnr(&reference, &mirrored(&reference)) < 20.0);
    for n in [0, 2, 3, 4, 5, 6, 7, 8] {
        let path = format!("corpus/valid/jpeg/exif-orientation/Landscape_{n}.jpg");
        let out = thumb(&read_shared(&path).unwrap(), 300, 300);
        assert_eq!((out.width, out.height), (300, 200), "{path}");
        let db = psnr(&out, &reference);
        assert!(db > 25.0, "{path}: {db:.1} dB against Landscape_1");
    }
}

#[test]
fn hopper_orientations_are_upright_in_jpeg_and_webp() {
    for (dir, ext) in [("corpus/valid/jpeg", "jpg"), ("corpus/valid/webp", "webp")] {
        let Some(upright) = read_shared(&format!("{dir}/hopper.{ext}")) else {
            return;
        };
        let reference = thumb(&upright, 128, 128);
        assert!(psnr(&reference, &mirrored(&reference)) < 20.0);
        let sub = if ext == "jpg" {
            "/exif-orientation"
        } else {
            ""
        };
        for n in 2..=8 {
            let path = format!("{dir}{sub}/hopper_orientation_{n}.{ext}");
            let out = thumb(&read_shared(&path).unwrap(), 128, 128);
            let db = psnr(&out, &reference);
            assert!(db > 25.0, "{path}: {db:.1} dB against hopper.{ext}");
        }
    }
}

#[test]
fn adobe_cmyk_jpeg_matches_its_rgb_twin() {
    let Some(cmyk) = read_shared("corpus/valid/jpeg/pil_sample_cmyk.jpg") else {
        return;
    };
    let rgb = read_shared("corpus/valid/jpeg/pil_sample_rgb.jpg").unwrap();
    let a = thumb(&cmyk, 100, 100);
    let b = thumb(&rgb, 100, 100);
    let db = psnr(&a, &b);
    assert!(db > 25.0, "CMYK decode is {db:.1} dB from the RGB version");
    // Inverted (non-Adobe reading) CMYK would be a photographic negative.
    let mean_a = a.mean(0, 0, 100, 100);
    let mean_b = b.mean(0, 0, 100, 100);
    for c in 0..3 {
        assert!(
            (mean_a[c] - mean_b[c]).abs() < 8.0,
            "channel {c}: {mean_a:?} vs {mean_b:?}"
        );
    }
}

/// A white disc on fully transparent black: the classic dark-fringe trap for
/// resizers that filter straight (non-premultiplied) alpha.
#[test]
fn white_on_transparent_edge_has_no_dark_fringe() {
    let (w, h) = (400u32, 300u32);
    let mut px = Vec::with_capacity((w * h * 4) as usize);
    for y in 0..h {
        for x in 0..w {
            let (dx, dy) = (x as f64 - 200.0, y as f64 - 150.0);
            let inside = dx * dx + dy * dy < 100.0 * 100.0;
            px.extend_from_slice(if inside {
                &[255, 255, 255, 255]
            } else {
                &[0, 0, 0, 0]
            });
        }
    }
    let mut png = Vec::new();
    image::codecs::png::PngEncoder::new(&mut png)
        .write_image(&px, w, h, image::ExtendedColorType::Rgba8)
        .unwrap();
    let out = thumb(&png, 97, 97);
    assert_eq!((out.width, out.height), (97, 73));
    let mut edge = 0;
    for p in out.data.chunks_exact(4) {
        if p[3] > 0 {
            assert!(
                p[0] >= 250 && p[1] >= 250 && p[2] >= 250,
                "dark fringe: {p:?}"
            );
        }
        if p[3] > 0 && p[3] < 255 {
            edge += 1;
        }
    }
    assert!(
        edge > 20,
        "expected a soft edge, found {edge} partial pixels"
    );
    // Corners stay fully transparent.
    assert_eq!(out.pixel(0, 0)[3], 0);
}

/// sRGB value of a linear-light component.
fn srgb_encode(v: f64) -> f64 {
    let v = v.clamp(0.0, 1.0);
    255.0
        * if v <= 0.003_130_8 {
            12.92 * v
        } else {
            1.055 * v.powf(1.0 / 2.4) - 0.055
        }
}

fn srgb_decode(v: f64) -> f64 {
    let v = v / 255.0;
    if v <= 0.040_45 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

type Matrix = [[f64; 3]; 3];

/// Expected sRGB for a colour in a space given by its linearisation and its
/// RGB->XYZ (D65) matrix.
fn expected_srgb(rgb: [u8; 3], linear: impl Fn(f64) -> f64, to_xyz: Matrix) -> [f64; 3] {
    const XYZ_TO_SRGB: Matrix = [
        [3.240_454_2, -1.537_138_5, -0.498_531_4],
        [-0.969_266_0, 1.876_010_8, 0.041_556_0],
        [0.055_643_4, -0.204_025_9, 1.057_225_2],
    ];
    let lin = rgb.map(|v| linear(f64::from(v)));
    let xyz: Vec<f64> = to_xyz
        .iter()
        .map(|r| r[0] * lin[0] + r[1] * lin[1] + r[2] * lin[2])
        .collect();
    let out: Vec<f64> = XYZ_TO_SRGB
        .iter()
        .map(|r| r[0] * xyz[0] + r[1] * xyz[1] + r[2] * xyz[2])
        .collect();
    [
        srgb_encode(out[0]),
        srgb_encode(out[1]),
        srgb_encode(out[2]),
    ]
}

/// A flat PNG of `colour` carrying `icc`.
fn tagged_png(colour: [u8; 3], icc: Vec<u8>) -> Vec<u8> {
    let px: Vec<u8> = colour.repeat(32 * 32);
    let mut png = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut png);
    enc.set_icc_profile(icc).unwrap();
    enc.write_image(&px, 32, 32, image::ExtendedColorType::Rgb8)
        .unwrap();
    png
}

/// The same, as a JPEG with the profile in APP2.
fn tagged_jpeg(colour: [u8; 3], icc: &[u8]) -> Vec<u8> {
    let px: Vec<u8> = colour.repeat(32 * 32);
    let image = turbojpeg::Image {
        pixels: px.as_slice(),
        width: 32,
        pitch: 96,
        height: 32,
        format: turbojpeg::PixelFormat::RGB,
    };
    let plain = turbojpeg::compress(image, 100, turbojpeg::Subsamp::None).unwrap();
    let mut app2 = b"ICC_PROFILE\0\x01\x01".to_vec();
    app2.extend_from_slice(icc);
    let mut out = plain[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE2]);
    out.extend_from_slice(&((app2.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&app2);
    out.extend_from_slice(&plain[2..]);
    out
}

fn assert_close(got: [u8; 4], want: [f64; 3], tolerance: f64, what: &str) {
    for c in 0..3 {
        assert!(
            (f64::from(got[c]) - want[c]).abs() <= tolerance,
            "{what}: got {got:?}, want {want:?}"
        );
    }
}

#[test]
fn wide_gamut_sources_are_converted_to_srgb() {
    const ADOBE_TO_XYZ: Matrix = [
        [0.576_730_9, 0.185_554_0, 0.188_185_2],
        [0.297_376_9, 0.627_349_1, 0.075_274_1],
        [0.027_034_3, 0.070_687_2, 0.991_108_5],
    ];
    const P3_TO_XYZ: Matrix = [
        [0.486_570_9, 0.265_667_7, 0.198_217_3],
        [0.228_974_6, 0.691_738_5, 0.079_286_9],
        [0.0, 0.045_113_4, 1.043_944_4],
    ];
    let adobe_icc = moxcms::ColorProfile::new_adobe_rgb().encode().unwrap();
    let p3_icc = moxcms::ColorProfile::new_display_p3().encode().unwrap();
    let adobe_linear = |v: f64| (v / 255.0).powf(563.0 / 256.0);
    for colour in [[100u8, 150, 200], [200, 120, 60], [60, 160, 90]] {
        let want = expected_srgb(colour, adobe_linear, ADOBE_TO_XYZ);
        let png = thumb(&tagged_png(colour, adobe_icc.clone()), 16, 16);
        assert_close(png.pixel(8, 8), want, 3.0, "Adobe RGB PNG");
        let jpeg = thumb(&tagged_jpeg(colour, &adobe_icc), 16, 16);
        assert_close(jpeg.pixel(8, 8), want, 4.0, "Adobe RGB JPEG");

        let want = expected_srgb(colour, srgb_decode, P3_TO_XYZ);
        let png = thumb(&tagged_png(colour, p3_icc.clone()), 16, 16);
        assert_close(png.pixel(8, 8), want, 3.0, "Display P3 PNG");
        // The conversion really moved the colour (P3 and sRGB differ here).
        assert!(colour
            .iter()
            .zip(want)
            .any(|(&c, w)| (f64::from(c) - w).abs() > 5.0));
    }
}

#[test]
fn metadata_and_trailing_bytes_never_reach_the_output() {
    let Some(mut input) =
        read_shared("corpus/valid/jpeg/exif-orientation/hopper_orientation_6.jpg")
    else {
        return;
    };
    input.extend_from_slice(b"<html>PAYLOAD-CANARY</html>");
    for format in [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::Webp] {
        let t = make_thumbnail(&input, &Job::sized(Some(64), Some(64), Fit::Fit, format)).unwrap();
        let has = |needle: &[u8]| t.bytes.windows(needle.len()).any(|w| w == needle);
        assert!(!has(b"Exif"), "{format:?} output carries EXIF");
        assert!(
            !has(b"PAYLOAD-CANARY"),
            "{format:?} output carries the trailing payload"
        );
        assert!(
            !has(b"ICC_PROFILE") && !has(b"iCCP"),
            "{format:?} output carries a profile"
        );
    }
}
