//! Shared glue for decoders reached through the `image` crate: its limits,
//! its errors, and its pixel types mapped onto ours.

use image::{DynamicImage, ImageDecoder, ImageError};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::{Decoded, Header, SourceColour};
use crate::job::Limits;
use crate::processing::orient::Orientation;

/// The decoder's view of EXIF orientation; unreadable means "as stored".
pub(crate) fn orientation(decoder: &mut impl ImageDecoder) -> Orientation {
    decoder
        .orientation()
        .map(|o| Orientation::from_exif_value(u32::from(o.to_exif())))
        .unwrap_or(Orientation::Normal)
}

/// Memory the decoder may hold: the declared canvas at the widest sample type
/// (16-bit RGBA) plus room for metadata and line buffers. The pixel check has
/// already passed, so this only stops decoders that allocate beyond the canvas.
pub(crate) fn limits_for(header: &Header, limits: &Limits) -> image::Limits {
    let canvas = u64::from(header.width) * u64::from(header.height);
    let mut l = image::Limits::default();
    l.max_image_width = Some(header.width.max(1));
    l.max_image_height = Some(header.height.max(1));
    l.max_alloc = Some(canvas.min(limits.max_pixels).saturating_mul(8) + (32 << 20));
    l
}

pub(crate) fn decode_error(e: ImageError) -> Error {
    match e {
        ImageError::Limits(l) => Error::too_large(format!("decoder limit: {l}").to_lowercase()),
        ImageError::Unsupported(u) => {
            Error::unsupported(format!("unsupported image: {u}").to_lowercase())
        }
        other => Error::unsupported(format!("corrupt image: {other}").to_lowercase()),
    }
}

/// Decodes the first frame, under the memory limits the header allows, and
/// converts it to 8-bit gray, RGB or RGBA. The limits are set here, not by
/// each format, so no decoder can run without them.
pub(crate) fn decode_first_frame(
    mut decoder: impl ImageDecoder,
    header: &Header,
    limits: &Limits,
) -> Result<Decoded, Error> {
    decoder
        .set_limits(limits_for(header, limits))
        .map_err(decode_error)?;
    let icc = decoder.icc_profile().ok().flatten();
    let image = DynamicImage::from_decoder(decoder).map_err(decode_error)?;
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 {
        return Err(Error::unsupported(format!(
            "image is {width}x{height}, which has no pixels"
        )));
    }
    let (layout, colour, data) = match image {
        DynamicImage::ImageLuma8(b) => (Layout::Gray, SourceColour::Gray, b.into_raw()),
        DynamicImage::ImageRgb8(b) => (Layout::Rgb, SourceColour::Rgb, b.into_raw()),
        DynamicImage::ImageRgba8(b) => (Layout::Rgba, SourceColour::Rgb, b.into_raw()),
        DynamicImage::ImageLuma16(_) => (
            Layout::Gray,
            SourceColour::Gray,
            image.to_luma8().into_raw(),
        ),
        DynamicImage::ImageLumaA8(_) | DynamicImage::ImageLumaA16(_) => (
            Layout::Rgba,
            SourceColour::Gray,
            image.to_rgba8().into_raw(),
        ),
        other if other.color().has_alpha() => {
            (Layout::Rgba, SourceColour::Rgb, other.to_rgba8().into_raw())
        }
        other => (Layout::Rgb, SourceColour::Rgb, other.to_rgb8().into_raw()),
    };
    Ok(Decoded {
        bitmap: Bitmap::new(width, height, layout, data)?,
        colour,
        icc,
        from_palette: false,
    })
}
