//! How much memory making a thumbnail will take at its peak, estimated from
//! the header alone, so the caller can admit the job against a budget before
//! any pixel is decoded.
//!
//! The figure follows the pipeline's own buffers: the input, the decoded
//! bitmap at the shrink-on-load scale (RGBA8), a second one when orientation
//! has to transpose it, the resized output, its copies (a turn or flip, a
//! blur's scratch, sharpening, flattening) and the encoder's buffer, plus a
//! progressive JPEG's whole-image coefficient buffers, which libjpeg keeps at
//! full size whatever the output scale. It errs high.

use crate::cache::decode_cache::{decode_shrink, SiblingSizes};
use crate::error::Error;
use crate::format::ImageFormat;
use crate::job::{Flip, Job, OutputFormat, Rotation};
use crate::pipeline::Source;

/// Bytes per decoded pixel (RGBA8).
const BYTES_PER_PIXEL: u64 = 4;

/// Fixed cost of a job besides pixels: decoder state, tables, the encoded
/// output.
const BASE: u64 = 2 * 1024 * 1024;

/// Peak bytes `make_thumbnail(input, job)` may hold, or the decode cache's
/// `make_thumbnail` when it decodes for `siblings` too; the same errors it
/// would give for the header (unsupported, over a limit). `head` is the
/// original's first bytes (or all of it) and `source_len` its size, so the
/// estimate can be made before the whole original is read; an error when
/// the header lies beyond `head`.
pub fn estimate_peak_memory(
    head: &[u8],
    source_len: u64,
    job: &Job,
    siblings: SiblingSizes<'_>,
) -> Result<u64, Error> {
    let source = Source::inspect_head(head, source_len, job)?;
    let plan = source.plan(&job.geometry, &job.limits)?;
    if source.header.frames > 1 {
        let blur = job.adjust.blur.is_some();
        return Ok(crate::animation::estimate_peak_memory(
            &source, source_len, &plan, blur,
        ));
    }
    let (format, header) = (source.format, source.header);
    let shrink = if format == ImageFormat::Jpeg {
        u64::from(decode_shrink(&source, job, siblings).min(plan.shrink_on_load()))
    } else {
        1
    };
    let decoded = u64::from(header.width).div_ceil(shrink)
        * u64::from(header.height).div_ceil(shrink)
        * BYTES_PER_PIXEL;
    // A pad canvas is the largest output buffer when there is one.
    let (out_w, out_h) = plan.final_size();
    let output = u64::from(out_w) * u64::from(out_h) * BYTES_PER_PIXEL;
    // Progressive JPEGs buffer every DCT coefficient of the whole image:
    // 2 bytes each, 1.5 components per pixel at 4:2:0 (3 at 4:4:4, rare in
    // photos; 2 per pixel covers 4:2:2 too). Baseline ones decode a row of
    // blocks at a time.
    let coefficients = if format == ImageFormat::Jpeg && is_progressive_jpeg(head) {
        u64::from(header.width) * u64::from(header.height) * 4
    } else {
        0
    };
    // A palette output (PNG or GIF sources, GIF output) quantises from an
    // RGBA copy and keeps an index per pixel.
    let palette = if matches!(format, ImageFormat::Png | ImageFormat::Gif)
        || job.encode.format == OutputFormat::Gif
    {
        u64::from(out_w) * u64::from(out_h) * 5
    } else {
        0
    };
    // A turn or flip copies the finished image; the blur keeps two f32
    // copies of the resized one (4 bytes a sample); libgd's sharpen and
    // flattening one more copy at most.
    let g = &job.geometry;
    let turned = if (g.rotate, g.flip) != (Rotation::None, Flip::None) {
        output
    } else {
        0
    };
    let resized = u64::from(plan.out_width) * u64::from(plan.out_height) * BYTES_PER_PIXEL;
    let blur = if job.adjust.blur.is_some() {
        2 * 4 * resized
    } else {
        0
    };
    let (transposed_w, _) = header.orientation.upright_size(1, 2);
    let copies = if transposed_w == 2 { 2 } else { 1 };
    // jxl-oxide renders from 32-bit float planes; its allocation budget is
    // the bound.
    // libavif keeps the AV1 decoder's YUV planes (up to 16 bits a sample at
    // 4:4:4: 6 bytes a pixel) while it converts them to RGB.
    let renderer = match format {
        ImageFormat::Jxl => {
            u64::from(header.width)
                * u64::from(header.height)
                * crate::format::jxl::WORK_BYTES_PER_PIXEL
        }
        ImageFormat::Avif => u64::from(header.width) * u64::from(header.height) * 6,
        ImageFormat::Heic => {
            u64::from(header.width)
                * u64::from(header.height)
                * crate::format::heic::WORK_BYTES_PER_PIXEL
        }
        _ => 0,
    };
    // libaom keeps its own YUV copies, lookahead and tables: measured at 10
    // MiB for 512x512 and 32 MiB for 1500x1000 (speed 8, one thread).
    let av1_encoder = if job.encode.format == OutputFormat::Avif {
        8 * 1024 * 1024 + u64::from(out_w) * u64::from(out_h) * 16
    } else {
        0
    };
    Ok(BASE
        + source_len
        + copies * decoded
        + 3 * output
        + turned
        + blur
        + palette
        + coefficients
        + renderer
        + av1_encoder)
}

/// Whether the frame header before the first scan is a progressive one
/// (SOF2, SOF6, SOF10, SOF14).
fn is_progressive_jpeg(data: &[u8]) -> bool {
    let mut at = 2;
    while at + 4 <= data.len() {
        if data[at] != 0xFF {
            return false;
        }
        let marker = data[at + 1];
        match marker {
            // Fill bytes before a marker.
            0xFF => {
                at += 1;
                continue;
            }
            0xC2 | 0xC6 | 0xCA | 0xCE => return true,
            0xC0 | 0xC1 | 0xC3 | 0xC5 | 0xC7 | 0xC9 | 0xCB | 0xCD | 0xCF | 0xDA => return false,
            _ => {}
        }
        let length = usize::from(u16::from_be_bytes([data[at + 2], data[at + 3]]));
        at += 2 + length;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::Fit;

    fn job(width: u32, height: u32) -> Job {
        Job::sized(Some(width), Some(height), Fit::Fit, OutputFormat::Original)
    }

    /// The estimate from the whole original, for no sibling sizes.
    fn estimate_whole(image: &[u8], job: &Job) -> Result<u64, Error> {
        estimate_peak_memory(image, image.len() as u64, job, &[])
    }

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let encoder = image::codecs::png::PngEncoder::new(&mut out);
        image::ImageEncoder::write_image(
            encoder,
            &vec![0u8; (width * height * 4) as usize],
            width,
            height,
            image::ExtendedColorType::Rgba8,
        )
        .unwrap();
        out
    }

    #[test]
    fn grows_with_the_source_and_covers_the_decoded_bitmap() {
        let small = estimate_whole(&png(100, 100), &job(50, 50)).unwrap();
        let large = estimate_whole(&png(1000, 1000), &job(50, 50)).unwrap();
        assert!(large > small);
        // At least the full-size RGBA bitmap a PNG decodes to.
        assert!(large >= 1000 * 1000 * 4, "{large}");
    }

    #[test]
    fn turns_and_blur_are_counted() {
        let image = png(1000, 800);
        let plain = estimate_whole(&image, &job(400, 400)).unwrap();
        let mut turned = job(400, 400);
        turned.geometry.rotate = Rotation::Ccw90;
        let turned = estimate_whole(&image, &turned).unwrap();
        // At least the 400x320 RGBA copy.
        assert!(turned >= plain + 400 * 320 * 4, "{turned} vs {plain}");
        let mut blurred = job(400, 400);
        blurred.adjust.blur = Some(20);
        let blurred = estimate_whole(&image, &blurred).unwrap();
        // Two f32 copies of the 400x320 RGBA image.
        assert!(
            blurred >= plain + 2 * 400 * 320 * 16,
            "{blurred} vs {plain}"
        );
    }

    #[test]
    fn the_av1_encoder_is_counted() {
        let image = png(1000, 800);
        let plain = estimate_whole(&image, &job(400, 400)).unwrap();
        let mut avif = job(400, 400);
        avif.encode.format = OutputFormat::Avif;
        let avif = estimate_whole(&image, &avif).unwrap();
        // libaom's measured 10 MiB at 512x512, scaled down to 400x320.
        assert!(
            avif >= plain + 8 * 1024 * 1024 + 400 * 320 * 16,
            "{avif} vs {plain}"
        );
    }

    #[test]
    fn the_first_bytes_are_enough() {
        let image = png(300, 200);
        let len = image.len() as u64;
        let whole = estimate_whole(&image, &job(50, 50)).unwrap();
        let head = estimate_peak_memory(&image[..64], len, &job(50, 50), &[]).unwrap();
        assert_eq!(head, whole);
        // The size limit holds for the whole original, not the head.
        let mut tight = job(50, 50);
        tight.limits.max_source_size = 100;
        assert!(estimate_peak_memory(&image[..64], len, &tight, &[]).is_err());
    }

    #[test]
    fn tells_progressive_from_baseline_jpeg() {
        // SOI, APP0 (length 4), then SOF0 or SOF2.
        let baseline = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC0, 0, 2];
        let progressive = [0xFF, 0xD8, 0xFF, 0xE0, 0, 4, 0, 0, 0xFF, 0xC2, 0, 2];
        assert!(!is_progressive_jpeg(&baseline));
        assert!(is_progressive_jpeg(&progressive));
        assert!(!is_progressive_jpeg(&[0xFF, 0xD8]));
    }

    #[test]
    fn refuses_what_the_pipeline_refuses() {
        assert!(estimate_peak_memory(b"not an image", 12, &job(10, 10), &[]).is_err());
        let mut tight = job(10, 10);
        tight.limits.max_pixels = 100;
        let err = estimate_whole(&png(20, 20), &tight).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::TooLarge);
    }
}
