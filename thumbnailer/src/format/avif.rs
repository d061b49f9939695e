//! AVIF in, through libavif (dav1d) by way of `codecs::avif`: the container
//! header (size, alpha, `irot`/`imir`, ICC) before any AV1 data is decoded,
//! then the first image as 8-bit samples, on the calling pool thread.

use codecs::avif::{self, AvifError, AvifErrorKind, DecodeLimits};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::{Decoded, Header, SourceColour};
use crate::job::Limits;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_data::corpus_file;

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
