//! Animated GIF: every frame composed onto the full canvas as a browser
//! shows it (frame offsets, transparent pixels, the three disposal methods),
//! and an animated GIF written back, one palette per frame.
//!
//! The composition is done here rather than by `image`'s frame iterator, as
//! that one cannot tell "no loop extension" (play once) from "loop forever".

use gif::{ColorOutput, DecodingError, DisposalMethod, MemoryLimit, Repeat};

use crate::animation::{Frame, Looping};
use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::gif::encode::quantise_for_gif;

/// A rectangle of the canvas, already clipped to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Rect {
    x: usize,
    y: usize,
    width: usize,
    height: usize,
}

/// The frames of a GIF, each the whole canvas after that frame was drawn.
pub(crate) struct GifFrames<'a> {
    decoder: gif::Decoder<&'a [u8]>,
    width: usize,
    height: usize,
    /// What the screen shows now, RGBA.
    canvas: Vec<u8>,
    /// What the previous frame asked to be done to its area before the
    /// next one is drawn, and for "restore previous" the pixels to restore.
    pending: Option<(DisposalMethod, Rect, Vec<u8>)>,
    /// Frames still allowed (the count the limits were checked against).
    remaining: u32,
    yielded: u32,
}

fn decode_error(e: DecodingError) -> Error {
    match e {
        DecodingError::MemoryLimit => Error::too_large("gif frame over the decoder's memory limit"),
        other => Error::unsupported(format!("corrupt gif: {other}").to_lowercase()),
    }
}

impl<'a> GifFrames<'a> {
    /// A reader for at most `frames` frames of a `width` x `height` canvas
    /// (the header's, which covers the screen and the first frame).
    pub fn open(data: &'a [u8], width: u32, height: u32, frames: u32) -> Result<Self, Error> {
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(ColorOutput::RGBA);
        // One frame's RGBA buffer: frames larger than the canvas are legal
        // but rare; allow four canvases, which bounds a frame bomb, plus a
        // megabyte for extension blocks (XMP, ICC) the decoder also keeps.
        let canvas_bytes = u64::from(width) * u64::from(height) * 4;
        let limit = canvas_bytes.saturating_mul(4).saturating_add(1 << 20);
        if let Some(limit) = std::num::NonZeroU64::new(limit) {
            options.set_memory_limit(MemoryLimit::Bytes(limit));
        }
        let decoder = options.read_info(data).map_err(decode_error)?;
        let (width, height) = (width as usize, height as usize);
        Ok(GifFrames {
            decoder,
            width,
            height,
            canvas: vec![0; width * height * 4],
            pending: None,
            remaining: frames,
            yielded: 0,
        })
    }

    /// The loop extension seen so far (it comes before the first frame in
    /// every GIF writer we know).
    pub fn looping(&self) -> Looping {
        match self.decoder.repeat() {
            Repeat::Infinite => Looping::Forever,
            Repeat::Finite(n) => Looping::Repeats(n),
        }
    }

    fn dispose_previous(&mut self) {
        let Some((method, rect, saved)) = self.pending.take() else {
            return;
        };
        for (i, row) in (rect.y..rect.y + rect.height).enumerate() {
            let start = (row * self.width + rect.x) * 4;
            let line = &mut self.canvas[start..start + rect.width * 4];
            match method {
                // Browsers clear to transparent, not to the background colour.
                DisposalMethod::Background => line.fill(0),
                DisposalMethod::Previous => {
                    let from = i * rect.width * 4;
                    line.copy_from_slice(&saved[from..from + rect.width * 4]);
                }
                DisposalMethod::Any | DisposalMethod::Keep => return,
            }
        }
    }

    fn next_frame(&mut self) -> Result<Option<Frame>, Error> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.dispose_previous();
        let Some(frame) = self.decoder.read_next_frame().map_err(decode_error)? else {
            return Ok(None);
        };
        let delay_ms = u32::from(frame.delay) * 10;
        let dispose = frame.dispose;
        let frame_width = usize::from(frame.width);
        if let Some(rect) = clip(self.width, self.height, frame) {
            let saved = if dispose == DisposalMethod::Previous {
                copy_out(&self.canvas, self.width, rect)
            } else {
                Vec::new()
            };
            for row in 0..rect.height {
                let src = &frame.buffer[row * frame_width * 4..][..rect.width * 4];
                let start = ((rect.y + row) * self.width + rect.x) * 4;
                let dst = &mut self.canvas[start..start + rect.width * 4];
                for (d, s) in dst.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
                    // A transparent index leaves what is below showing.
                    if s[3] != 0 {
                        d.copy_from_slice(s);
                    }
                }
            }
            self.pending = Some((dispose, rect, saved));
        }
        self.remaining -= 1;
        self.yielded += 1;
        let canvas = Bitmap::new(
            self.width as u32,
            self.height as u32,
            Layout::Rgba,
            self.canvas.clone(),
        )?;
        Ok(Some(Frame { canvas, delay_ms }))
    }
}

/// The part of `frame` inside a `width` x `height` canvas, if any.
fn clip(width: usize, height: usize, frame: &gif::Frame<'_>) -> Option<Rect> {
    let x = usize::from(frame.left);
    let y = usize::from(frame.top);
    let width = usize::from(frame.width).min(width.saturating_sub(x));
    let height = usize::from(frame.height).min(height.saturating_sub(y));
    (width > 0 && height > 0).then_some(Rect {
        x,
        y,
        width,
        height,
    })
}

/// The pixels of `rect` of a canvas `width` pixels wide, row after row.
fn copy_out(canvas: &[u8], width: usize, rect: Rect) -> Vec<u8> {
    let mut saved = Vec::with_capacity(rect.width * rect.height * 4);
    for row in rect.y..rect.y + rect.height {
        let start = (row * width + rect.x) * 4;
        saved.extend_from_slice(&canvas[start..start + rect.width * 4]);
    }
    saved
}

impl Iterator for GifFrames<'_> {
    type Item = Result<Frame, Error>;

    /// A frame that fails to decode after the first ends the animation
    /// there, as browsers show a truncated GIF; a failing first frame is
    /// the error.
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_frame() {
            Ok(frame) => frame.map(Ok),
            Err(_) if self.yielded > 0 => {
                self.remaining = 0;
                None
            }
            Err(e) => Some(Err(e)),
        }
    }
}

/// An animated GIF being written: full-canvas frames, each with its own
/// palette and transparent index, each cleared before the next is drawn.
pub(crate) struct GifWriter {
    encoder: gif::Encoder<Vec<u8>>,
    width: u16,
    height: u16,
}

fn encode_error(e: gif::EncodingError) -> Error {
    Error::internal(format!("gif encode failed: {e}"))
}

impl GifWriter {
    pub fn new(width: u32, height: u32, looping: Looping) -> Result<Self, Error> {
        let too_large = || Error::internal("a gif side is at most 65535 pixels");
        let width = u16::try_from(width).map_err(|_| too_large())?;
        let height = u16::try_from(height).map_err(|_| too_large())?;
        // No global palette: every frame brings its own.
        let mut encoder =
            gif::Encoder::new(Vec::new(), width, height, &[]).map_err(encode_error)?;
        match looping {
            Looping::Forever => encoder.set_repeat(Repeat::Infinite),
            // No extension at all is "play once".
            Looping::Repeats(0) => Ok(()),
            Looping::Repeats(n) => encoder.set_repeat(Repeat::Finite(n)),
        }
        .map_err(encode_error)?;
        Ok(GifWriter {
            encoder,
            width,
            height,
        })
    }

    /// Adds one frame shown for `delay_ms` (GIF keeps hundredths).
    pub fn add(&mut self, bitmap: Bitmap, delay_ms: u32) -> Result<(), Error> {
        if (bitmap.width, bitmap.height) != (u32::from(self.width), u32::from(self.height)) {
            return Err(Error::internal("animation frames differ in size"));
        }
        let (indexed, transparent) = quantise_for_gif(bitmap);
        let plte = indexed.plte();
        let mut frame = gif::Frame::from_palette_pixels(
            self.width,
            self.height,
            indexed.indices,
            plte,
            transparent,
        );
        frame.delay = u16::try_from(delay_ms.saturating_add(5) / 10).unwrap_or(u16::MAX);
        // Each frame is the whole picture: clear it before the next one, so
        // the next frame's transparent pixels show nothing of this one.
        frame.dispose = DisposalMethod::Background;
        self.encoder.write_frame(&frame).map_err(encode_error)
    }

    pub fn finish(self) -> Result<Vec<u8>, Error> {
        self.encoder.into_inner().map_err(encode_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RED: [u8; 4] = [255, 0, 0, 255];
    const BLUE: [u8; 4] = [0, 0, 255, 255];
    const CLEAR: [u8; 4] = [0, 0, 0, 0];

    /// A 4x4 GIF: frame 0 the whole screen red; frame 1 a blue 2x2 at
    /// (1,1) with `dispose`; frame 2 a 1x1 blue at (0,0) whose only pixel
    /// is transparent, so what frame 1 left (or its disposal) shows.
    fn disposal_gif(dispose: DisposalMethod, repeat: Option<Repeat>) -> Vec<u8> {
        let palette = [255, 0, 0, 0, 0, 255];
        let mut out = Vec::new();
        {
            let mut e = gif::Encoder::new(&mut out, 4, 4, &palette).unwrap();
            if let Some(repeat) = repeat {
                e.set_repeat(repeat).unwrap();
            }
            let mut f = gif::Frame::from_indexed_pixels(4, 4, vec![0; 16], None);
            f.delay = 7;
            e.write_frame(&f).unwrap();
            let mut f = gif::Frame::from_indexed_pixels(2, 2, vec![1; 4], None);
            (f.left, f.top, f.delay, f.dispose) = (1, 1, 12, dispose);
            e.write_frame(&f).unwrap();
            let mut f = gif::Frame::from_indexed_pixels(1, 1, vec![1], Some(1));
            f.delay = 3;
            e.write_frame(&f).unwrap();
        }
        out
    }

    fn pixel(frame: &Frame, x: usize, y: usize) -> [u8; 4] {
        let at = (y * frame.canvas.width as usize + x) * 4;
        frame.canvas.data[at..at + 4].try_into().unwrap()
    }

    fn frames(data: &[u8], limit: u32) -> Vec<Frame> {
        GifFrames::open(data, 4, 4, limit)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn offsets_and_each_disposal_compose_as_browsers_show_them() {
        for (dispose, after) in [
            (DisposalMethod::Keep, BLUE),
            (DisposalMethod::Background, CLEAR),
            (DisposalMethod::Previous, RED),
        ] {
            let f = frames(&disposal_gif(dispose, None), 10);
            assert_eq!(f.len(), 3);
            assert_eq!(
                f.iter().map(|f| f.delay_ms).collect::<Vec<_>>(),
                [70, 120, 30]
            );
            // Frame 1: blue square over red, at its offset.
            assert_eq!(pixel(&f[1], 0, 0), RED, "{dispose:?}");
            assert_eq!(pixel(&f[1], 1, 1), BLUE, "{dispose:?}");
            assert_eq!(pixel(&f[1], 2, 2), BLUE, "{dispose:?}");
            assert_eq!(pixel(&f[1], 3, 3), RED, "{dispose:?}");
            // Frame 2: the square's area after frame 1's disposal.
            assert_eq!(pixel(&f[2], 1, 1), after, "{dispose:?}");
            assert_eq!(pixel(&f[2], 3, 3), RED, "{dispose:?}");
            // Every frame is the whole canvas.
            assert!(f
                .iter()
                .all(|f| (f.canvas.width, f.canvas.height) == (4, 4)));
        }
    }

    #[test]
    fn loop_extension_and_frame_cap() {
        let once = disposal_gif(DisposalMethod::Keep, None);
        let mut reader = GifFrames::open(&once, 4, 4, 2).unwrap();
        reader.next().unwrap().unwrap();
        assert_eq!(reader.looping(), Looping::Repeats(0));
        assert!(reader.next().is_some());
        assert!(reader.next().is_none(), "capped at 2 frames");
        let forever = disposal_gif(DisposalMethod::Keep, Some(Repeat::Infinite));
        let mut reader = GifFrames::open(&forever, 4, 4, 3).unwrap();
        reader.next().unwrap().unwrap();
        assert_eq!(reader.looping(), Looping::Forever);
        let thrice = disposal_gif(DisposalMethod::Keep, Some(Repeat::Finite(2)));
        let mut reader = GifFrames::open(&thrice, 4, 4, 3).unwrap();
        reader.next().unwrap().unwrap();
        assert_eq!(reader.looping(), Looping::Repeats(2));
    }

    #[test]
    fn a_truncated_animation_ends_at_its_last_whole_frame() {
        let data = disposal_gif(DisposalMethod::Keep, None);
        // Cut inside the last frame's image data.
        let cut = &data[..data.len() - 4];
        let f: Vec<_> = GifFrames::open(cut, 4, 4, 10).unwrap().collect();
        assert_eq!(f.len(), 2);
        assert!(f.iter().all(Result::is_ok));
    }

    #[test]
    fn writer_round_trips_frames_delays_loop_and_transparency() {
        let canvas = |px: [u8; 4]| Bitmap::new(4, 4, Layout::Rgba, px.repeat(16)).unwrap();
        for looping in [Looping::Forever, Looping::Repeats(0), Looping::Repeats(4)] {
            let mut w = GifWriter::new(4, 4, looping).unwrap();
            w.add(canvas(RED), 70).unwrap();
            w.add(canvas(CLEAR), 120).unwrap();
            w.add(canvas(BLUE), 34).unwrap();
            let bytes = w.finish().unwrap();
            let mut reader = GifFrames::open(&bytes, 4, 4, 10).unwrap();
            let first = reader.next().unwrap().unwrap();
            assert_eq!(reader.looping(), looping);
            let rest: Vec<Frame> = reader.collect::<Result<_, _>>().unwrap();
            assert_eq!(pixel(&first, 2, 2), RED);
            // Cleared before the next frame: nothing of the red shows.
            assert_eq!(pixel(&rest[0], 2, 2)[3], 0);
            assert_eq!(pixel(&rest[1], 2, 2), BLUE);
            assert_eq!(
                [first.delay_ms, rest[0].delay_ms, rest[1].delay_ms],
                [70, 120, 30]
            );
        }
    }
}
