//! The whole job in one readable function: every step, in order.

use crate::adjust;
use crate::colour;
use crate::decode;
use crate::encode;
use crate::error::Error;
use crate::geometry;
use crate::limits;
use crate::operation::Job;
use crate::orient;
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

/// The whole pipeline: sniff -> limits from header -> decode -> orient ->
/// (smart crop placement) -> resize -> adjust -> pad -> encode. Runs on any
/// thread, owns nothing global.
pub fn make_thumbnail(input: &[u8], job: &Job) -> Result<Thumbnail, Error> {
    limits::check_source_size(input.len(), &job.limits)?;
    let format =
        ImageFormat::sniff(input).ok_or_else(|| Error::unsupported("unsupported image format"))?;
    let header = decode::read_header(input, format)?;
    limits::check_pixels(header.width, header.height, header.frames, &job.limits)?;

    let (upright_w, upright_h) = header.orientation.upright_size(header.width, header.height);
    let plan = geometry::plan(upright_w, upright_h, &job.geometry);
    place::check_canvas(&plan, &job.limits)?;

    let decoded = decode::decode(input, format, &header, plan.shrink_on_load(), &job.limits)?;
    let bitmap = colour::to_srgb(decoded)?;
    let bitmap = orient::apply(bitmap, header.orientation);
    let plan = place::refine_smart(plan, &bitmap);
    let bitmap = resize::apply(bitmap, &plan)?;
    // Adjust before padding so the padding stays exactly the background.
    let bitmap = adjust::apply(bitmap, &job.adjust);
    let bitmap = place::pad(bitmap, &plan, job.encode.background)?;

    let out_format = encode::choose_format(job.encode.format, format, bitmap.has_transparency());
    let (width, height) = (bitmap.width, bitmap.height);
    let bytes = encode::encode(bitmap, out_format, &job.encode)?;
    Ok(Thumbnail {
        bytes,
        format: out_format,
        width,
        height,
    })
}
