//! libavif binding checks: every AVIF of the shared corpus against its
//! manifest line (size, alpha, frames as Pillow read them), the limits
//! refusing before decoding, the irot/imir mapping against pixels, and
//! encode/decode round trips within a tolerance.

use std::path::PathBuf;

use super::*;

/// `../shared/corpus` beside the workspace, or `None` (with a note) when it
/// is absent; its absence fails the test when `CI` is set.
fn corpus_dir() -> Option<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if !dir.join("MANIFEST.tsv").is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "shared test data not found at {} (required when CI is set)",
            dir.display()
        );
        eprintln!("SKIPPED: shared test data not found at {}", dir.display());
        return None;
    }
    Some(dir)
}

fn corpus_file(rel: &str) -> Option<Vec<u8>> {
    let path = corpus_dir()?.join(rel);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// One manifest line about an AVIF: path, expectation, and Pillow's
/// reading (`OK AVIF 512x256 RGBA frames=1` or `ERR ...`).
struct ManifestEntry {
    path: String,
    expect: String,
    pillow: String,
}

fn avif_manifest(dir: &std::path::Path) -> Vec<ManifestEntry> {
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("manifest readable");
    let mut lines = text.lines();
    let columns: Vec<&str> = lines.next().expect("header line").split('\t').collect();
    let col = |name: &str| columns.iter().position(|c| *c == name).expect(name);
    let (path, expect, pillow) = (col("path"), col("expect"), col("pillow13_reference"));
    let mut seen = std::collections::BTreeSet::new();
    lines
        .map(|l| l.split('\t').collect::<Vec<_>>())
        .filter(|f| f[path].ends_with(".avif") && seen.insert(f[path].to_string()))
        .map(|f| ManifestEntry {
            path: f[path].to_string(),
            expect: f[expect].to_string(),
            pillow: f[pillow].to_string(),
        })
        .collect()
}

/// Rearranges tightly packed pixels the way a viewer shows an image with
/// this EXIF orientation; returns the shown width and height too.
fn apply_orientation(
    pixels: &[u8],
    width: u32,
    height: u32,
    channels: usize,
    orientation: u8,
) -> (Vec<u8>, u32, u32) {
    let (w, h) = (width as usize, height as usize);
    let swap = orientation >= 5;
    let (ow, oh) = if swap { (h, w) } else { (w, h) };
    let mut out = vec![0u8; pixels.len()];
    for y in 0..oh {
        for x in 0..ow {
            // Source coordinates of the shown pixel (x, y).
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                8 => (w - 1 - y, x),
                _ => (x, y),
            };
            let s = (sy * w + sx) * channels;
            let d = (y * ow + x) * channels;
            out[d..d + channels].copy_from_slice(&pixels[s..s + channels]);
        }
    }
    (out, ow as u32, oh as u32)
}

fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| u64::from(x.abs_diff(y)))
        .sum();
    sum as f64 / a.len() as f64
}

#[test]
fn corpus_avif_files_decode_or_are_refused_as_the_manifest_says() {
    let Some(dir) = corpus_dir() else { return };
    let entries = avif_manifest(&dir);
    assert!(entries.len() >= 24, "only {} AVIF entries", entries.len());
    let limits = DecodeLimits {
        max_pixels: 50_000_000,
        threads: 1,
    };
    let mut decoded = 0;
    for entry in &entries {
        let data = std::fs::read(dir.join(&entry.path)).expect("corpus file readable");
        let result = decode(&data, &limits);
        match entry.expect.as_str() {
            "decode" => {
                let image = result.unwrap_or_else(|e| panic!("{}: {e}", entry.path));
                // Pillow reports the coded size (it leaves irot to
                // exif_transpose) and the mode.
                let want: Vec<&str> = entry.pillow.split(' ').collect();
                assert_eq!(want[0], "OK", "{}", entry.path);
                let (w, h) = (image.width, image.height);
                assert_eq!(format!("{w}x{h}"), want[2], "{}", entry.path);
                assert_eq!(image.has_alpha, want[3] == "RGBA", "{}", entry.path);
                assert_eq!(
                    format!("frames={}", image.header.frame_count),
                    want[4],
                    "{}",
                    entry.path
                );
                let channels = if image.has_alpha { 4 } else { 3 };
                assert_eq!(
                    image.pixels.len(),
                    image.width as usize * image.height as usize * channels
                );
                decoded += 1;
            }
            "reject" => {
                let e = result.expect_err(&entry.path);
                assert_eq!(e.kind, AvifErrorKind::Invalid, "{}: {e}", entry.path);
            }
            "limit" => {
                let e = result.expect_err(&entry.path);
                assert_eq!(e.kind, AvifErrorKind::TooLarge, "{}: {e}", entry.path);
            }
            // Files libavif may take or refuse: either way, no crash and,
            // when taken, a buffer that matches its size.
            _ => {
                if let Ok(image) = result {
                    let channels = if image.has_alpha { 4 } else { 3 };
                    assert_eq!(
                        image.pixels.len(),
                        image.width as usize * image.height as usize * channels
                    );
                }
            }
        }
    }
    assert!(decoded >= 20, "only {decoded} files decoded");
}

#[test]
fn header_reports_depth_alpha_frames_and_colour() {
    let Some(hdr10) = corpus_file("valid/avif/colors_hdr_rec2020.avif") else {
        return;
    };
    let header = read_header(&hdr10).unwrap();
    assert_eq!((header.width, header.height, header.depth), (200, 200, 10));
    assert!(!header.cicp.is_srgb_like(), "{:?}", header.cicp);

    let twelve = corpus_file("valid/avif/weld_sato_12B_8B_q0.avif").unwrap();
    assert_eq!(read_header(&twelve).unwrap().depth, 12);

    let alpha = corpus_file("valid/avif/transparency.avif").unwrap();
    let header = read_header(&alpha).unwrap();
    assert!(header.has_alpha);
    assert_eq!(header.frame_count, 1);

    let animated = corpus_file("valid/avif/colors-animated-8bpc.avif").unwrap();
    let header = read_header(&animated).unwrap();
    assert_eq!((header.width, header.height), (150, 150));
    assert_eq!(header.frame_count, 5);

    let icc = corpus_file("valid/avif/icc_profile.avif").unwrap();
    let profile = read_header(&icc).unwrap().icc.expect("icc profile present");
    assert_eq!(&profile[36..40], b"acsp", "an ICC profile signature");
    let none = corpus_file("valid/avif/icc_profile_none.avif").unwrap();
    assert_eq!(read_header(&none).unwrap().icc, None);
}

/// 10- and 12-bit samples are scaled down, not cut to their low 8 bits:
/// cut samples would wrap around and make neighbours jump.
#[test]
fn deep_samples_decode_to_smooth_eight_bit() {
    let Some(dir) = corpus_dir() else { return };
    for name in ["colors_hdr_rec2020.avif", "weld_sato_12B_8B_q0.avif"] {
        let data = std::fs::read(dir.join("valid/avif").join(name)).unwrap();
        let image = decode(&data, &DecodeLimits::default()).unwrap();
        assert!(image.header.depth > 8, "{name}");
        let p = &image.pixels;
        let neighbour = mean_abs_diff(&p[3..], &p[..p.len() - 3]);
        assert!(
            neighbour < 3.0,
            "{name}: neighbours differ by {neighbour:.2}"
        );
        let (min, max) = p
            .iter()
            .fold((255u8, 0u8), |(lo, hi), &v| (lo.min(v), hi.max(v)));
        assert!(max - min > 60, "{name}: range {min}..{max}");
    }
}

#[test]
fn alpha_survives_decode() {
    let Some(data) = corpus_file("valid/avif/transparency.avif") else {
        return;
    };
    let image = decode(&data, &DecodeLimits::default()).unwrap();
    assert!(image.has_alpha);
    let alphas: Vec<u8> = image.pixels.chunks_exact(4).map(|p| p[3]).collect();
    assert!(alphas.contains(&0), "some pixel fully transparent");
    assert!(alphas.contains(&255), "some pixel opaque");
}

#[test]
fn size_is_refused_before_decoding() {
    let Some(bomb) = corpus_file("invalid/bombs/gen_avif_ispe_65535x65535_from_hopper.avif") else {
        return;
    };
    // Past libavif's own ceiling (16384² pixels) the container parse itself
    // refuses; that must still read as "too large", not "corrupt".
    for e in [
        read_header(&bomb).unwrap_err(),
        decode(&bomb, &DecodeLimits::default()).unwrap_err(),
    ] {
        assert_eq!(e.kind, AvifErrorKind::TooLarge, "{e}");
        assert!(e.message.contains("65535x65535"), "{e}");
    }

    let hopper = corpus_file("valid/avif/hopper.avif").unwrap();
    let tight = DecodeLimits {
        max_pixels: 128 * 128 - 1,
        threads: 1,
    };
    let e = decode(&hopper, &tight).unwrap_err();
    assert_eq!(e.kind, AvifErrorKind::TooLarge, "{e}");
    let exact = DecodeLimits {
        max_pixels: 128 * 128,
        threads: 1,
    };
    assert_eq!(decode(&hopper, &exact).unwrap().width, 128);
}

#[test]
fn garbage_and_truncation_are_invalid() {
    for bytes in [
        &b""[..],
        b"\0\0\0\x1cftypavif\0\0\0\0avifmif1",
        b"not an image",
    ] {
        let e = read_header(bytes).unwrap_err();
        assert_eq!(e.kind, AvifErrorKind::Invalid, "{e}");
    }
    let Some(hopper) = corpus_file("valid/avif/hopper.avif") else {
        return;
    };
    let e = decode(&hopper[..hopper.len() - 200], &DecodeLimits::default()).unwrap_err();
    assert_eq!(e.kind, AvifErrorKind::Invalid, "{e}");
}

#[test]
fn exif_orientation_table() {
    assert_eq!(exif_orientation(0, None), 1);
    assert_eq!(exif_orientation(1, None), 8);
    assert_eq!(exif_orientation(2, None), 3);
    assert_eq!(exif_orientation(3, None), 6);
    assert_eq!(exif_orientation(0, Some(1)), 2);
    assert_eq!(exif_orientation(0, Some(0)), 4);
    assert_eq!(exif_orientation(2, Some(1)), 4);
    assert_eq!(exif_orientation(2, Some(0)), 2);
    assert_eq!(exif_orientation(1, Some(0)), 5);
    assert_eq!(exif_orientation(3, Some(1)), 5);
    assert_eq!(exif_orientation(1, Some(1)), 7);
    assert_eq!(exif_orientation(3, Some(0)), 7);
}

/// The eight rotNmirM files of Pillow's tests store one picture eight ways.
/// Shown with the orientation we derive, each must match the reference
/// (rot0mir0, itself mirrored) up to coding noise, and clearly better than
/// with any other orientation of the same shape (the next best is a mirror
/// image, about 39 levels off on average).
#[test]
fn irot_and_imir_show_the_same_picture() {
    let Some(dir) = corpus_dir() else { return };
    let load = |name: &str| {
        let data = std::fs::read(dir.join("valid/avif").join(name)).unwrap();
        decode(&data, &DecodeLimits::default()).unwrap()
    };
    let reference = load("rot0mir0.avif");
    let (reference, rw, rh) = apply_orientation(
        &reference.pixels,
        reference.width,
        reference.height,
        3,
        reference.header.exif_orientation,
    );
    let mut orientations = std::collections::BTreeSet::new();
    for rot in 0..4 {
        for mir in 0..2 {
            let name = format!("rot{rot}mir{mir}.avif");
            let image = load(&name);
            let ours = image.header.exif_orientation;
            orientations.insert(ours);
            for o in 1..=8 {
                let (pixels, w, h) =
                    apply_orientation(&image.pixels, image.width, image.height, 3, o);
                if (w, h) != (rw, rh) {
                    continue;
                }
                let diff = mean_abs_diff(&pixels, &reference);
                if o == ours {
                    assert!(diff < 15.0, "{name} (orientation {o}) differs by {diff:.1}");
                } else {
                    assert!(
                        diff > 30.0,
                        "{name} also matches orientation {o} ({diff:.1})"
                    );
                }
            }
        }
    }
    // Each file has an imir, and a half turn plus a flip is the other flip,
    // so the eight files take four distinct orientations.
    assert_eq!(orientations.len(), 4, "{orientations:?}");
}

/// A smooth test card: gradients in each channel, so a coder's error stays
/// small and a channel mix-up does not.
fn test_card(width: u32, height: u32, layout: PixelLayout) -> Vec<u8> {
    let mut out = Vec::new();
    for y in 0..height {
        for x in 0..width {
            out.push((x * 255 / (width - 1)) as u8);
            out.push((y * 255 / (height - 1)) as u8);
            out.push(((x + y) * 255 / (width + height - 2)) as u8);
            if layout == PixelLayout::Rgba {
                out.push(if x < width / 4 { 0 } else { 255 });
            }
        }
    }
    out
}

#[test]
fn rgb_round_trip_stays_within_tolerance() {
    let (w, h) = (96, 64);
    let card = test_card(w, h, PixelLayout::Rgb);
    let settings = EncodeSettings {
        quality: 80,
        speed: 8,
        threads: 1,
    };
    let bytes = encode(&card, PixelLayout::Rgb, w, h, &settings).unwrap();
    assert!(
        bytes.len() > 100 && bytes.len() < card.len() / 4,
        "{}",
        bytes.len()
    );
    let header = read_header(&bytes).unwrap();
    assert_eq!((header.width, header.height, header.depth), (w, h, 8));
    assert!(!header.has_alpha);
    assert!(header.cicp.is_srgb_like());
    let back = decode(&bytes, &DecodeLimits::default()).unwrap();
    assert!(!back.has_alpha);
    let diff = mean_abs_diff(&back.pixels, &card);
    assert!(diff < 2.5, "mean difference {diff:.2}");
}

#[test]
fn rgba_round_trip_keeps_alpha() {
    let (w, h) = (64, 64);
    let card = test_card(w, h, PixelLayout::Rgba);
    let settings = EncodeSettings {
        quality: 70,
        speed: 9,
        threads: 1,
    };
    let bytes = encode(&card, PixelLayout::Rgba, w, h, &settings).unwrap();
    let back = decode(&bytes, &DecodeLimits::default()).unwrap();
    assert!(back.has_alpha);
    for (got, want) in back.pixels.chunks_exact(4).zip(card.chunks_exact(4)) {
        assert!(
            got[3].abs_diff(want[3]) <= 8,
            "alpha {} vs {}",
            got[3],
            want[3]
        );
    }
}

#[test]
fn quality_orders_size_and_error() {
    let (w, h) = (128, 96);
    let card = test_card(w, h, PixelLayout::Rgb);
    let at = |quality| {
        let settings = EncodeSettings {
            quality,
            speed: 9,
            threads: 1,
        };
        let bytes = encode(&card, PixelLayout::Rgb, w, h, &settings).unwrap();
        let back = decode(&bytes, &DecodeLimits::default()).unwrap();
        (bytes.len(), mean_abs_diff(&back.pixels, &card))
    };
    let (low_len, low_err) = at(20);
    let (high_len, high_err) = at(90);
    assert!(low_len < high_len, "{low_len} vs {high_len}");
    assert!(low_err > high_err, "{low_err} vs {high_err}");
}

#[test]
fn encode_refuses_a_buffer_of_the_wrong_size() {
    let settings = EncodeSettings {
        quality: 60,
        speed: 9,
        threads: 1,
    };
    let e = encode(&[0; 11], PixelLayout::Rgb, 2, 2, &settings).unwrap_err();
    assert_eq!(e.kind, AvifErrorKind::Internal);
    let e = encode(&[], PixelLayout::Rgba, 0, 0, &settings).unwrap_err();
    assert_eq!(e.kind, AvifErrorKind::Internal);
}

#[test]
fn quality_maps_onto_the_quantizer_like_libavif() {
    assert_eq!(quantizer_for_quality(100), 0);
    assert_eq!(quantizer_for_quality(0), 63);
    assert_eq!(quantizer_for_quality(50), 32);
    assert_eq!(quantizer_for_quality(255), 0);
}
