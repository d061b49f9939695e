//! PNG: IHDR and the pre-IDAT chunks are walked by hand (no inflating) for the
//! header facts; the `png` crate, through `image`, decodes the pixels.

pub(crate) mod encode;

use std::io::Cursor;

use image::codecs::png::PngDecoder;

use crate::error::Error;
use crate::format::{image_rs, Decoded, Header};
use crate::job::Limits;
use crate::processing::orient::{exif_orientation, Orientation};

const SIGNATURE_LEN: usize = 8;
const COLOUR_TYPE_PALETTE: u8 = 3;

struct PngInfo {
    width: u32,
    height: u32,
    colour_type: u8,
    orientation: Orientation,
}

fn scan_chunks(data: &[u8]) -> Result<PngInfo, Error> {
    let truncated = || Error::unsupported("truncated png header");
    let ihdr = data
        .get(SIGNATURE_LEN..SIGNATURE_LEN + 8 + 13)
        .ok_or_else(truncated)?;
    if &ihdr[4..8] != b"IHDR" || ihdr[0..4] != 13u32.to_be_bytes() {
        return Err(Error::unsupported("corrupt png: first chunk is not IHDR"));
    }
    let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let mut info = PngInfo {
        width: be32(&ihdr[8..12]),
        height: be32(&ihdr[12..16]),
        colour_type: ihdr[17],
        orientation: Orientation::Normal,
    };
    // eXIf may come anywhere before IDAT; it is the only chunk we need here.
    let mut pos = SIGNATURE_LEN;
    while let Some(head) = data.get(pos..pos + 8) {
        let len = be32(&head[0..4]) as usize;
        let kind = &head[4..8];
        if kind == b"IDAT" {
            break;
        }
        let Some(body) = data.get(pos + 8..(pos + 8).saturating_add(len)) else {
            break;
        };
        if kind == b"eXIf" {
            let tiff = body.strip_prefix(b"Exif\0\0").unwrap_or(body);
            info.orientation = exif_orientation(tiff).unwrap_or(Orientation::Normal);
        }
        pos = pos.saturating_add(12).saturating_add(len);
    }
    Ok(info)
}

pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    let info = scan_chunks(data)?;
    Ok(Header {
        width: info.width,
        height: info.height,
        frames: 1,
        orientation: info.orientation,
    })
}

/// The number of images, when the chunk walk reaches an IDAT chunk: an
/// animated PNG's `acTL` frame count, plus one when the default image (the
/// IDAT) is not the first frame (no `fcTL` before it), as Pillow counts;
/// 1 for a still PNG. `None` for a file cut before its image data. Chunk
/// headers only: nothing is inflated.
pub(crate) fn frames_before_image_data(data: &[u8]) -> Option<u32> {
    let (mut animation_frames, mut default_is_frame) = (0u32, false);
    let mut pos = SIGNATURE_LEN;
    while let Some(head) = data.get(pos..pos + 8) {
        match &head[4..8] {
            b"IDAT" => {
                let extra = u32::from(!default_is_frame || animation_frames == 0);
                return Some(animation_frames.saturating_add(extra));
            }
            b"acTL" => {
                if let Some(n) = data.get(pos + 8..pos + 12) {
                    animation_frames = u32::from_be_bytes([n[0], n[1], n[2], n[3]]);
                }
            }
            b"fcTL" => default_is_frame = true,
            _ => {}
        }
        let len = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        pos = pos.saturating_add(12).saturating_add(len);
    }
    None
}

pub(crate) fn decode(data: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Error> {
    let info = scan_chunks(data)?;
    let decoder = PngDecoder::with_limits(Cursor::new(data), image_rs::limits_for(header, limits))
        .map_err(image_rs::decode_error)?;
    let mut decoded = image_rs::decode_first_frame(decoder, header, limits)?;
    decoded.from_palette = info.colour_type == COLOUR_TYPE_PALETTE;
    Ok(decoded)
}
