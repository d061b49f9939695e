//! Every file of `../shared/corpus/` against the expectation its MANIFEST.tsv
//! gives: `decode` must succeed at the declared size (upright), `reject` and
//! `limit` must fail with a typed error (`limit` fast, from the header),
//! `bounded` must finish quickly either way, and each `either` file has one
//! pinned outcome below so behaviour changes are noticed.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::shared_dir;
use thumbnailer::{make_thumbnail, ErrorClass, Fit, Job, OutputFormat, Thumbnail};

/// Pinned outcome of each `either` file: `Ok` or the error class.
const EITHER_PINS: &[(&str, Option<ErrorClass>)] = &[
    ("invalid/avif/clap_irot_imir_non_essential.avif", None),
    ("invalid/avif/color_grid_gainmap_different_grid.avif", None),
    (
        "invalid/avif/draw_points_idat_metasize0.avif",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/avif/hopper-missing-pixi.avif", None),
    ("invalid/avif/poc_b_506387278.avif", None),
    ("invalid/avif/unsupported_gainmap_version.avif", None),
    (
        "invalid/bombs/gen_jpeg_sof_65500x1_from_testorig.jpg",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/bombs/gen_png_iccp_inflates_64MiB.png", None),
    ("invalid/bombs/gen_png_ztxt_inflates_64MiB.png", None),
    ("invalid/bombs/pillow_decompression_bomb_extents.gif", None),
    ("invalid/bombs/pillow_png_decompression_dos.png", None),
    ("invalid/gif/background_outside_palette.gif", None),
    ("invalid/gif/duplicate_frame.gif", None),
    ("invalid/gif/gen/frame_outside_screen.gif", None),
    (
        "invalid/gif/gen/no_trailer_truncated.gif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/gif/gen/screen_0x0.gif",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/gif/hopper_zero_comment_subblocks.gif", None),
    (
        "invalid/gif/issue-101-infinite-empty-loop.gif",
        Some(ErrorClass::TooLarge),
    ),
    (
        "invalid/gif/issue-117-out-of-range.gif",
        Some(ErrorClass::TooLarge),
    ),
    ("invalid/gif/issue-208-block-type-beta.gif", None),
    ("invalid/gif/issue-208-block-type.gif", None),
    (
        "invalid/gif/issue-209-extension-block-type.gif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/gif/issue-96-small-codesize-2.gif",
        Some(ErrorClass::TooLarge),
    ),
    (
        "invalid/gif/issue-96-small-codesize.gif",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/gif/issue_1455_oversized.gif", None),
    ("invalid/gif/issue_1455_undersized.gif", None),
    ("invalid/gif/missing_background.gif", None),
    ("invalid/gif/no_palette.gif", Some(ErrorClass::Unsupported)),
    ("invalid/gif/no_palette_after_rgb.gif", None),
    ("invalid/gif/oob.gif", None),
    (
        "invalid/gif/zero-loop-count.gif",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/gif/zero_width.gif", Some(ErrorClass::Unsupported)),
    (
        "invalid/jpeg/gen/garbage_after_sos.jpg",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/jpeg/gen/progressive_trunc_30pct.jpg",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/jpeg/gen/trunc_half.jpg",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/jpeg/gen/trunc_no_eoi.jpg", None),
    (
        "invalid/jpeg/jpeg_ff00_header.jpg",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/jpeg/junk_jpeg_header.jpg", None),
    ("invalid/jpeg/truncated_app14.jpg", None),
    ("invalid/jpeg/truncated_jpeg.jpg", None),
    (
        "invalid/jpeg/ultrahdr_truncated.jpg",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/nonimage/jpeg_content_named.png", None),
    ("invalid/nonimage/png_content_named.jpg", None),
    ("invalid/png/apng/chunk_actl_after_idat.png", None),
    ("invalid/png/apng/chunk_no_fdat.png", None),
    ("invalid/png/apng/delay_zero_denom.png", None),
    ("invalid/png/apng/sequence_gap.png", None),
    ("invalid/png/apng/split_fdat_zero_chunk.png", None),
    ("invalid/png/apng/syntax_num_frames_invalid.png", None),
    (
        "invalid/png/apng/syntax_num_frames_zero.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/fuzz/clusterfuzz-testcase-minimized-buf_independent-5790077345660928.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/fuzz/clusterfuzz-testcase-minimized-buf_independent-6611224761008128.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/fuzz/minimized-from-110a360793767757e44c9e4b95c495666e39e672.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/fuzz/minimized-from-32e60253faddfdf03b267e0b55c7b91a674d74bd.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/fuzz/minimized-from-a1a0f9ae81d63ecf08d1cd0efbc73e40e7909681.png",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/png/gen/idat_split_20000_empty_chunks.png", None),
    ("invalid/png/image-png/broken_iccp.png", None),
    ("invalid/png/image-png/cicp_pq_bad_ancillary_crc.png", None),
    ("invalid/png/image-png/invalid_palette_index.png", None),
    ("invalid/png/image-png/issue403.png", None),
    (
        "invalid/png/image-png/x_interlaced_chck.png",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/png/image-rs_issue2026.png", None),
    ("invalid/png/libpng-badpal/regression-palette-8.png", None),
    ("invalid/png/libpng-badpal/small-palette-1.png", None),
    ("invalid/png/libpng-badpal/test-palette-8.png", None),
    (
        "invalid/png/libpng-crashers/bad_iCCP.png",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/png/libpng-crashers/badadler.png", None),
    (
        "invalid/png/libpng-crashers/badcrc.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/empty_ancillary_chunks.png",
        None,
    ),
    (
        "invalid/png/libpng-crashers/huge_IDAT.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_bKGD_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_cHRM_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_eXIf_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_gAMA_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_hIST_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_iCCP_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_iTXt_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_juNK_unsafe_to_copy.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_juNk_safe_to_copy.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_pCAL_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_pHYs_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_sCAL_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_sPLT_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_sRGB_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_sTER_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_tEXt_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_tIME_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/libpng-crashers/huge_zTXt_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/png/pillow/hopper_idat_after_image_end.png", None),
    (
        "invalid/png/pillow/truncated_end_chunk.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/png/pillow/truncated_image.png",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/png/pillow/unknown_compression_method.png", None),
    (
        "invalid/png/pngsuite-x/xcsn0g01.png",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/clusterfuzz-tiff-5026894169374720.tif",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/tiff/cmyk_u8_trunc_case.tif", None),
    (
        "invalid/tiff/crash-0c7e0e8e11ce787078f00b5b0ca409a167f070e0.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/crash-0da013a13571cc8eb457a39fee8db18f8a3c7127.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/crash-0e16d3bfb83be87356d026d66919deaefca44dac.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/crash-1152ec2d1a1a71395b6f2ce6721c38924d025bf3.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/crash-1185209cf7655b5aed8ae5e77784dfdd18ab59e9.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/crash-2020-10-test.tif",
        Some(ErrorClass::TooLarge),
    ),
    (
        "invalid/tiff/crash-338516dbd2f0e83caddb8ce256c22db3bd6dc40f.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/crash-4f085cc12ece8cde18758d42608bed6a2a2cfb1c.tif",
        Some(ErrorClass::TooLarge),
    ),
    (
        "invalid/tiff/crash-63b1dffefc8c075ddc606c0a2f5fdc15ece78863.tif",
        Some(ErrorClass::TooLarge),
    ),
    (
        "invalid/tiff/crash-74d2a78403a5a59db1fb0a2b8735ac068a75f6e3.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/crash-86214e58da443d2b80820cff9677a38a33dcbbca.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/crash-f46f5b2f43c370fe65706c11449f567ecc345e74.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/hpredict_cmyk.tiff",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/libtiff_segfault.tif",
        Some(ErrorClass::TooLarge),
    ),
    (
        "invalid/tiff/seek_too_large.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/tiff_wrong_bits_per_sample.tiff",
        Some(ErrorClass::TooLarge),
    ),
    (
        "invalid/tiff/tiff_wrong_bits_per_sample_2.tiff",
        Some(ErrorClass::Unsupported),
    ),
    (
        "invalid/tiff/total-pages-zero.tif",
        Some(ErrorClass::Unsupported),
    ),
    ("invalid/webp/dark.webp", None),
    ("invalid/webp/gen/riff_size_ffffffff.webp", None),
    (
        "invalid/webp/gen/trunc_half.webp",
        Some(ErrorClass::Unsupported),
    ),
    ("valid/avif/alpha_noispe.avif", None),
    ("valid/jpeg/monkey12.jpg", Some(ErrorClass::Unsupported)),
    ("valid/jpeg/testimgari.jpg", None),
    (
        "valid/tiff/12bit.cropped.tif",
        Some(ErrorClass::Unsupported),
    ),
    ("valid/tiff/hopper_bigtiff.tif", None),
    ("valid/tiff/multipage.tiff", Some(ErrorClass::Unsupported)),
    ("valid/tiff/rgb32f_color.tiff", None),
    (
        "valid/tiff/tiff_tiled_ycbcr_jpeg_2x2_sampling.tif",
        Some(ErrorClass::Unsupported),
    ),
    (
        "valid/tiff/ycbcr_jpeg_8bit.tif",
        Some(ErrorClass::Unsupported),
    ),
];

/// `limit` files whose header is too broken to state a size: refused as
/// corrupt (still fast, still before allocating), not as too large.
const LIMIT_REFUSED_AS_CORRUPT: &[&str] = &[
    // 10x8 but 146 samples per pixel and a strip that is not there.
    "invalid/bombs/pillow_oom-225817ca.tif",
];

struct Row {
    path: String,
    expect: String,
    note: String,
    pillow: String,
}

fn manifest() -> Option<(std::path::PathBuf, Vec<Row>)> {
    let dir = shared_dir()?.join("corpus");
    let text = std::fs::read_to_string(dir.join("MANIFEST.tsv")).expect("manifest readable");
    let rows = text
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            let col = |i: usize| cols.get(i).copied().unwrap_or("").to_owned();
            Row {
                path: col(0),
                expect: col(3),
                note: col(6),
                pillow: col(7),
            }
        })
        .collect();
    Some((dir, rows))
}

/// "OK JPEG 256x160 RGB frames=1" -> (256, 160).
fn pillow_size(reference: &str) -> Option<(u32, u32)> {
    let dims = reference.strip_prefix("OK ")?.split_whitespace().nth(1)?;
    let (w, h) = dims.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

/// Files named for an EXIF orientation that swaps the sides (5..=8), whose
/// Pillow reference size is the stored one. (Pillow's libtiff path already
/// reports TIFFs upright, so those are not listed.)
fn named_as_transposed(path: &str) -> bool {
    if path.ends_with(".tif") {
        return false;
    }
    ["_5.", "_6.", "_7.", "_8."]
        .iter()
        .any(|s| path.contains(s))
        && path.contains("rientation")
        || ["Landscape_5", "Landscape_6", "Landscape_7", "Landscape_8"]
            .iter()
            .any(|s| path.contains(s))
}

/// Original size is kept (the box is the largest allowed), so the output
/// size is the upright decoded size.
fn full_size(input: &[u8]) -> Result<Thumbnail, thumbnailer::Error> {
    make_thumbnail(
        input,
        &Job::sized(Some(65535), Some(65535), Fit::Fit, OutputFormat::Png),
    )
}

fn small_crop(input: &[u8]) -> Result<Thumbnail, thumbnailer::Error> {
    make_thumbnail(
        input,
        &Job::sized(Some(64), Some(48), Fit::Crop, OutputFormat::Original),
    )
}

#[test]
fn corpus_matches_manifest() {
    let Some((dir, rows)) = manifest() else {
        return;
    };
    let pins: HashMap<&str, Option<ErrorClass>> = EITHER_PINS.iter().copied().collect();
    let mut failures = Vec::new();
    let mut unpinned = Vec::new();
    let mut counted: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        let path = dir.join(&row.path);
        let input = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let started = Instant::now();
        let result = full_size(&input);
        let elapsed = started.elapsed();
        *counted.entry(row.expect.clone()).or_default() += 1;
        match row.expect.as_str() {
            "decode" => match &result {
                Ok(t) => {
                    if let Some((w, h)) = pillow_size(&row.pillow) {
                        let want = if named_as_transposed(&row.path) {
                            (h, w)
                        } else {
                            (w, h)
                        };
                        let ok = (t.width, t.height) == want
                            || (!named_as_transposed(&row.path) && (t.width, t.height) == (h, w));
                        if !ok {
                            failures.push(format!(
                                "{}: {}x{}, want {}x{}",
                                row.path, t.width, t.height, want.0, want.1
                            ));
                        }
                    }
                    match small_crop(&input) {
                        Ok(s) => {
                            let (fw, fh) = (t.width, t.height);
                            if (s.width, s.height) != (64.min(fw), 48.min(fh)) {
                                failures.push(format!(
                                    "{}: crop gave {}x{}",
                                    row.path, s.width, s.height
                                ));
                            }
                        }
                        Err(e) => failures.push(format!("{}: crop failed: {e}", row.path)),
                    }
                }
                Err(e) => failures.push(format!(
                    "{}: decode failed ({:?}): {e} [{}]",
                    row.path,
                    e.class(),
                    row.note
                )),
            },
            "reject" => match &result {
                Err(e) if matches!(e.class(), ErrorClass::Unsupported | ErrorClass::TooLarge) => {}
                other => failures.push(format!(
                    "{}: should be rejected, got {:?}",
                    row.path,
                    other
                        .as_ref()
                        .map(|t| (t.width, t.height))
                        .map_err(|e| e.to_string())
                )),
            },
            "limit" => {
                match &result {
                    Err(e) if e.class() == ErrorClass::TooLarge => {}
                    Err(e)
                        if e.class() == ErrorClass::Unsupported
                            && LIMIT_REFUSED_AS_CORRUPT.contains(&row.path.as_str()) => {}
                    other => failures.push(format!(
                        "{}: should hit a limit, got {:?}",
                        row.path,
                        other
                            .as_ref()
                            .map(|t| (t.width, t.height))
                            .map_err(|e| format!("{:?} {e}", e.class()))
                    )),
                }
                if elapsed > Duration::from_millis(100) {
                    failures.push(format!("{}: limit refusal took {elapsed:?}", row.path));
                }
            }
            "bounded" => {
                if let Err(e) = &result {
                    if !matches!(e.class(), ErrorClass::Unsupported | ErrorClass::TooLarge) {
                        failures.push(format!(
                            "{}: bounded input gave {:?}: {e}",
                            row.path,
                            e.class()
                        ));
                    }
                }
                if elapsed > Duration::from_secs(2) {
                    failures.push(format!("{}: bounded input took {elapsed:?}", row.path));
                }
            }
            "either" => {
                let got = result.as_ref().err().map(|e| e.class());
                if got == Some(ErrorClass::Internal) {
                    failures.push(format!(
                        "{}: internal error: {}",
                        row.path,
                        result.as_ref().unwrap_err()
                    ));
                }
                match pins.get(row.path.as_str()) {
                    Some(want) if *want == got => {}
                    Some(want) => failures.push(format!(
                        "{}: pinned {want:?}, got {got:?} ({:?})",
                        row.path,
                        result.as_ref().err().map(ToString::to_string)
                    )),
                    None => unpinned.push(format!(
                        "    (\"{}\", {}),",
                        row.path,
                        got.map_or("None".to_owned(), |c| format!("Some(ErrorClass::{c:?})"))
                    )),
                }
                if elapsed > Duration::from_secs(2) {
                    failures.push(format!("{}: either input took {elapsed:?}", row.path));
                }
            }
            "n/a" => {}
            other => failures.push(format!("{}: unknown expectation {other:?}", row.path)),
        }
    }
    assert!(
        failures.is_empty() && unpinned.is_empty(),
        "{} corpus failures:\n{}\nunpinned `either` files:\n{}",
        failures.len(),
        failures.join("\n"),
        unpinned.join("\n")
    );
    // The manifest really was read: every class of expectation was exercised.
    for class in ["decode", "reject", "limit", "bounded", "either"] {
        assert!(
            counted.get(class).copied().unwrap_or(0) > 0,
            "no `{class}` rows"
        );
    }
}
