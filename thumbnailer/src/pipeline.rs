//! The whole job in one readable function: every step, in order. The steps
//! up to an upright sRGB bitmap (`decode_upright`) are split from the steps
//! after it (`finish`) so that several sizes can be made from one decode
//! (see `decode_cache`).

use crate::adjust;
use crate::bitmap::Bitmap;
use crate::colour;
use crate::decode::{self, Header};
use crate::encode;
use crate::error::Error;
use crate::geometry::{self, Plan};
use crate::limits;
use crate::operation::{Geometry, Job, Limits, Transparency};
use crate::orient::{self, Orientation};
use crate::place;
use crate::resize;
use crate::sniff::ImageFormat;

/// An encoded thumbnail and what it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Thumbnail {
    pub bytes: Vec<u8>,
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
}

/// The whole pipeline: sniff -> limits from header -> decode -> colour ->
/// orient -> (smart crop placement) -> resize -> blur -> adjust -> sharpen
/// -> pad -> rotate and flip -> (flatten) -> encode.
/// Runs on any thread, owns nothing global.
pub fn make_thumbnail(input: &[u8], job: &Job) -> Result<Thumbnail, Error> {
    let source = Source::inspect(input, &job.limits)?;
    let plan = source.plan(&job.geometry, &job.limits)?;
    let upright = decode_upright(input, &source, plan.shrink_on_load(), &job.limits)?;
    finish(&upright, plan, job)
}

/// What the header says about an original, after the limits that need no
/// pixels were checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Source {
    pub format: ImageFormat,
    pub header: Header,
}

impl Source {
    /// Sniff, the byte limit, the header, the pixel limit.
    pub fn inspect(input: &[u8], limits: &Limits) -> Result<Source, Error> {
        Self::inspect_head(input, input.len() as u64, limits)
    }

    /// [`Source::inspect`] from the first bytes of an original of
    /// `source_len` bytes; an error when the header lies beyond them.
    pub fn inspect_head(head: &[u8], source_len: u64, limits: &Limits) -> Result<Source, Error> {
        limits::check_source_size(source_len, limits)?;
        let format = ImageFormat::sniff(head)
            .ok_or_else(|| Error::unsupported("unsupported image format"))?;
        let header = decode::read_header(head, format)?;
        limits::check_pixels(header.width, header.height, header.frames, limits)?;
        Ok(Source { format, header })
    }

    /// The geometry plan for the upright image, its canvas checked.
    pub fn plan(&self, geometry: &Geometry, limits: &Limits) -> Result<Plan, Error> {
        let (upright_w, upright_h) = self
            .header
            .orientation
            .upright_size(self.header.width, self.header.height);
        let plan = geometry::plan(upright_w, upright_h, geometry);
        place::check_canvas(&plan, limits)?;
        Ok(plan)
    }
}

/// A decoded original, upright and in sRGB, at some shrink-on-load scale:
/// what every size of that original starts from.
#[derive(Debug)]
pub(crate) struct Upright {
    pub bitmap: Bitmap,
    pub source_format: ImageFormat,
    /// The JPEG DCT reduction it was decoded at (1 for other formats, which
    /// always decode whole): usable for any plan allowing this much or more.
    pub shrink: u32,
    pub from_palette: bool,
}

impl Upright {
    pub fn bytes(&self) -> usize {
        self.bitmap.data.len()
    }
}

/// Decode -> colour -> orient. `shrink` is the reduction the decoder may
/// apply; only JPEG uses it.
pub(crate) fn decode_upright(
    input: &[u8],
    source: &Source,
    shrink: u32,
    limits: &Limits,
) -> Result<Upright, Error> {
    let decoded = decode::decode(input, source.format, &source.header, shrink, limits)?;
    let from_palette = decoded.from_palette;
    let bitmap = colour::to_srgb(decoded)?;
    let bitmap = orient::apply(bitmap, source.header.orientation);
    Ok(Upright {
        bitmap,
        source_format: source.format,
        shrink: if source.format == ImageFormat::Jpeg {
            shrink
        } else {
            1
        },
        from_palette,
    })
}

/// (Smart crop placement) -> resize -> blur -> adjust -> sharpen -> pad ->
/// rotate and flip -> (flatten) -> encode, reading the upright bitmap without
/// consuming it.
pub(crate) fn finish(upright: &Upright, plan: Plan, job: &Job) -> Result<Thumbnail, Error> {
    let plan = place::refine_smart(plan, &upright.bitmap);
    let bitmap = resize::apply(&upright.bitmap, &plan)?;
    // Blur, the colour adjustments and libgd's sharpen, in that order, all
    // before padding so the padding stays exactly the background. (nginx
    // sharpens its final image; the kernel treats every direction alike, so
    // the turn and flip after it change nothing.)
    let bitmap = adjust::apply(bitmap, &job.adjust);
    let bitmap = place::pad(bitmap, &plan, job.encode.background)?;
    // The plan was made for the image before the turn (see `Geometry`).
    let turn = Orientation::of_turn(job.geometry.rotate, job.geometry.flip);
    let bitmap = orient::apply(bitmap, turn);
    let bitmap = match job.transparency {
        Transparency::Keep => bitmap,
        Transparency::Flatten => bitmap.flatten(job.encode.background),
    };

    let out_format = encode::choose_format(
        job.encode.format,
        upright.source_format,
        bitmap.has_transparency(),
    );
    let (width, height) = (bitmap.width, bitmap.height);
    let bytes = encode::encode_with_source(bitmap, out_format, &job.encode, upright.from_palette)?;
    Ok(Thumbnail {
        bytes,
        format: out_format,
        width,
        height,
    })
}
