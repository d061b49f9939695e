//! JPEG out, through libjpeg-turbo: baseline or progressive, 4:2:0.

use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::job::{clamp_quality, EncodeOptions};

fn jpeg_error(e: turbojpeg::Error) -> Error {
    Error::internal(format!("jpeg encode failed: {e}"))
}

pub(crate) fn encode_jpeg(bitmap: Bitmap, options: &EncodeOptions) -> Result<Vec<u8>, Error> {
    let (format, subsamp) = match bitmap.layout {
        Layout::Gray => (PixelFormat::GRAY, Subsamp::Gray),
        // 4:2:0: the chroma resolution eyes cannot tell apart at thumbnail sizes.
        _ => (PixelFormat::RGB, Subsamp::Sub2x2),
    };
    let mut compressor = Compressor::new().map_err(jpeg_error)?;
    compressor
        .set_quality(i32::from(clamp_quality(options.jpeg_quality)))
        .map_err(jpeg_error)?;
    compressor.set_subsamp(subsamp).map_err(jpeg_error)?;
    // Optimised Huffman tables cost little at thumbnail sizes and save ~5%.
    compressor.set_optimize(true).map_err(jpeg_error)?;
    compressor
        .set_progressive(options.interlace)
        .map_err(jpeg_error)?;
    let image = Image {
        pixels: bitmap.data.as_slice(),
        width: bitmap.width as usize,
        pitch: bitmap.row_bytes(),
        height: bitmap.height as usize,
        format,
    };
    compressor.compress_to_vec(image).map_err(jpeg_error)
}
