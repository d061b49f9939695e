//! Animated originals (GIF, WebP) kept animated: how many frames are kept
//! (the frame limit, `frame=0`), what comes out (animated GIF for a GIF
//! asked in its own format or as GIF, animated WebP otherwise), and the job
//! itself: every frame composed to the full canvas, put through the same
//! steps as a still, and handed to the animation encoder one at a time, so
//! only a frame or two is ever held decoded.

use crate::bitmap::Bitmap;
use crate::error::Error;
use crate::format::gif::animation::{GifFrames, GifWriter};
use crate::format::webp::animation::{WebpFrames, WebpWriter};
use crate::format::{gif, webp, ImageFormat};
use crate::job::{EncodeOptions, Job, OutputFormat};
use crate::pipeline::{self, OutputType, Source, Thumbnail};
use crate::processing::geometry::Plan;
use crate::processing::orient;
use crate::processing::place;

/// How often an animation plays, in GIF's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Looping {
    Forever,
    /// Plays once, then `n` more times (a GIF without a loop extension is
    /// `Repeats(0)`).
    Repeats(u16),
}

/// One frame as shown: the whole canvas, and how long it stays.
#[derive(Debug)]
pub(crate) struct Frame {
    pub canvas: Bitmap,
    pub delay_ms: u32,
}

/// The animated format a job writes for an animated `source`, or `None`
/// when it asks for a still (JPEG, PNG, AVIF by name, a placeholder). A
/// negotiated AVIF keeps the animation in its fallback (WebP, or the
/// original's format): AVIF sequences are not written, and a still would
/// lose what the client could have shown.
pub(crate) fn animated_output(encode: &EncodeOptions, source: ImageFormat) -> Option<ImageFormat> {
    let requested = match (encode.format, encode.avif_fallback) {
        (OutputFormat::Avif, Some(fallback)) => fallback.to.output(),
        (format, _) => format,
    };
    match requested {
        OutputFormat::Original if source == ImageFormat::Gif => Some(ImageFormat::Gif),
        OutputFormat::Gif => Some(ImageFormat::Gif),
        OutputFormat::Original | OutputFormat::Webp => Some(ImageFormat::Webp),
        OutputFormat::Jpeg
        | OutputFormat::Png
        | OutputFormat::Avif
        | OutputFormat::Placeholder(_) => None,
    }
}

/// How many frames of the original the job keeps: 1 for a still (not
/// animated, a still asked for, or over the frame limit when that is not
/// strict), else every frame. Counted from the container's block or chunk
/// headers, nothing decoded. An error when the frames are over a strict
/// limit, or when `head` is not the whole original (the count needs it).
pub(crate) fn frames_to_keep(
    head: &[u8],
    source_len: u64,
    format: ImageFormat,
    job: &Job,
) -> Result<u32, Error> {
    let limits = &job.limits;
    if animated_output(&job.encode, format).is_none()
        || (limits.max_frames <= 1 && !limits.frames_strict)
    {
        return Ok(1);
    }
    let frames = match format {
        ImageFormat::Gif => gif::walk_frames(head)?.frames,
        ImageFormat::Webp => webp::count_frames(head)?,
        _ => return Ok(1),
    };
    // Frames counted in the first bytes are there in the whole original
    // too: over the limit is over the limit.
    if frames > limits.max_frames {
        if limits.frames_strict {
            return Err(Error::too_large(format!(
                "animation has {frames} frames, over the {}-frame limit",
                limits.max_frames
            )));
        }
        return Ok(1);
    }
    if (head.len() as u64) < source_len {
        return Err(Error::unsupported(
            "the frame count needs the whole original",
        ));
    }
    Ok(frames.max(1))
}

/// Reads the frames of either format.
enum FrameReader<'a> {
    // Boxed: the GIF decoder's state is large, and there is one reader a
    // request.
    Gif(Box<GifFrames<'a>>),
    Webp(WebpFrames<'a>),
}

impl FrameReader<'_> {
    fn looping(&self) -> Looping {
        match self {
            FrameReader::Gif(r) => r.looping(),
            FrameReader::Webp(r) => r.looping(),
        }
    }

    fn next_frame(&mut self) -> Option<Result<Frame, Error>> {
        match self {
            FrameReader::Gif(r) => r.next(),
            FrameReader::Webp(r) => r.next(),
        }
    }
}

/// Writes frames in either format.
enum FrameWriter {
    Gif(GifWriter),
    Webp(WebpWriter),
}

impl FrameWriter {
    fn add(&mut self, bitmap: Bitmap, delay_ms: u32) -> Result<(), Error> {
        match self {
            FrameWriter::Gif(w) => w.add(bitmap, delay_ms),
            FrameWriter::Webp(w) => w.add(bitmap, delay_ms),
        }
    }

    fn finish(self) -> Result<Vec<u8>, Error> {
        match self {
            FrameWriter::Gif(w) => w.finish(),
            FrameWriter::Webp(w) => w.finish(),
        }
    }
}

/// The animated thumbnail of an original whose header says it keeps more
/// than one frame (see [`frames_to_keep`]): each frame composed, turned
/// upright, then resized, adjusted, padded, turned and flattened as a still
/// would be, and encoded in turn. A smart crop is placed on the first frame
/// and kept, so the picture does not jump.
pub(crate) fn make(
    input: &[u8],
    source: &Source,
    plan: Plan,
    job: &Job,
) -> Result<Thumbnail, Error> {
    let format = animated_output(&job.encode, source.format)
        .ok_or_else(|| Error::internal("an animation was asked for a still format"))?;
    let header = &source.header;
    let mut reader = match source.format {
        ImageFormat::Gif => FrameReader::Gif(Box::new(GifFrames::open(
            input,
            header.width,
            header.height,
            header.frames,
        )?)),
        ImageFormat::Webp => FrameReader::Webp(WebpFrames::open(input, header.frames)?),
        other => {
            return Err(Error::internal(format!(
                "{} cannot be animated",
                other.mime_type()
            )))
        }
    };
    let first = reader
        .next_frame()
        .ok_or_else(|| Error::unsupported("animation has no frame"))??;
    let upright = |frame: Frame| {
        (
            orient::apply(frame.canvas, header.orientation),
            frame.delay_ms,
        )
    };
    let (canvas, delay_ms) = upright(first);
    let plan = place::refine_smart(plan, &canvas);
    let bitmap = pipeline::render(&canvas, &plan, job)?;
    let (width, height) = (bitmap.width, bitmap.height);
    let looping = reader.looping();
    let mut writer = match format {
        ImageFormat::Gif => FrameWriter::Gif(GifWriter::new(width, height, looping)?),
        _ => FrameWriter::Webp(WebpWriter::new(
            width,
            height,
            looping,
            job.encode.webp_quality,
            job.encode.webp_effort,
        )?),
    };
    writer.add(bitmap, delay_ms)?;
    drop(canvas);
    while let Some(frame) = reader.next_frame() {
        let (canvas, delay_ms) = upright(frame?);
        writer.add(pipeline::render(&canvas, &plan, job)?, delay_ms)?;
    }
    Ok(Thumbnail {
        bytes: writer.finish()?,
        format: OutputType::Image(format),
        width,
        height,
    })
}

/// Peak bytes of [`make`]: the compositor's canvases (the screen, the
/// frame being drawn, a saved area, the copy handed on), each frame's
/// pipeline copies at the output size, the WebP encoder's own canvases
/// (previous, current, disposed, candidates), and the encoded output,
/// which grows with every frame: at most about two bytes an output pixel
/// a frame (an LZW worst case; WebP stays far below).
pub(crate) fn estimate_peak_memory(
    source: &Source,
    source_len: u64,
    plan: &Plan,
    blur: bool,
) -> u64 {
    const BYTES_PER_PIXEL: u64 = 4;
    const BASE: u64 = 2 * 1024 * 1024;
    let header = &source.header;
    let canvas = u64::from(header.width) * u64::from(header.height) * BYTES_PER_PIXEL;
    let (out_w, out_h) = plan.final_size();
    let output_pixels = u64::from(out_w) * u64::from(out_h);
    let output = output_pixels * BYTES_PER_PIXEL;
    let resized = u64::from(plan.out_width) * u64::from(plan.out_height) * BYTES_PER_PIXEL;
    let blur = if blur { 2 * 4 * resized } else { 0 };
    let encoded = u64::from(header.frames) * output_pixels * 2;
    BASE + source_len + 5 * canvas + 10 * output + blur + encoded
}

#[cfg(test)]
mod tests;
