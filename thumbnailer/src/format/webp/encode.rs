//! WebP out, through libwebp: lossy at the job's quality, lossless at 100.

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::job::{clamp_quality, EncodeOptions};

pub(crate) fn encode_webp(bitmap: Bitmap, options: &EncodeOptions) -> Result<Vec<u8>, Error> {
    let encoder = match bitmap.layout {
        Layout::Rgba => webp::Encoder::from_rgba(&bitmap.data, bitmap.width, bitmap.height),
        _ => webp::Encoder::from_rgb(&bitmap.data, bitmap.width, bitmap.height),
    };
    let quality = clamp_quality(options.webp_quality);
    let lossless = quality == 100;
    let memory = encoder
        .encode_simple(lossless, f32::from(quality))
        .map_err(|e| Error::internal(format!("webp encode failed: {e:?}")))?;
    Ok(memory.to_vec())
}
