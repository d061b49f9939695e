//! GIF: the logical screen and the first frame's descriptor are read by hand
//! (both can declare a bomb); the `gif` crate, through `image`, decodes only
//! the first frame, so frame floods cost nothing.

pub(crate) mod encode;

pub(crate) mod animation;

use std::io::Cursor;

use image::codecs::gif::GifDecoder;

use crate::error::Error;
use crate::format::{image_rs, Decoded, Header};
use crate::job::Limits;
use crate::processing::orient::Orientation;

/// The screen size and the larger of it and the first frame's extent, which
/// is what a decoder may have to allocate.
struct GifInfo {
    screen: (u32, u32),
    first_frame: Option<(u32, u32)>,
}

fn le16(b: &[u8]) -> u32 {
    u32::from(u16::from_le_bytes([b[0], b[1]]))
}

/// Skips data sub-blocks (length-prefixed, ended by a zero length); returns
/// the position after the terminator, or `None` if the data ends first.
fn skip_sub_blocks(data: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        let len = usize::from(*data.get(pos)?);
        pos += 1;
        if len == 0 {
            return Some(pos);
        }
        pos += len;
    }
}

fn scan(data: &[u8]) -> Result<GifInfo, Error> {
    let screen = data
        .get(6..13)
        .ok_or_else(|| Error::unsupported("truncated gif header"))?;
    let mut info = GifInfo {
        screen: (le16(&screen[0..2]), le16(&screen[2..4])),
        first_frame: None,
    };
    let flags = screen[4];
    let mut pos = 13;
    if flags & 0x80 != 0 {
        pos += 3 << ((flags & 0x07) + 1);
    }
    // Extensions before the first image descriptor are skipped; stop at it.
    while let Some(&block) = data.get(pos) {
        match block {
            0x21 => match skip_sub_blocks(data, pos + 2) {
                Some(next) => pos = next,
                None => break,
            },
            0x2C => {
                if let Some(d) = data.get(pos + 1..pos + 9) {
                    info.first_frame = Some((le16(&d[4..6]), le16(&d[6..8])));
                }
                break;
            }
            _ => break,
        }
    }
    Ok(info)
}

pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    let info = scan(data)?;
    // A frame larger than the screen is allocated at its own size, so the
    // limit has to see whichever is larger.
    let (fw, fh) = info.first_frame.unwrap_or((0, 0));
    let (sw, sh) = info.screen;
    let (width, height) = if u64::from(fw) * u64::from(fh) > u64::from(sw) * u64::from(sh) {
        (fw, fh)
    } else {
        (sw, sh)
    };
    Ok(Header {
        width,
        height,
        frames: 1,
        orientation: Orientation::Normal,
    })
}

/// What a walk over every block of a GIF finds, decompressing nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FrameWalk {
    /// Frames whose image data is complete.
    pub frames: u32,
    /// The larger (by area) of the screen and every counted frame.
    pub largest: (u32, u32),
}

/// Counts the frames by hopping over the blocks by their length prefixes: no
/// LZW decoding, so the cost is one step per 255-byte sub-block. A frame
/// counts when its data ends with the block terminator; the walk stops at
/// the trailer, at anything that is not a block, or where the data ends.
/// A file without one complete frame is refused as truncated.
pub(crate) fn walk_frames(data: &[u8]) -> Result<FrameWalk, Error> {
    let screen = data
        .get(6..13)
        .ok_or_else(|| Error::unsupported("truncated gif header"))?;
    let flags = screen[4];
    let mut pos = 13usize;
    if flags & 0x80 != 0 {
        pos += 3 << ((flags & 0x07) + 1);
    }
    let area = |(w, h): (u32, u32)| u64::from(w) * u64::from(h);
    let mut walk = FrameWalk {
        frames: 0,
        largest: (le16(&screen[0..2]), le16(&screen[2..4])),
    };
    loop {
        match data.get(pos) {
            Some(0x21) => match skip_sub_blocks(data, pos + 2) {
                Some(next) => pos = next,
                None => break,
            },
            Some(0x2C) => {
                let Some(d) = data.get(pos + 1..pos + 10) else {
                    break;
                };
                let size = (le16(&d[4..6]), le16(&d[6..8]));
                let mut next = pos + 10;
                if d[8] & 0x80 != 0 {
                    next += 3 << ((d[8] & 0x07) + 1);
                }
                // The LZW minimum code size, then the data sub-blocks.
                if data.get(next).is_none() {
                    break;
                }
                let Some(end) = skip_sub_blocks(data, next + 1) else {
                    break;
                };
                walk.frames += 1;
                if area(size) > area(walk.largest) {
                    walk.largest = size;
                }
                pos = end;
            }
            _ => break,
        }
    }
    if walk.frames == 0 {
        return Err(Error::unsupported("truncated gif: no complete frame"));
    }
    Ok(walk)
}

pub(crate) fn decode(data: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Error> {
    let decoder = GifDecoder::new(Cursor::new(data)).map_err(image_rs::decode_error)?;
    let mut decoded = image_rs::decode_first_frame(decoder, header, limits)?;
    decoded.from_palette = true;
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screen_and_first_frame_are_read_past_extensions() {
        let mut g = b"GIF89a".to_vec();
        g.extend([10, 0, 20, 0, 0x80, 0, 0]); // 10x20, 2-entry global palette
        g.extend([0; 6]);
        g.extend([0x21, 0xF9, 4, 0, 0, 0, 0, 0]); // graphic control extension
        g.extend([0x2C, 0, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0]); // 65535x65535 frame
        let h = read_header(&g).unwrap();
        assert_eq!((h.width, h.height), (65535, 65535));
        g.truncate(13 + 6);
        let h = read_header(&g).unwrap();
        assert_eq!((h.width, h.height), (10, 20));
        assert!(read_header(b"GIF89a\x01").is_err());
    }
}
