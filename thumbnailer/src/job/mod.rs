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
    /// other inputs (TIFF, AVIF, JPEG XL) come out as PNG if they have
    /// alpha, else JPEG. AVIF is not kept: its encode costs several times a
    /// WebP's, which a request for the original's format did not ask to pay.
    Original,
    Jpeg,
    Png,
    /// Lossy WebP at `webp_quality`; `webp_quality == 100` selects lossless.
    Webp,
    /// A still GIF (animations are not kept: the first frame), in at most
    /// 256 colours, with one transparent index where the image has
    /// transparency; progressive when `interlace` is set.
    Gif,
    /// AVIF at `avif_quality` and `avif_speed`, 4:2:0, alpha kept; with
    /// `avif_fallback`, another format above a pixel count.
    Avif,
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
    /// 0..=100 on libavif's scale (mapped onto its quantizer); clamped.
    pub avif_quality: u8,
    /// libaom's speed, 0 (slowest, smallest) ..= 10; clamped.
    pub avif_speed: u8,
    /// For [`OutputFormat::Avif`] chosen by negotiation: above this many
    /// output pixels, another format, so that a large AVIF never holds a
    /// request for seconds. `None` for AVIF asked for by name.
    pub avif_fallback: Option<AvifFallback>,
}

/// When a negotiated AVIF gives way, and to what.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AvifFallback {
    /// Output pixels (width x height of the thumbnail) above which the
    /// fallback is written.
    pub max_pixels: u64,
    /// What the client accepts instead: WebP, or the original's format.
    pub to: FallbackFormat,
}

/// The formats a negotiated AVIF can fall back to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FallbackFormat {
    Webp,
    Original,
}

impl FallbackFormat {
    pub fn output(self) -> OutputFormat {
        match self {
            FallbackFormat::Webp => OutputFormat::Webp,
            FallbackFormat::Original => OutputFormat::Original,
        }
    }
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
            avif_quality: DEFAULT_AVIF_QUALITY,
            avif_speed: DEFAULT_AVIF_SPEED,
            avif_fallback: None,
        }
    }
}

/// `image_filter_rs_webp_effort` when unset. At the same DSSIM as method 4
/// (libwebp's default) method 2 needs under one quality step more, makes
/// about 5 % more bytes and encodes in 0.4 of the time (`quality
/// webp-effort` in bench/), the better trade for thumbnails made on demand.
pub const DEFAULT_WEBP_EFFORT: u8 = 2;

/// `image_filter_rs_avif_quality` when unset: at libaom speed 8 this matches
/// the DSSIM of the WebP default (q80) on photographs fitted into 512 px,
/// with 0.82 of WebP's bytes (`quality avif` in bench/).
pub const DEFAULT_AVIF_QUALITY: u8 = 63;

/// `image_filter_rs_avif_speed` when unset: speed 8 encodes in 2.4 times
/// libwebp's time, where speed 6 takes 5.3 times for 10 % fewer bytes and
/// speed 9 is fast but saves only 3 % against WebP.
pub const DEFAULT_AVIF_SPEED: u8 = 8;

/// `image_filter_rs_avif_max_pixels` when unset: about 1.5 MP of output,
/// above which `auto` writes WebP instead, as Cloudflare's image resizing
/// does. The AV1 encode grows with the output's pixels: fitting the shared
/// photos into 1500 px takes 0.41 s median in AVIF and 0.25 s in WebP,
/// whole pipeline on one core (`pipeline inproc` in bench/).
pub const DEFAULT_AVIF_MAX_PIXELS: u64 = 1_500_000;

/// Resource limits checked before any large allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Width x height (x frames that would be decoded) of the source.
    pub max_pixels: u64,
    /// Bytes of encoded input.
    pub max_source_size: u64,
    /// Frames an animated original (GIF, WebP) may keep; past it the output
    /// is a still of the first frame, or an error when `frames_strict`. 1
    /// asks for a still (`frame=0`). Unlike the other limits this one
    /// changes the output bytes, so it is part of [`Job::canonical`].
    pub max_frames: u32,
    /// Refuse an animation of more than `max_frames` frames instead of
    /// making a still of it.
    pub frames_strict: bool,
}

/// `image_filter_rs_max_frames` when unset.
pub const DEFAULT_MAX_FRAMES: u32 = 100;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pixels: 50_000_000,
            max_source_size: 50 * 1024 * 1024,
            max_frames: DEFAULT_MAX_FRAMES,
            frames_strict: false,
        }
    }
}

impl Limits {
    /// A still of an animation's first frame (`frame=0` by query or
    /// preset): a frame limit of one that is never strict, since one frame
    /// is always within any limit.
    pub fn ask_still(&mut self) {
        self.max_frames = 1;
        self.frames_strict = false;
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

    #[test]
    fn a_still_is_within_a_strict_frame_limit() {
        let mut limits = Limits {
            max_frames: 3,
            frames_strict: true,
            ..Limits::default()
        };
        limits.ask_still();
        assert_eq!((limits.max_frames, limits.frames_strict), (1, false));
    }
}
