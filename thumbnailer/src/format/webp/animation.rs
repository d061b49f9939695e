//! Animated WebP: frames read composed onto the full canvas (by
//! `image-webp`, through `image`), and written by libwebp's animation
//! encoder (through the `codecs` crate), which keeps every frame's duration.

use std::io::Cursor;

use codecs::webp_anim::{AnimEncoder, AnimOptions};
use image::codecs::webp::WebPDecoder;
use image::metadata::LoopCount;
use image::{AnimationDecoder, Frames};

use crate::animation::{Frame, Looping};
use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::image_rs;
use crate::job::clamp_quality;

/// The frames of an animated WebP, each the whole canvas.
pub(crate) struct WebpFrames<'a> {
    frames: Frames<'a>,
    looping: Looping,
    remaining: u32,
    yielded: u32,
}

impl<'a> WebpFrames<'a> {
    /// A reader for at most `frames` frames.
    pub fn open(data: &'a [u8], frames: u32) -> Result<Self, Error> {
        let mut decoder = WebPDecoder::new(Cursor::new(data)).map_err(image_rs::decode_error)?;
        // A frame disposed "to background" is cleared to transparent, as
        // browsers do whatever colour the file names; left unset, image-webp
        // would not clear it at all.
        decoder
            .set_background_color(image::Rgba([0, 0, 0, 0]))
            .map_err(image_rs::decode_error)?;
        // WebP counts plays, 0 for ever; GIF counts repeats after the first.
        let looping = match decoder.loop_count() {
            LoopCount::Infinite => Looping::Forever,
            LoopCount::Finite(plays) => {
                Looping::Repeats(u16::try_from(plays.get() - 1).unwrap_or(u16::MAX))
            }
        };
        Ok(WebpFrames {
            frames: decoder.into_frames(),
            looping,
            remaining: frames,
            yielded: 0,
        })
    }

    pub fn looping(&self) -> Looping {
        self.looping
    }
}

impl Iterator for WebpFrames<'_> {
    type Item = Result<Frame, Error>;

    /// As for GIF, a frame failing after the first ends the animation.
    fn next(&mut self) -> Option<Self::Item> {
        if self.remaining == 0 {
            return None;
        }
        let frame = match self.frames.next()? {
            Ok(frame) => frame,
            Err(_) if self.yielded > 0 => {
                self.remaining = 0;
                return None;
            }
            Err(e) => return Some(Err(image_rs::decode_error(e))),
        };
        self.remaining -= 1;
        self.yielded += 1;
        let (numer, denom) = frame.delay().numer_denom_ms();
        let delay_ms = numer / denom.max(1);
        let buffer = frame.into_buffer();
        let (width, height) = buffer.dimensions();
        Some(
            Bitmap::new(width, height, Layout::Rgba, buffer.into_raw())
                .map(|canvas| Frame { canvas, delay_ms }),
        )
    }
}

/// An animated WebP being written.
pub(crate) struct WebpWriter {
    encoder: AnimEncoder,
}

fn encode_error(e: codecs::webp_anim::AnimError) -> Error {
    Error::internal(format!("animated webp encode failed: {e}"))
}

impl WebpWriter {
    /// `quality` and `effort` (libwebp's method) as for still WebP:
    /// `image_filter_rs_webp_quality` and `_webp_effort`.
    pub fn new(
        width: u32,
        height: u32,
        looping: Looping,
        quality: u8,
        effort: u8,
    ) -> Result<Self, Error> {
        let options = AnimOptions {
            quality: f32::from(clamp_quality(quality)),
            method: effort.min(6),
            loop_count: match looping {
                Looping::Forever => 0,
                Looping::Repeats(n) => n.saturating_add(1),
            },
        };
        let encoder = AnimEncoder::new(width, height, &options).map_err(encode_error)?;
        Ok(WebpWriter { encoder })
    }

    pub fn add(&mut self, bitmap: Bitmap, delay_ms: u32) -> Result<(), Error> {
        let rgba = bitmap.into_rgba_data();
        self.encoder
            .add_frame(&rgba, delay_ms)
            .map_err(encode_error)
    }

    pub fn finish(self) -> Result<Vec<u8>, Error> {
        self.encoder.finish().map_err(encode_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn solid(px: [u8; 4]) -> Bitmap {
        Bitmap::new(8, 6, Layout::Rgba, px.repeat(48)).unwrap()
    }

    #[test]
    fn written_frames_read_back_with_delays_and_loop() {
        for looping in [Looping::Forever, Looping::Repeats(0), Looping::Repeats(2)] {
            let mut w = WebpWriter::new(8, 6, looping, 90, 2).unwrap();
            w.add(solid([250, 10, 10, 255]), 40).unwrap();
            w.add(solid([0, 0, 0, 0]), 90).unwrap();
            let grey = Bitmap::new(8, 6, Layout::Gray, vec![128; 48]).unwrap();
            w.add(grey, 2500).unwrap();
            let bytes = w.finish().unwrap();
            let reader = WebpFrames::open(&bytes, 10).unwrap();
            assert_eq!(reader.looping(), looping);
            let frames: Vec<Frame> = reader.collect::<Result<_, _>>().unwrap();
            assert_eq!(
                frames.iter().map(|f| f.delay_ms).collect::<Vec<_>>(),
                [40, 90, 2500]
            );
            let px = |f: &Frame| -> [u8; 4] { f.canvas.data[..4].try_into().unwrap() };
            assert!(px(&frames[0])[0] > 230 && px(&frames[0])[3] == 255);
            assert_eq!(px(&frames[1])[3], 0);
            assert!(px(&frames[2])[0].abs_diff(128) < 6 && px(&frames[2])[3] == 255);
        }
    }

    #[test]
    fn the_frame_cap_holds() {
        let mut w = WebpWriter::new(8, 6, Looping::Forever, 80, 2).unwrap();
        for i in 0..4u8 {
            w.add(solid([i * 60, 0, 0, 255]), 10).unwrap();
        }
        let bytes = w.finish().unwrap();
        assert_eq!(WebpFrames::open(&bytes, 3).unwrap().count(), 3);
    }
}
