//! The description of one thumbnail job: target box, fit mode, output encoding
//! and resource limits. Plain data, cheap to copy, hashable for cache keys.

use crate::error::Error;

/// How the source is mapped onto the target box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fit {
    /// Scale down to fit inside the box, keeping the aspect ratio.
    Fit,
    /// Scale to cover the box, then cut the centre to exactly the box.
    Crop,
}

/// The target box. `None` is a free side ("-" in the request).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
}

/// Largest side a request may ask for; matches the largest JPEG/WebP side.
const MAX_REQUESTED_SIDE: u32 = 65535;

impl Geometry {
    /// Parses "350x350", "-x200", "200x-" (decimal digits only, 1..=65535, no
    /// sign, no leading '+', no spaces). "-x-" is an error; "0x10" is an error.
    pub fn parse_size(s: &str) -> Result<(Option<u32>, Option<u32>), Error> {
        let bad = || Error::bad_request(format!("invalid size \"{}\"", s.escape_debug()));
        let (w, h) = s.split_once('x').ok_or_else(bad)?;
        let width = parse_side(w).ok_or_else(bad)?;
        let height = parse_side(h).ok_or_else(bad)?;
        if width.is_none() && height.is_none() {
            return Err(bad());
        }
        Ok((width, height))
    }
}

/// `Some(None)` for "-", `Some(Some(n))` for a valid side, `None` if invalid.
fn parse_side(s: &str) -> Option<Option<u32>> {
    if s == "-" {
        return Some(None);
    }
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: u32 = 0;
    for b in s.bytes() {
        value = value.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
        if value > MAX_REQUESTED_SIDE {
            return None;
        }
    }
    (value >= 1).then_some(Some(value))
}

/// Requested output encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// The input's own format where we can encode it (JPEG, PNG, WebP); other
    /// inputs (GIF, TIFF, AVIF) come out as PNG if they have alpha, else JPEG.
    Original,
    Jpeg,
    Png,
    /// Lossy WebP at `webp_quality`; `webp_quality == 100` selects lossless.
    Webp,
}

/// An sRGB colour, used to flatten alpha when the output has none.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rgb(pub u8, pub u8, pub u8);

/// Everything about the encoder that changes the output bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EncodeOptions {
    pub format: OutputFormat,
    /// 1..=100; out-of-range values are clamped.
    pub jpeg_quality: u8,
    /// 1..=100; 100 means lossless. Out-of-range values are clamped.
    pub webp_quality: u8,
    /// Progressive JPEG. PNG output is never interlaced (larger, slower).
    pub interlace: bool,
    /// Colour behind transparent pixels when the output cannot keep alpha.
    pub background: Rgb,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            format: OutputFormat::Original,
            jpeg_quality: 82,
            webp_quality: 80,
            interlace: false,
            background: Rgb(255, 255, 255),
        }
    }
}

/// Resource limits checked before any large allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Width x height (x frames that would be decoded) of the source.
    pub max_pixels: u64,
    /// Bytes of encoded input.
    pub max_source_size: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 50_000_000,
            max_source_size: 50 * 1024 * 1024,
        }
    }
}

/// One thumbnail request, complete.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Job {
    pub geometry: Geometry,
    pub encode: EncodeOptions,
    pub limits: Limits,
}

impl Job {
    /// Canonical text of everything that changes the output bytes (geometry,
    /// fit, format, qualities, interlace, background) — NOT limits. Stable
    /// across runs; used in the cache key.
    ///
    /// Requests that produce identical bytes map to the same text: a crop with
    /// a free side is a fit, and qualities are clamped as the encoder will.
    pub fn canonical(&self) -> String {
        let side = |s: Option<u32>| s.map_or_else(|| "-".to_owned(), |v| v.to_string());
        let g = &self.geometry;
        let fit = match (g.fit, g.width, g.height) {
            (Fit::Crop, Some(_), Some(_)) => "crop",
            _ => "fit",
        };
        let e = &self.encode;
        let format = match e.format {
            OutputFormat::Original => "original",
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
        };
        let Rgb(r, gr, b) = e.background;
        format!(
            "{}x{}:{}:{}:jq{}:wq{}:{}:bg{:02x}{:02x}{:02x}",
            side(g.width),
            side(g.height),
            fit,
            format,
            clamp_quality(e.jpeg_quality),
            clamp_quality(e.webp_quality),
            if e.interlace { "i1" } else { "i0" },
            r,
            gr,
            b
        )
    }
}

pub(crate) fn clamp_quality(q: u8) -> u8 {
    q.clamp(1, 100)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)] // the tables read better inline
    use super::*;
    use crate::error::ErrorClass;

    #[test]
    fn parse_size_table() {
        let ok: &[(&str, (Option<u32>, Option<u32>))] = &[
            ("350x350", (Some(350), Some(350))),
            ("-x200", (None, Some(200))),
            ("200x-", (Some(200), None)),
            ("1x1", (Some(1), Some(1))),
            ("65535x65535", (Some(65535), Some(65535))),
            ("007x8", (Some(7), Some(8))),
        ];
        for (text, want) in ok {
            assert_eq!(Geometry::parse_size(text).unwrap(), *want, "{text}");
        }
        let bad = [
            "-x-",
            "0x10",
            "10x0",
            "65536x1",
            "1x99999999999999999999",
            "+1x1",
            "-1x1",
            "1x+1",
            " 1x1",
            "1x1 ",
            "1 x1",
            "1X1",
            "x",
            "1x",
            "x1",
            "",
            "1x1x1",
            "ax1",
            "1.5x2",
            "١x1",
            "--x1",
        ];
        for text in bad {
            let err = Geometry::parse_size(text).unwrap_err();
            assert_eq!(err.class(), ErrorClass::BadRequest, "{text}");
        }
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let e = EncodeOptions::default();
        assert_eq!(e.format, OutputFormat::Original);
        assert_eq!(e.jpeg_quality, 82);
        assert_eq!(e.webp_quality, 80);
        assert!(!e.interlace);
        assert_eq!(e.background, Rgb(255, 255, 255));
        let l = Limits::default();
        assert_eq!(l.max_pixels, 50_000_000);
        assert_eq!(l.max_source_size, 52_428_800);
    }

    fn job(w: Option<u32>, h: Option<u32>, fit: Fit) -> Job {
        Job {
            geometry: Geometry {
                width: w,
                height: h,
                fit,
            },
            encode: EncodeOptions::default(),
            limits: Limits::default(),
        }
    }

    #[test]
    fn canonical_text_is_stable_and_ignores_limits() {
        let a = job(Some(350), Some(350), Fit::Fit);
        assert_eq!(a.canonical(), "350x350:fit:original:jq82:wq80:i0:bgffffff");
        let mut b = a;
        b.limits.max_pixels = 1;
        b.limits.max_source_size = 1;
        assert_eq!(a.canonical(), b.canonical());
    }

    #[test]
    fn canonical_text_changes_with_every_output_field() {
        let base = job(Some(350), Some(350), Fit::Fit);
        let mut variants = vec![base];
        let mut v = base;
        v.geometry.fit = Fit::Crop;
        variants.push(v);
        let mut v = base;
        v.geometry.width = None;
        variants.push(v);
        let mut v = base;
        v.geometry.height = Some(351);
        variants.push(v);
        for f in [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::Webp] {
            let mut v = base;
            v.encode.format = f;
            variants.push(v);
        }
        let mut v = base;
        v.encode.jpeg_quality = 90;
        variants.push(v);
        let mut v = base;
        v.encode.webp_quality = 90;
        variants.push(v);
        let mut v = base;
        v.encode.interlace = true;
        variants.push(v);
        let mut v = base;
        v.encode.background = Rgb(0, 0, 0);
        variants.push(v);
        let texts: std::collections::HashSet<String> =
            variants.iter().map(Job::canonical).collect();
        assert_eq!(texts.len(), variants.len());
    }

    #[test]
    fn canonical_text_merges_equivalent_requests() {
        // A crop with a free side cannot cut anything: it is a fit.
        assert_eq!(
            job(None, Some(200), Fit::Crop).canonical(),
            job(None, Some(200), Fit::Fit).canonical()
        );
        let mut a = job(Some(10), Some(10), Fit::Fit);
        let mut b = a;
        a.encode.jpeg_quality = 0;
        b.encode.jpeg_quality = 1;
        assert_eq!(a.canonical(), b.canonical());
    }
}
