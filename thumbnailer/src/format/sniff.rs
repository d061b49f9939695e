//! Tells the container format from the first bytes of the data. File names and
//! declared content types are never consulted: they are attacker-controlled.

/// Image container formats the crate can recognise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Jpeg,
    Png,
    Gif,
    Webp,
    Tiff,
    Avif,
    Jxl,
    /// HEIF with HEVC: decoded only when built with the `heic` feature.
    Heic,
}

impl ImageFormat {
    /// The Content-Type for this format.
    pub fn mime_type(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "image/jpeg",
            ImageFormat::Png => "image/png",
            ImageFormat::Gif => "image/gif",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Tiff => "image/tiff",
            ImageFormat::Avif => "image/avif",
            ImageFormat::Jxl => "image/jxl",
            ImageFormat::Heic => "image/heic",
        }
    }

    /// The short lower-case name nginx's `image_filter size` uses in its JSON
    /// (`"type": "jpeg"`), and our logs.
    pub fn name(self) -> &'static str {
        match self {
            ImageFormat::Jpeg => "jpeg",
            ImageFormat::Png => "png",
            ImageFormat::Gif => "gif",
            ImageFormat::Webp => "webp",
            ImageFormat::Tiff => "tiff",
            ImageFormat::Avif => "avif",
            ImageFormat::Jxl => "jxl",
            ImageFormat::Heic => "heic",
        }
    }

    /// Recognises the format from magic bytes; `None` for anything else.
    pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
        if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
            Some(ImageFormat::Jpeg)
        } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(ImageFormat::Png)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(ImageFormat::Gif)
        } else if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
            Some(ImageFormat::Webp)
        } else if bytes.starts_with(b"II*\0")
            || bytes.starts_with(b"MM\0*")
            || bytes.starts_with(b"II+\0")
            || bytes.starts_with(b"MM\0+")
        {
            Some(ImageFormat::Tiff)
        } else if is_avif(bytes) {
            Some(ImageFormat::Avif)
        } else if crate::format::jxl::is_jxl(bytes) {
            Some(ImageFormat::Jxl)
        } else if is_heic(bytes) {
            Some(ImageFormat::Heic)
        } else {
            None
        }
    }
}

/// An ISO-BMFF file is AVIF when its leading `ftyp` box names an AVIF brand,
/// either as the major brand or among the compatible ones (HEIC files share the
/// box structure, so the brand is what tells them apart).
fn is_avif(bytes: &[u8]) -> bool {
    has_ftyp_brand(bytes, |b| b == b"avif" || b == b"avis")
}

/// HEIF with HEVC images or sequences, by the same rule; asked after
/// [`is_avif`], so a file naming both is AVIF.
fn is_heic(bytes: &[u8]) -> bool {
    has_ftyp_brand(bytes, |b| {
        matches!(b, b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx")
    })
}

fn has_ftyp_brand(bytes: &[u8], wanted: impl Fn(&[u8]) -> bool) -> bool {
    if bytes.len() < 16 || &bytes[4..8] != b"ftyp" {
        return false;
    }
    let declared = u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]) as usize;
    let box_end = declared.min(bytes.len());
    if box_end < 16 {
        return false;
    }
    if wanted(&bytes[8..12]) {
        return true;
    }
    // Skip major brand (4) and minor version (4), then 4-byte compatible brands.
    bytes[16..box_end].chunks_exact(4).any(wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_bytes_table() {
        let table: &[(&[u8], Option<ImageFormat>)] = &[
            (b"\xFF\xD8\xFF\xE0\0\x10JFIF", Some(ImageFormat::Jpeg)),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some(ImageFormat::Png)),
            (b"GIF89a\x01\0\x01\0", Some(ImageFormat::Gif)),
            (b"GIF87a\x01\0\x01\0", Some(ImageFormat::Gif)),
            (b"RIFF\x10\0\0\0WEBPVP8 ", Some(ImageFormat::Webp)),
            (b"RIFF\x10\0\0\0AVI LIST", None),
            (b"II*\0\x08\0\0\0", Some(ImageFormat::Tiff)),
            (b"MM\0*\0\0\0\x08", Some(ImageFormat::Tiff)),
            (
                b"\0\0\0\x1cftypavif\0\0\0\0avifmif1",
                Some(ImageFormat::Avif),
            ),
            (
                b"\0\0\0\x1cftypmif1\0\0\0\0mif1avif",
                Some(ImageFormat::Avif),
            ),
            (
                b"\0\0\0\x18ftypheic\0\0\0\0mif1heic",
                Some(ImageFormat::Heic),
            ),
            (
                b"\0\0\0\x18ftypmif1\0\0\0\0mif1heix",
                Some(ImageFormat::Heic),
            ),
            (b"\0\0\0\x14ftypmif1\0\0\0\0mif1", None),
            (b"\xFF\x0A\xFA\x7F", Some(ImageFormat::Jxl)),
            (b"\xFF\xD8", None),
            (b"<svg xmlns=", None),
            (b"", None),
        ];
        for (bytes, want) in table {
            assert_eq!(ImageFormat::sniff(bytes), *want, "{bytes:?}");
        }
    }

    #[test]
    fn mime_types() {
        assert_eq!(ImageFormat::Jpeg.mime_type(), "image/jpeg");
        assert_eq!(ImageFormat::Png.mime_type(), "image/png");
        assert_eq!(ImageFormat::Gif.mime_type(), "image/gif");
        assert_eq!(ImageFormat::Webp.mime_type(), "image/webp");
        assert_eq!(ImageFormat::Tiff.mime_type(), "image/tiff");
        assert_eq!(ImageFormat::Avif.mime_type(), "image/avif");
        for f in [
            ImageFormat::Jpeg,
            ImageFormat::Png,
            ImageFormat::Gif,
            ImageFormat::Webp,
            ImageFormat::Tiff,
            ImageFormat::Avif,
        ] {
            assert_eq!(f.mime_type(), format!("image/{}", f.name()));
        }
    }
}
