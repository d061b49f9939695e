//! Writes the final bitmap as JPEG (libjpeg-turbo), PNG (`png` via `image`)
//! or WebP (libwebp). Only pixels are written: no EXIF, XMP, comments, ICC or
//! trailing bytes of the source can reach the output.

use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use image::{ExtendedColorType, ImageEncoder};
use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::operation::{clamp_quality, EncodeOptions, OutputFormat};
use crate::sniff::ImageFormat;

/// The format to write: the requested one, or for `Original` the input's own
/// where we have an encoder, else PNG for transparent images and JPEG otherwise.
pub(crate) fn choose_format(
    requested: OutputFormat,
    input: ImageFormat,
    has_alpha: bool,
) -> ImageFormat {
    match requested {
        OutputFormat::Jpeg => ImageFormat::Jpeg,
        OutputFormat::Png => ImageFormat::Png,
        OutputFormat::Webp => ImageFormat::Webp,
        OutputFormat::Original => match input {
            ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::Webp => input,
            ImageFormat::Gif | ImageFormat::Tiff | ImageFormat::Avif => {
                if has_alpha {
                    ImageFormat::Png
                } else {
                    ImageFormat::Jpeg
                }
            }
        },
    }
}

pub(crate) fn encode(
    bitmap: Bitmap,
    format: ImageFormat,
    options: &EncodeOptions,
) -> Result<Vec<u8>, Error> {
    match format {
        ImageFormat::Jpeg => encode_jpeg(bitmap.flatten(options.background), options),
        ImageFormat::Png => encode_png(bitmap.drop_opaque_alpha()),
        ImageFormat::Webp => encode_webp(bitmap.drop_opaque_alpha().into_rgb_or_rgba(), options),
        other => Err(Error::internal(format!(
            "no encoder for {}",
            other.mime_type()
        ))),
    }
}

fn jpeg_error(e: turbojpeg::Error) -> Error {
    Error::internal(format!("jpeg encode failed: {e}"))
}

fn encode_jpeg(bitmap: Bitmap, options: &EncodeOptions) -> Result<Vec<u8>, Error> {
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

fn encode_png(bitmap: Bitmap) -> Result<Vec<u8>, Error> {
    let colour = match bitmap.layout {
        Layout::Gray => ExtendedColorType::L8,
        Layout::Rgb => ExtendedColorType::Rgb8,
        Layout::Rgba => ExtendedColorType::Rgba8,
    };
    let mut out = Vec::new();
    // Fast deflate: thumbnails are small and served from cache; the level
    // matters far less than latency.
    PngEncoder::new_with_quality(&mut out, CompressionType::Fast, FilterType::Adaptive)
        .write_image(&bitmap.data, bitmap.width, bitmap.height, colour)
        .map_err(|e| Error::internal(format!("png encode failed: {e}")))?;
    Ok(out)
}

fn encode_webp(bitmap: Bitmap, options: &EncodeOptions) -> Result<Vec<u8>, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn original_format_table() {
        let table = [
            (ImageFormat::Jpeg, false, ImageFormat::Jpeg),
            (ImageFormat::Png, true, ImageFormat::Png),
            (ImageFormat::Png, false, ImageFormat::Png),
            (ImageFormat::Webp, true, ImageFormat::Webp),
            (ImageFormat::Gif, true, ImageFormat::Png),
            (ImageFormat::Gif, false, ImageFormat::Jpeg),
            (ImageFormat::Tiff, false, ImageFormat::Jpeg),
            (ImageFormat::Avif, true, ImageFormat::Png),
        ];
        for (input, alpha, want) in table {
            assert_eq!(
                choose_format(OutputFormat::Original, input, alpha),
                want,
                "{input:?}"
            );
        }
        assert_eq!(
            choose_format(OutputFormat::Webp, ImageFormat::Jpeg, false),
            ImageFormat::Webp
        );
        assert_eq!(
            choose_format(OutputFormat::Jpeg, ImageFormat::Png, true),
            ImageFormat::Jpeg
        );
        assert_eq!(
            choose_format(OutputFormat::Png, ImageFormat::Jpeg, false),
            ImageFormat::Png
        );
    }

    fn gradient(layout: Layout) -> Bitmap {
        let (w, h) = (64u32, 48u32);
        let mut data = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let px = [(x * 4) as u8, (y * 5) as u8, 128, 200];
                data.extend_from_slice(&px[..layout.channels()]);
            }
        }
        Bitmap::new(w, h, layout, data).unwrap()
    }

    #[test]
    fn every_encoder_writes_its_magic_bytes() {
        let opts = EncodeOptions::default();
        for layout in [Layout::Gray, Layout::Rgb, Layout::Rgba] {
            for format in [ImageFormat::Jpeg, ImageFormat::Png, ImageFormat::Webp] {
                let bytes = encode(gradient(layout), format, &opts).unwrap();
                assert_eq!(
                    ImageFormat::sniff(&bytes),
                    Some(format),
                    "{layout:?} {format:?}"
                );
            }
        }
    }

    #[test]
    fn jpeg_quality_and_progressive_change_the_bytes() {
        let mut opts = EncodeOptions::default();
        let q82 = encode(gradient(Layout::Rgb), ImageFormat::Jpeg, &opts).unwrap();
        opts.jpeg_quality = 30;
        let q30 = encode(gradient(Layout::Rgb), ImageFormat::Jpeg, &opts).unwrap();
        assert!(q30.len() < q82.len(), "{} !< {}", q30.len(), q82.len());
        opts.interlace = true;
        let progressive = encode(gradient(Layout::Rgb), ImageFormat::Jpeg, &opts).unwrap();
        let header = turbojpeg::read_header(&progressive).unwrap();
        assert!(header.is_progressive);
        assert_eq!(header.subsamp, Subsamp::Sub2x2);
    }
}
