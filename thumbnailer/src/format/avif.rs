//! AVIF in and out, through libavif by way of `codecs::avif`. In (dav1d):
//! the container header (size, alpha, `irot`/`imir`, ICC) before any AV1
//! data is decoded, then the first image as 8-bit samples. Out (libaom):
//! 8-bit 4:2:0 tagged sRGB, alpha kept. Both on the calling pool thread.

use codecs::avif::{self, AvifError, AvifErrorKind, DecodeLimits, EncodeSettings, PixelLayout};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::{Decoded, Header, SourceColour};
use crate::job::{EncodeOptions, Limits};
use crate::processing::orient::Orientation;

fn error(e: AvifError) -> Error {
    match e.kind {
        AvifErrorKind::Invalid => Error::unsupported(e.message),
        AvifErrorKind::TooLarge => Error::too_large(e.message),
        AvifErrorKind::Internal => Error::internal(e.message),
    }
}

pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    let header = avif::read_header(data).map_err(error)?;
    Ok(Header {
        width: header.width,
        height: header.height,
        frames: 1,
        orientation: Orientation::from_exif_value(u32::from(header.exif_orientation)),
    })
}

/// The first image; the turn its `irot`/`imir` ask for is left to the
/// orientation step, as for an EXIF orientation.
pub(crate) fn decode(data: &[u8], _header: &Header, limits: &Limits) -> Result<Decoded, Error> {
    // codecs::avif checks the declared size against the same limit before
    // the AV1 decoder allocates, and libavif again while parsing.
    let decoded = avif::decode(
        data,
        &DecodeLimits {
            max_pixels: limits.max_pixels,
            threads: 1,
        },
    )
    .map_err(error)?;
    let layout = if decoded.has_alpha {
        Layout::Rgba
    } else {
        Layout::Rgb
    };
    Ok(Decoded {
        bitmap: Bitmap::new(decoded.width, decoded.height, layout, decoded.pixels)?,
        colour: SourceColour::Rgb,
        // Without a profile the samples are taken as sRGB; files that say
        // BT.2020 or PQ by their code points alone are shown as if sRGB.
        icc: decoded.header.icc,
        from_palette: false,
    })
}

/// Encodes the thumbnail at the job's AVIF quality and speed. One encoder
/// thread: the pool already runs one job per core.
pub(crate) fn encode_avif(bitmap: Bitmap, options: &EncodeOptions) -> Result<Vec<u8>, Error> {
    let bitmap = bitmap.drop_opaque_alpha().into_rgb_or_rgba();
    let layout = match bitmap.layout {
        Layout::Rgba => PixelLayout::Rgba,
        _ => PixelLayout::Rgb,
    };
    let settings = EncodeSettings {
        quality: options.avif_quality.min(100),
        speed: options.avif_speed.min(10),
        threads: 1,
    };
    avif::encode(&bitmap.data, layout, bitmap.width, bitmap.height, &settings).map_err(error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::corpus_file;

    fn gradient(layout: Layout, alpha: u8) -> Bitmap {
        let (w, h) = (96u32, 64u32);
        let data = (0..h)
            .flat_map(|y| {
                (0..w).flat_map(move |x| {
                    let px = [(x * 2) as u8, (y * 3) as u8, 160, alpha];
                    px.into_iter().take(layout.channels())
                })
            })
            .collect();
        Bitmap::new(w, h, layout, data).unwrap()
    }

    /// Mean absolute difference per sample between two equal-sized
    /// bitmaps of the same layout.
    fn mean_difference(a: &Bitmap, b: &Bitmap) -> f64 {
        assert_eq!((a.width, a.height, a.layout), (b.width, b.height, b.layout));
        let sum: u64 = a
            .data
            .iter()
            .zip(&b.data)
            .map(|(&x, &y)| u64::from(x.abs_diff(y)))
            .sum();
        sum as f64 / a.data.len() as f64
    }

    #[test]
    fn encode_round_trips_opaque_and_transparent_pixels() {
        for (layout, alpha) in [(Layout::Rgb, 255), (Layout::Rgba, 255), (Layout::Rgba, 96)] {
            let source = gradient(layout, alpha);
            let bytes = encode_avif(source.clone(), &EncodeOptions::default()).unwrap();
            assert_eq!(
                crate::format::ImageFormat::sniff(&bytes),
                Some(crate::format::ImageFormat::Avif)
            );
            let header = read_header(&bytes).unwrap();
            assert_eq!((header.width, header.height), (96, 64));
            let decoded = decode(&bytes, &header, &Limits::default()).unwrap().bitmap;
            // An opaque alpha channel is not written.
            let want = if alpha == 255 {
                Layout::Rgb
            } else {
                Layout::Rgba
            };
            assert_eq!(decoded.layout, want, "{layout:?} alpha {alpha}");
            let reference = if alpha == 255 {
                source.drop_opaque_alpha().into_rgb_or_rgba()
            } else {
                source
            };
            let difference = mean_difference(&decoded, &reference);
            assert!(difference < 3.0, "{layout:?}: mean difference {difference}");
            if alpha != 255 {
                assert!(decoded
                    .data
                    .chunks_exact(4)
                    .all(|p| p[3].abs_diff(alpha) <= 2));
            }
        }
    }

    #[test]
    fn quality_and_speed_change_the_bytes() {
        let mut options = EncodeOptions::default();
        let default = encode_avif(gradient(Layout::Rgb, 255), &options).unwrap();
        options.avif_quality = 20;
        let coarse = encode_avif(gradient(Layout::Rgb, 255), &options).unwrap();
        assert!(
            coarse.len() < default.len(),
            "{} !< {}",
            coarse.len(),
            default.len()
        );
        options.avif_quality = 63;
        options.avif_speed = 10;
        let fastest = encode_avif(gradient(Layout::Rgb, 255), &options).unwrap();
        assert_ne!(fastest, default);
    }

    #[test]
    fn header_before_pixels_then_decode_with_orientation_and_alpha() {
        let Some(rotated) = corpus_file("valid/avif/rot1mir0.avif") else {
            return;
        };
        let header = read_header(&rotated).unwrap();
        assert_ne!(header.orientation, Orientation::Normal);
        let decoded = decode(&rotated, &header, &Limits::default()).unwrap();
        assert_eq!(
            (decoded.bitmap.width, decoded.bitmap.height),
            (header.width, header.height),
            "decoded as stored; the orientation step turns it"
        );
        let Some(alpha) = corpus_file("valid/avif/transparency.avif") else {
            return;
        };
        let header = read_header(&alpha).unwrap();
        let decoded = decode(&alpha, &header, &Limits::default()).unwrap();
        assert_eq!(decoded.bitmap.layout, Layout::Rgba);
        assert!(decoded.bitmap.has_transparency());
    }

    #[test]
    fn the_size_bomb_and_truncated_files_are_refused() {
        let Some(bomb) = corpus_file("invalid/bombs/gen_avif_ispe_65535x65535_from_hopper.avif")
        else {
            return;
        };
        let class = match read_header(&bomb) {
            Err(e) => e.class(),
            Ok(h) => decode(&bomb, &h, &Limits::default()).unwrap_err().class(),
        };
        assert_eq!(class, crate::error::ErrorClass::TooLarge);
        let Some(cut) = corpus_file("invalid/avif/gen/trunc_half.avif") else {
            return;
        };
        let refused = read_header(&cut).and_then(|h| decode(&cut, &h, &Limits::default()));
        assert_eq!(
            refused.unwrap_err().class(),
            crate::error::ErrorClass::Unsupported
        );
    }
}
