//! PNG out: truecolour through `image`, or indexed (colour type 3, packed
//! to the fewest bits) from `format::palette` for a palette source.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::palette;

pub(crate) fn encode_png(bitmap: Bitmap) -> Result<Vec<u8>, Error> {
    let colour = match bitmap.layout {
        Layout::Gray => ExtendedColorType::L8,
        Layout::Rgb => ExtendedColorType::Rgb8,
        Layout::Rgba => ExtendedColorType::Rgba8,
    };
    let mut out = Vec::new();
    // Fast deflate: thumbnails are small and served from cache; the level
    // matters far less than latency.
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(&bitmap.data, bitmap.width, bitmap.height, colour)
        .map_err(|e| Error::internal(format!("png encode failed: {e}")))?;
    Ok(out)
}

pub(crate) fn encode_png_indexed(bitmap: &Bitmap) -> Result<Vec<u8>, Error> {
    let indexed = palette::quantise(bitmap);
    let (plte, trns) = (indexed.plte(), indexed.trns());
    let depth = bit_depth(indexed.palette.len());
    let data = pack_indices(indexed.indices, bitmap.width as usize, depth);
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, bitmap.width, bitmap.height);
    encoder.set_color(png::ColorType::Indexed);
    encoder.set_depth(depth);
    encoder.set_palette(plte);
    if !trns.is_empty() {
        encoder.set_trns(trns);
    }
    // Not the fast deflate of truecolour PNGs: it only codes runs of zero
    // bytes, which filtered truecolour rows are full of and indices are not
    // (unfiltered, it wrote palette thumbnails six times larger than
    // truecolour; filtered, still up to twice zlib's size). zlib level 3
    // costs about 1 ms at 350x350 and comes within some 5% of level 6 on the
    // corpus's palette images. No filter: indices are not quantities whose
    // differences compress better (the usual advice, and smaller here too).
    encoder.set_deflate_compression(png::DeflateCompression::Level(3));
    encoder.set_filter(png::Filter::NoFilter);
    let png_error = |e: png::EncodingError| Error::internal(format!("png encode failed: {e}"));
    let mut writer = encoder.write_header().map_err(png_error)?;
    writer.write_image_data(&data).map_err(png_error)?;
    writer.finish().map_err(png_error)?;
    Ok(out)
}

/// The fewest bits per pixel that can address `colours` palette entries.
fn bit_depth(colours: usize) -> png::BitDepth {
    match colours {
        0..=2 => png::BitDepth::One,
        3..=4 => png::BitDepth::Two,
        5..=16 => png::BitDepth::Four,
        _ => png::BitDepth::Eight,
    }
}

/// Packs one index a byte into rows of `depth` bits an index, leftmost pixel
/// in the high bits, each row starting on a new byte.
fn pack_indices(indices: Vec<u8>, width: usize, depth: png::BitDepth) -> Vec<u8> {
    let bits = depth as usize;
    if bits == 8 {
        return indices;
    }
    let per_byte = 8 / bits;
    let mut out = Vec::with_capacity(indices.len().div_ceil(width) * width.div_ceil(per_byte));
    for row in indices.chunks_exact(width) {
        for group in row.chunks(per_byte) {
            let byte = group
                .iter()
                .enumerate()
                .fold(0u8, |byte, (k, &i)| byte | i << (8 - bits * (k + 1)));
            out.push(byte);
        }
    }
    out
}
