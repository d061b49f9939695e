//! WebP out, through libwebp: lossy at the job's quality, lossless at 100,
//! with the job's effort as libwebp's `method`.

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::job::{clamp_quality, EncodeOptions};

pub(crate) fn encode_webp(bitmap: Bitmap, options: &EncodeOptions) -> Result<Vec<u8>, Error> {
    let encoder = match bitmap.layout {
        Layout::Rgba => webp::Encoder::from_rgba(&bitmap.data, bitmap.width, bitmap.height),
        _ => webp::Encoder::from_rgb(&bitmap.data, bitmap.width, bitmap.height),
    };
    let quality = clamp_quality(options.webp_quality);
    let mut config =
        webp::WebPConfig::new().map_err(|()| Error::internal("webp: no encoder configuration"))?;
    config.lossless = i32::from(quality == 100);
    // Lossy alpha is compressed losslessly on its own plane, as before.
    config.alpha_compression = i32::from(quality != 100);
    config.quality = f32::from(quality);
    config.method = i32::from(options.webp_effort.min(6));
    let memory = encoder
        .encode_advanced(&config)
        .map_err(|e| Error::internal(format!("webp encode failed: {e:?}")))?;
    Ok(memory.to_vec())
}
