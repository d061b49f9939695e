//! HEIC in, when the crate is built with its `heic` feature: libheif (with
//! libde265) through `libheif-rs`. Off by default because Debian's libheif
//! links libx265 (GPL-2+), which puts a binary built with it under GPL
//! terms. Without the feature a HEIC original is recognised and refused
//! with 415, saying why.
//!
//! libheif applies the container's `irot`/`imir` itself and reports the
//! size after them, so the orientation step has nothing left to do; the
//! EXIF orientation of a HEIC file is not applied on top (HEIF says the
//! container's transforms win).

use crate::error::Error;
use crate::format::{Decoded, Header};
use crate::job::Limits;

/// Bytes a pixel may take while libheif decodes: the HEVC decoder's YUV
/// planes (up to 16 bits a sample, 3 planes) and the interleaved RGBA
/// image it converts them to.
pub(crate) const WORK_BYTES_PER_PIXEL: u64 = 10;

#[cfg(feature = "heic")]
mod libheif {
    use libheif_rs::{ColorProfile, ColorSpace, HeifContext, ImageHandle, LibHeif, RgbChroma};

    use crate::bitmap::{Bitmap, Layout};
    use crate::error::Error;
    use crate::format::{Decoded, Header, SourceColour};
    use crate::job::Limits;
    use crate::limits;
    use crate::processing::orient::Orientation;

    fn error(e: libheif_rs::HeifError) -> Error {
        Error::unsupported(format!("HEIC: {}", e.message))
    }

    fn primary(context: &HeifContext<'_>) -> Result<ImageHandle, Error> {
        context.primary_image_handle().map_err(error)
    }

    /// The primary image's size after the container's transforms; no
    /// HEVC data is decoded.
    pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
        let context = HeifContext::read_from_bytes(data).map_err(error)?;
        let handle = primary(&context)?;
        Ok(Header {
            width: handle.width(),
            height: handle.height(),
            frames: 1,
            orientation: Orientation::Normal,
        })
    }

    /// The primary image as 8-bit RGB or RGBA (deeper images are scaled
    /// down to 8 bits by libheif), after the pixel limit is checked again
    /// on the handle that will be decoded.
    pub(crate) fn decode(data: &[u8], limits: &Limits) -> Result<Decoded, Error> {
        let context = HeifContext::read_from_bytes(data).map_err(error)?;
        let handle = primary(&context)?;
        limits::check_pixels(handle.width(), handle.height(), 1, limits)?;
        let (chroma, layout) = if handle.has_alpha_channel() {
            (RgbChroma::Rgba, Layout::Rgba)
        } else {
            (RgbChroma::Rgb, Layout::Rgb)
        };
        let image = LibHeif::new()
            .decode(&handle, ColorSpace::Rgb(chroma), None)
            .map_err(error)?;
        let planes = image.planes();
        let plane = planes
            .interleaved
            .ok_or_else(|| Error::internal("HEIC: libheif gave no interleaved plane"))?;
        let row = plane.width as usize * layout.channels();
        let mut pixels = Vec::with_capacity(row * plane.height as usize);
        for line in plane.data.chunks(plane.stride).take(plane.height as usize) {
            let line = line
                .get(..row)
                .ok_or_else(|| Error::internal("HEIC: a row shorter than its width"))?;
            pixels.extend_from_slice(line);
        }
        let icc = handle
            .color_profile_raw()
            .filter(|p| p.profile_type() == libheif_rs::color_profile_types::PROF)
            .map(|p| p.data);
        Ok(Decoded {
            bitmap: Bitmap::new(plane.width, plane.height, layout, pixels)?,
            colour: SourceColour::Rgb,
            icc,
            from_palette: false,
        })
    }
}

#[cfg(feature = "heic")]
pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    libheif::read_header(data)
}

#[cfg(feature = "heic")]
pub(crate) fn decode(data: &[u8], _header: &Header, limits: &Limits) -> Result<Decoded, Error> {
    libheif::decode(data, limits)
}

#[cfg(not(feature = "heic"))]
fn not_built() -> Error {
    Error::unsupported("HEIC input is not built in (the heic feature, which links libheif)")
}

#[cfg(not(feature = "heic"))]
pub(crate) fn read_header(_data: &[u8]) -> Result<Header, Error> {
    Err(not_built())
}

#[cfg(not(feature = "heic"))]
pub(crate) fn decode(_data: &[u8], _header: &Header, _limits: &Limits) -> Result<Decoded, Error> {
    Err(not_built())
}

#[cfg(all(test, feature = "heic"))]
mod tests {
    use super::*;
    use crate::format::ImageFormat;

    fn sample(name: &str) -> Vec<u8> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
        std::fs::read(format!("{path}{name}")).unwrap()
    }

    /// The pixels the test files (tests/data/, made by libheif's heif-enc at
    /// -q 90 from PNGs drawn with these formulas) were encoded from.
    fn expected(name: &str, x: u32, y: u32) -> Vec<u8> {
        match name {
            "gradient.heic" | "deep10.heic" => {
                vec![(x * 255 / 95) as u8, (y * 255 / 63) as u8, 128]
            }
            _ => vec![
                200,
                (x * 255 / 63) as u8,
                (y * 255 / 47) as u8,
                (x * 255 / 63) as u8,
            ],
        }
    }

    #[test]
    fn header_then_pixels_of_an_opaque_and_a_transparent_file() {
        for (name, size, layout) in [
            ("gradient.heic", (96, 64), crate::bitmap::Layout::Rgb),
            // 10 bits a sample, from a 16-bit PNG: read as 8.
            ("deep10.heic", (96, 64), crate::bitmap::Layout::Rgb),
            ("alpha.heic", (64, 48), crate::bitmap::Layout::Rgba),
        ] {
            let data = sample(name);
            assert_eq!(ImageFormat::sniff(&data), Some(ImageFormat::Heic), "{name}");
            let header = read_header(&data).unwrap();
            assert_eq!((header.width, header.height), size, "{name}");
            let decoded = decode(&data, &header, &Limits::default()).unwrap();
            assert_eq!(decoded.bitmap.layout, layout, "{name}");
            assert_eq!((decoded.bitmap.width, decoded.bitmap.height), size);
            let channels = layout.channels();
            let (mut sum, mut alpha_sum, mut samples) = (0u64, 0u64, 0u64);
            for (i, pixel) in decoded.bitmap.data.chunks_exact(channels).enumerate() {
                let (x, y) = (i as u32 % size.0, i as u32 / size.0);
                let want = expected(name, x, y);
                let weight = u64::from(*want.get(3).unwrap_or(&255));
                for c in 0..3 {
                    // Colour under transparency is invisible: weigh by alpha.
                    sum += u64::from(pixel[c].abs_diff(want[c])) * weight / 255;
                }
                if channels == 4 {
                    alpha_sum += u64::from(pixel[3].abs_diff(want[3]));
                }
                samples += 1;
            }
            let mean = sum as f64 / (3 * samples) as f64;
            assert!(mean < 4.0, "{name}: mean colour difference {mean:.2}");
            assert!(
                (alpha_sum as f64 / samples as f64) < 4.0,
                "{name}: mean alpha difference"
            );
        }
    }

    #[test]
    fn the_pixel_limit_is_checked_before_decoding() {
        let data = sample("gradient.heic");
        let header = read_header(&data).unwrap();
        let limits = Limits {
            max_pixels: 1000,
            ..Limits::default()
        };
        let refused = decode(&data, &header, &limits).unwrap_err();
        assert_eq!(refused.class(), crate::error::ErrorClass::TooLarge);
    }

    #[test]
    fn the_whole_pipeline_makes_a_jpeg_or_png_of_it() {
        use crate::job::{Fit, Job, OutputFormat};
        let job = Job::sized(Some(48), Some(48), Fit::Fit, OutputFormat::Original);
        let opaque = crate::make_thumbnail(&sample("gradient.heic"), &job).unwrap();
        assert_eq!(opaque.format, ImageFormat::Jpeg);
        assert_eq!((opaque.width, opaque.height), (48, 32));
        let transparent = crate::make_thumbnail(&sample("alpha.heic"), &job).unwrap();
        assert_eq!(transparent.format, ImageFormat::Png);
        assert_eq!((transparent.width, transparent.height), (48, 36));
    }

    #[test]
    fn truncated_files_are_refused() {
        let data = sample("gradient.heic");
        let cut = &data[..data.len() / 2];
        let refused = read_header(cut).and_then(|h| decode(cut, &h, &Limits::default()));
        assert!(refused.is_err());
    }
}

#[cfg(all(test, not(feature = "heic")))]
mod tests_without_the_feature {
    #[test]
    fn a_heic_original_is_refused_as_unsupported_saying_why() {
        use crate::job::{Fit, Job, OutputFormat};
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/gradient.heic");
        let data = std::fs::read(path).unwrap();
        let job = Job::sized(Some(48), Some(48), Fit::Fit, OutputFormat::Original);
        let refused = crate::make_thumbnail(&data, &job).unwrap_err();
        assert_eq!(refused.class(), crate::error::ErrorClass::Unsupported);
        assert!(refused.to_string().contains("heic feature"), "{refused}");
    }
}
