//! The description of one thumbnail job: target box, fit mode, output encoding
//! and resource limits. Plain data, cheap to copy, hashable for cache keys.
//! Nothing here depends on the rest of the crate but the error type, so the
//! URL parsers, the pipeline steps and the cache key can all use it.

pub mod adjustments;
mod canonical;
pub(crate) mod decimal;
mod geometry;

pub use self::adjustments::Adjustments;
pub use self::geometry::{Fit, Flip, Focal, Geometry, Gravity, Rotation};

/// Requested output encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OutputFormat {
    /// The input's own format where we can encode it (JPEG, PNG, WebP, GIF);
    /// other inputs (TIFF, AVIF) come out as PNG if they have alpha, else
    /// JPEG.
    Original,
    Jpeg,
    Png,
    /// Lossy WebP at `webp_quality`; `webp_quality == 100` selects lossless.
    Webp,
    /// A still GIF (animations are not kept: the first frame), in at most
    /// 256 colours, with one transparent index where the image has
    /// transparency; progressive when `interlace` is set.
    Gif,
    /// A placeholder of the thumbnail: a ThumbHash, BlurHash or colour as
    /// text, or a tiny blurred WebP.
    Placeholder(Placeholder),
}

/// Which placeholder a request asks for (`fm=thumbhash`...); made by
/// `placeholder`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Placeholder {
    /// ThumbHash, base64 with padding, as its reference encoder's demo
    /// prints it.
    Thumbhash,
    /// BlurHash with `x` by `y` components (1–9 each), in base 83.
    Blurhash { x: u8, y: u8 },
    /// The dominant colour, `#rrggbb`.
    Color,
    /// A blurred WebP about 32 pixels on its longer side.
    Lqip,
}

impl Placeholder {
    /// BlurHash's usual components: 4 across, 3 down.
    pub const DEFAULT_BLURHASH: Placeholder = Placeholder::Blurhash { x: 4, y: 3 };

    /// The name in cache keys, query values and preset keys.
    pub fn name(self) -> String {
        match self {
            Placeholder::Thumbhash => "thumbhash".into(),
            Placeholder::Blurhash { x, y } => format!("blurhash{x}x{y}"),
            Placeholder::Color => "color".into(),
            Placeholder::Lqip => "lqip".into(),
        }
    }

    /// Whether the answer is text rather than an image.
    pub fn is_text(self) -> bool {
        self != Placeholder::Lqip
    }
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
    /// libwebp's `method`, 0 (fastest) ..= 6 (smallest); clamped.
    pub webp_effort: u8,
    /// Progressive JPEG, interlaced GIF. PNG output is never interlaced
    /// (larger, slower).
    pub interlace: bool,
    /// Colour behind transparent pixels when the output cannot keep alpha,
    /// or when `transparency` is `Flatten`.
    pub background: Rgb,
    /// Whether transparency is kept (the default) or flattened.
    pub transparency: Transparency,
}

impl Default for EncodeOptions {
    fn default() -> Self {
        EncodeOptions {
            format: OutputFormat::Original,
            jpeg_quality: 82,
            webp_quality: 80,
            webp_effort: DEFAULT_WEBP_EFFORT,
            interlace: false,
            background: Rgb(255, 255, 255),
            transparency: Transparency::Keep,
        }
    }
}

/// `image_filter_rs_webp_effort` when unset. At the same DSSIM as method 4
/// (libwebp's default) method 2 needs under one quality step more, makes
/// about 5 % more bytes and encodes in 0.4 of the time (`quality
/// webp-effort` in bench/), the better trade for thumbnails made on demand.
pub const DEFAULT_WEBP_EFFORT: u8 = 2;

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

/// What happens to transparency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transparency {
    /// Kept wherever the output format can keep it (PNG, WebP, GIF as a
    /// transparent index); only JPEG output is flattened.
    #[default]
    Keep,
    /// Every output is flattened on [`EncodeOptions::background`] and fully
    /// opaque, whatever the format could keep (`image_filter_transparency
    /// off`). nginx's directive only concerns palette images (GIF, palette
    /// PNG), whose transparent colour it drops; this flattens every kind of
    /// alpha, of truecolour PNGs and WebPs too, and pads made transparent
    /// by `Fit::Pad`.
    Flatten,
}

/// One thumbnail request, complete.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Job {
    pub geometry: Geometry,
    pub encode: EncodeOptions,
    pub limits: Limits,
    /// Colour adjustments applied after resizing.
    pub adjust: Adjustments,
}

impl Job {
    /// A box, a fit and an output format, everything else at its default.
    pub fn sized(width: Option<u32>, height: Option<u32>, fit: Fit, format: OutputFormat) -> Job {
        let mut job = Job::default();
        job.geometry.width = width;
        job.geometry.height = height;
        job.geometry.fit = fit;
        job.encode.format = format;
        job
    }
}

pub(crate) fn clamp_quality(q: u8) -> u8 {
    q.clamp(1, 100)
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
