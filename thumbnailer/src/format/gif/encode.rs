//! A still GIF out, written with the `gif` crate from our own palette.

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::palette;
use crate::job::EncodeOptions;

/// Alpha from here up is opaque in a GIF, below it transparent: GIF has one
/// transparent index and no partial alpha. Half way, as libgd's truecolour
/// to palette conversion decides.
const GIF_OPAQUE_FROM: u8 = 128;

/// The frame's pixels in at most 256 colours with alpha made all or
/// nothing, and the transparent index if any (the palette puts it first).
pub(crate) fn quantise_for_gif(bitmap: Bitmap) -> (palette::Indexed, Option<u8>) {
    let mut bitmap = bitmap;
    if bitmap.layout == Layout::Rgba {
        for px in bitmap.data.chunks_exact_mut(4) {
            px[3] = if px[3] >= GIF_OPAQUE_FROM { 255 } else { 0 };
        }
    }
    let indexed = palette::quantise(&bitmap.drop_opaque_alpha());
    let transparent = (indexed.palette.first().map(|c| c[3]) == Some(0)).then_some(0);
    (indexed, transparent)
}

/// A still GIF: the pixels reduced to at most 256 colours by the same
/// palette code as indexed PNGs (exact when there are that few), alpha made
/// all or nothing (the colour of a kept translucent pixel is its own, not
/// blended), every transparent pixel the one transparent index.
/// `interlace` writes the rows in GIF's four-pass order.
pub(crate) fn encode_gif(bitmap: Bitmap, options: &EncodeOptions) -> Result<Vec<u8>, Error> {
    let too_large = || Error::internal("a gif side is at most 65535 pixels");
    let width = u16::try_from(bitmap.width).map_err(|_| too_large())?;
    let height = u16::try_from(bitmap.height).map_err(|_| too_large())?;
    let (indexed, transparent) = quantise_for_gif(bitmap);
    let rows: Vec<&[u8]> = indexed.indices.chunks_exact(usize::from(width)).collect();
    let order: Vec<usize> = if options.interlace {
        [(0, 8), (4, 8), (2, 4), (1, 2)]
            .into_iter()
            .flat_map(|(start, step)| (start..rows.len()).step_by(step))
            .collect()
    } else {
        (0..rows.len()).collect()
    };
    let pixels: Vec<u8> = order
        .iter()
        .flat_map(|&y| rows[y].iter().copied())
        .collect();
    let gif_error = |e: gif::EncodingError| Error::internal(format!("gif encode failed: {e}"));
    let mut out = Vec::new();
    {
        let mut encoder =
            gif::Encoder::new(&mut out, width, height, &indexed.plte()).map_err(gif_error)?;
        let mut frame = gif::Frame::from_indexed_pixels(width, height, pixels, transparent);
        frame.interlaced = options.interlace;
        encoder.write_frame(&frame).map_err(gif_error)?;
    }
    Ok(out)
}
