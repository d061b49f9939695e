//! WebP: RIFF chunks are walked by hand for the canvas size (VP8X, VP8, VP8L)
//! and the EXIF orientation; `image-webp`, through `image`, decodes the
//! first frame.

pub(crate) mod encode;

pub(crate) mod animation;

use std::io::Cursor;

use image::codecs::webp::WebPDecoder;

use crate::error::Error;
use crate::format::{image_rs, Decoded, Header};
use crate::job::Limits;
use crate::processing::orient::{exif_orientation, Orientation};

fn le24(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], 0])
}

pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    let truncated = || Error::unsupported("truncated webp header");
    let mut size: Option<(u32, u32)> = None;
    let mut orientation = Orientation::Normal;
    let mut pos = 12;
    while let Some(head) = data.get(pos..pos + 8) {
        let kind = &head[0..4];
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let body = &data[pos + 8..(pos + 8).saturating_add(len).min(data.len())];
        match kind {
            b"VP8X" if size.is_none() => {
                let b = body.get(4..10).ok_or_else(truncated)?;
                size = Some((le24(&b[0..3]) + 1, le24(&b[3..6]) + 1));
            }
            b"VP8 " if size.is_none() => {
                let b = body.get(0..10).ok_or_else(truncated)?;
                if b[3..6] != [0x9D, 0x01, 0x2A] {
                    return Err(Error::unsupported("corrupt webp: bad vp8 start code"));
                }
                let w = u32::from(u16::from_le_bytes([b[6], b[7]]) & 0x3FFF);
                let h = u32::from(u16::from_le_bytes([b[8], b[9]]) & 0x3FFF);
                size = Some((w, h));
            }
            b"VP8L" if size.is_none() => {
                let b = body.get(0..5).ok_or_else(truncated)?;
                if b[0] != 0x2F {
                    return Err(Error::unsupported("corrupt webp: bad vp8l signature"));
                }
                let bits = u32::from_le_bytes([b[1], b[2], b[3], b[4]]);
                size = Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1));
            }
            b"EXIF" => {
                let tiff = body.strip_prefix(b"Exif\0\0").unwrap_or(body);
                orientation = exif_orientation(tiff).unwrap_or(Orientation::Normal);
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = pos
            .saturating_add(8)
            .saturating_add(len)
            .saturating_add(len & 1);
    }
    let (width, height) = size.ok_or_else(|| Error::unsupported("webp has no image chunk"))?;
    Ok(Header {
        width,
        height,
        frames: 1,
        orientation,
    })
}

/// The number of frames (ANMF chunks) of an animated WebP, 1 for a still
/// one; an error when no frame or image chunk lies wholly inside `data`
/// (a truncated file). Chunk headers only: nothing is decoded.
pub(crate) fn count_frames(data: &[u8]) -> Result<u32, Error> {
    let (mut frames, mut still) = (0u32, false);
    let mut pos = 12usize;
    while let Some(head) = data.get(pos..pos + 8) {
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let end = pos.saturating_add(8).saturating_add(len);
        let complete = end <= data.len();
        match &head[0..4] {
            b"ANMF" if complete => frames += 1,
            b"VP8 " | b"VP8L" if complete => still = true,
            _ => {}
        }
        pos = end.saturating_add(len & 1);
    }
    match (frames, still) {
        (0, false) => Err(Error::unsupported("truncated webp: no complete image")),
        (0, true) => Ok(1),
        (n, _) => Ok(n),
    }
}

pub(crate) fn decode(data: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Error> {
    let decoder = WebPDecoder::new(Cursor::new(data)).map_err(image_rs::decode_error)?;
    image_rs::decode_first_frame(decoder, header, limits)
}
