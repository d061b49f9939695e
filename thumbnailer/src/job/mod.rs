//! The description of one thumbnail job: target box, fit mode, output encoding
//! and resource limits. Plain data, cheap to copy, hashable for cache keys.

use crate::error::Error;
use crate::processing::adjust::{clamp_factor, FACTOR_ONE};

pub use crate::processing::adjust::Adjustments;

/// How the source is mapped onto the target box. No mode scales the source
/// up unless [`Geometry::enlarge`] is set: a source smaller than the box
/// keeps its pixel size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fit {
    /// Scale down to fit inside the box, keeping the aspect ratio.
    Fit,
    /// Scale to cover the box, then cut to exactly the box; which part is
    /// kept is chosen by [`Geometry::gravity`] or [`Geometry::focal`].
    Crop,
    /// Scale down to cover the box without cutting: exact on one side, at
    /// least the box on the other, aspect ratio kept.
    Fill,
    /// Fit inside the box, then pad to exactly the box with
    /// [`EncodeOptions::background`] (transparent when the image has
    /// transparency, so outputs that keep alpha stay see-through). The image
    /// is placed by [`Geometry::gravity`]. A free side is not padded.
    Pad,
    /// Stretch to exactly the box, ignoring the aspect ratio; each side is
    /// clamped to the source's side so nothing is enlarged.
    Force,
}

/// Which part of the source a crop keeps (and where `Pad` places the image).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Gravity {
    Center,
    North,
    NorthEast,
    East,
    SouthEast,
    South,
    SouthWest,
    West,
    NorthWest,
    /// The window with the most edge energy, found on a small downscaled copy
    /// of the decoded image. Ties (a flat image) keep the centre. `Pad`
    /// treats it as `Center`.
    Smart,
}

impl Gravity {
    /// The short name used in URLs and in the canonical job text.
    pub fn name(self) -> &'static str {
        match self {
            Gravity::Center => "center",
            Gravity::North => "n",
            Gravity::NorthEast => "ne",
            Gravity::East => "e",
            Gravity::SouthEast => "se",
            Gravity::South => "s",
            Gravity::SouthWest => "sw",
            Gravity::West => "w",
            Gravity::NorthWest => "nw",
            Gravity::Smart => "smart",
        }
    }
}

/// A point of interest in thousandths (0..=1000) of the source's width and
/// height, measured on the upright image; larger values are treated as 1000.
/// A crop centres on it as far as the image allows (the "PPOI" of
/// django-versatileimagefield).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Focal {
    pub x_milli: u16,
    pub y_milli: u16,
}

/// A counter-clockwise turn of the thumbnail, as nginx's `image_filter
/// rotate` turns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Rotation {
    #[default]
    None,
    Ccw90,
    Ccw180,
    Ccw270,
}

impl Rotation {
    /// 0, 90, 180 or 270; `None` for any other angle.
    pub fn from_degrees(degrees: u32) -> Option<Rotation> {
        Some(match degrees {
            0 => Rotation::None,
            90 => Rotation::Ccw90,
            180 => Rotation::Ccw180,
            270 => Rotation::Ccw270,
            _ => return None,
        })
    }

    pub fn degrees(self) -> u32 {
        match self {
            Rotation::None => 0,
            Rotation::Ccw90 => 90,
            Rotation::Ccw180 => 180,
            Rotation::Ccw270 => 270,
        }
    }

    /// A quarter turn, which swaps width and height.
    pub fn swaps_sides(self) -> bool {
        matches!(self, Rotation::Ccw90 | Rotation::Ccw270)
    }
}

/// A mirror image of the thumbnail, after any [`Rotation`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Flip {
    #[default]
    None,
    /// Left and right swap (`flip=h`).
    Horizontal,
    /// Top and bottom swap (`flip=v`).
    Vertical,
}

impl Flip {
    /// `h` or `v`.
    pub fn parse(text: &str) -> Option<Flip> {
        match text {
            "h" => Some(Flip::Horizontal),
            "v" => Some(Flip::Vertical),
            _ => None,
        }
    }
}

/// The target box. `None` is a free side ("-" in the request).
///
/// Order of the steps: EXIF orientation first (everything here, focal point
/// and gravity included, is about the upright source), then the box, then
/// `rotate`, then `flip`. That is nginx's `image_filter` order, so a
/// configuration moved from it gets thumbnails of the same size:
///
/// - every fit but `Crop` applies the box *before* turning, as
///   `image_filter resize` does: `350x200` turned 90° is at most 200x350
///   (nginx-tests: a 100x120 image, `resize 5 6`, `rotate 90` is 6x5);
/// - `Crop` with a quarter turn does as `image_filter crop` does: it scales
///   to cover the box, turns, and only then cuts what exceeds the box, so
///   the result is at most the box and can be smaller on one side when the
///   box is not square (nginx-tests: 100x120, `crop 5 6`, `rotate 90` is
///   5x5). With a half turn or none, a crop is exactly the box.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub fit: Fit,
    pub gravity: Gravity,
    /// When set, a crop centres on it and `gravity` is not used for cropping.
    pub focal: Option<Focal>,
    /// Counter-clockwise turn, after the box (see above).
    pub rotate: Rotation,
    /// Mirror, after the turn.
    pub flip: Flip,
    /// Scale a source smaller than the box up to it, as the box asks
    /// (easy-thumbnails' `upscale`, django-versatileimagefield's crop, which
    /// always ends at exactly the box). Off everywhere else: a thumbnail
    /// larger than its original only costs bytes and shows no more detail.
    pub enlarge: bool,
}

impl Default for Geometry {
    /// No size (the source's own), `Fit::Fit`, centred, no focal point, no
    /// turn, no flip.
    fn default() -> Self {
        Geometry {
            width: None,
            height: None,
            fit: Fit::Fit,
            gravity: Gravity::Center,
            focal: None,
            rotate: Rotation::None,
            flip: Flip::None,
            enlarge: false,
        }
    }
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
            interlace: false,
            background: Rgb(255, 255, 255),
            transparency: Transparency::Keep,
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

    /// Canonical text of everything that changes the output bytes (geometry,
    /// fit, gravity, focal point, format, qualities, interlace, background,
    /// adjustments) — NOT limits. Stable across runs; used in the cache key.
    ///
    /// Requests that produce identical bytes map to the same text: a crop,
    /// fill or force with a free side is a fit, gravity and focal point only
    /// appear where they move pixels, an adjustment of exactly 1 is none, and
    /// qualities are clamped as the encoder will. Fields added after the first
    /// release are suffixes present only when they do something, so jobs that
    /// do not use them keep their old text and their cache entries.
    pub fn canonical(&self) -> String {
        // Built by pushing, not `format!`: it is hashed on every request,
        // cache hits included.
        fn push_number(text: &mut String, n: u32) {
            let mut digits = [0u8; 10];
            let mut at = digits.len();
            let mut n = n;
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            text.extend(digits[at..].iter().map(|&d| char::from(d)));
        }
        fn push_side(text: &mut String, side: Option<u32>) {
            match side {
                Some(v) => push_number(text, v),
                None => text.push('-'),
            }
        }
        let g = &self.geometry;
        let both_sides = g.width.is_some() && g.height.is_some();
        let fit = match g.fit {
            Fit::Crop if both_sides => "crop",
            Fit::Fill if both_sides => "fill",
            Fit::Force if both_sides => "force",
            Fit::Pad => "pad",
            _ => "fit",
        };
        let e = &self.encode;
        let placeholder_name;
        let format = match e.format {
            OutputFormat::Original => "original",
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
            OutputFormat::Gif => "gif",
            OutputFormat::Placeholder(kind) => {
                placeholder_name = kind.name();
                &placeholder_name
            }
        };
        let Rgb(r, gr, b) = e.background;
        let mut text = String::with_capacity(64);
        push_side(&mut text, g.width);
        text.push('x');
        push_side(&mut text, g.height);
        for part in [":", fit, ":", format, ":jq"] {
            text.push_str(part);
        }
        push_number(&mut text, u32::from(clamp_quality(e.jpeg_quality)));
        text.push_str(":wq");
        push_number(&mut text, u32::from(clamp_quality(e.webp_quality)));
        text.push_str(if e.interlace { ":i1:bg" } else { ":i0:bg" });
        for channel in [r, gr, b] {
            text.extend(crate::cache::key::hex_pair(channel).map(char::from));
        }
        // Each suffix has its own "name=" prefix and a fixed position, so
        // the text stays unambiguous.
        match (fit, g.focal, g.gravity) {
            ("crop", Some(f), _) => text.push_str(&format!(
                ":fp={},{}",
                f.x_milli.min(1000),
                f.y_milli.min(1000)
            )),
            ("crop", None, gravity) | ("pad", _, gravity)
                if gravity != Gravity::Center && !(fit == "pad" && gravity == Gravity::Smart) =>
            {
                text.push_str(":g=");
                text.push_str(gravity.name());
            }
            _ => {}
        }
        let a = &self.adjust;
        for (name, factor) in [
            ("ct", a.contrast),
            ("br", a.brightness),
            ("sa", a.saturation),
            ("sh", a.sharpness),
        ] {
            match factor.map(clamp_factor) {
                Some(f) if f != FACTOR_ONE => text.push_str(&format!(":{name}={f}")),
                _ => {}
            }
        }
        if a.grayscale {
            text.push_str(":gray");
        }
        // Added with rotation: each present only when it changes pixels.
        let sharpen = a.sharpen.min(crate::processing::adjust::SHARPEN_MAX);
        if sharpen != 0 {
            text.push_str(":sharpen=");
            push_number(&mut text, u32::from(sharpen));
        }
        if let Some(sigma) = a.blur {
            text.push_str(":blur=");
            let sigma = sigma.clamp(
                crate::processing::adjust::BLUR_MIN,
                crate::processing::adjust::BLUR_MAX,
            );
            push_number(&mut text, u32::from(sigma));
        }
        // A vertical flip is a horizontal one after a half turn more, so
        // each of the eight results has one spelling.
        let (rotate, flip) = match g.flip {
            Flip::Vertical => (
                Rotation::from_degrees((g.rotate.degrees() + 180) % 360).unwrap_or_default(),
                true,
            ),
            Flip::Horizontal => (g.rotate, true),
            Flip::None => (g.rotate, false),
        };
        if rotate != Rotation::None {
            text.push_str(":r=");
            push_number(&mut text, rotate.degrees());
        }
        if flip {
            text.push_str(":flip=h");
        }
        // Added with the library-name modes; absent (old keys kept) unless set.
        if g.enlarge {
            text.push_str(":up");
        }
        // Flattening cannot change a JPEG, which never has alpha.
        if e.transparency == Transparency::Flatten && e.format != OutputFormat::Jpeg {
            text.push_str(":flat");
        }
        text
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
        Job::sized(w, h, fit, OutputFormat::Original)
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
        for fit in [Fit::Fill, Fit::Pad, Fit::Force] {
            let mut v = base;
            v.geometry.fit = fit;
            variants.push(v);
        }
        let crop = job(Some(350), Some(350), Fit::Crop);
        for gravity in [
            Gravity::North,
            Gravity::NorthEast,
            Gravity::East,
            Gravity::SouthEast,
            Gravity::South,
            Gravity::SouthWest,
            Gravity::West,
            Gravity::NorthWest,
            Gravity::Smart,
        ] {
            let mut v = crop;
            v.geometry.gravity = gravity;
            variants.push(v);
            v.geometry.fit = Fit::Pad;
            if gravity != Gravity::Smart {
                variants.push(v);
            }
        }
        for (x_milli, y_milli) in [(0, 0), (250, 750), (750, 250), (1000, 1000)] {
            let mut v = crop;
            v.geometry.focal = Some(Focal { x_milli, y_milli });
            variants.push(v);
        }
        for field in 0..4 {
            for value in [0, 999, 1001, 10000] {
                let mut v = base;
                let a = &mut v.adjust;
                *[
                    &mut a.contrast,
                    &mut a.brightness,
                    &mut a.saturation,
                    &mut a.sharpness,
                ][field] = Some(value);
                variants.push(v);
            }
        }
        let mut v = base;
        v.adjust.grayscale = true;
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
        // Each pair below makes the same bytes, so it must share one entry.
        let pairs: Vec<(Job, Job)> = vec![
            (
                job(Some(200), None, Fit::Fill),
                job(Some(200), None, Fit::Fit),
            ),
            (
                job(None, Some(200), Fit::Force),
                job(None, Some(200), Fit::Fit),
            ),
            // Gravity and focal point only matter where they move pixels.
            (
                with(job(Some(9), Some(9), Fit::Fit), |j| {
                    j.geometry.gravity = Gravity::North;
                    j.geometry.focal = Some(Focal {
                        x_milli: 1,
                        y_milli: 2,
                    });
                }),
                job(Some(9), Some(9), Fit::Fit),
            ),
            (
                with(job(Some(9), Some(9), Fit::Crop), |j| {
                    j.geometry.gravity = Gravity::North;
                    j.geometry.focal = Some(Focal {
                        x_milli: 1,
                        y_milli: 2,
                    });
                }),
                with(job(Some(9), Some(9), Fit::Crop), |j| {
                    j.geometry.focal = Some(Focal {
                        x_milli: 1,
                        y_milli: 2,
                    });
                }),
            ),
            (
                with(job(Some(9), Some(9), Fit::Crop), |j| {
                    j.geometry.focal = Some(Focal {
                        x_milli: 5000,
                        y_milli: 2,
                    });
                }),
                with(job(Some(9), Some(9), Fit::Crop), |j| {
                    j.geometry.focal = Some(Focal {
                        x_milli: 1000,
                        y_milli: 2,
                    });
                }),
            ),
            (
                with(job(Some(9), Some(9), Fit::Pad), |j| {
                    j.geometry.gravity = Gravity::Smart;
                }),
                job(Some(9), Some(9), Fit::Pad),
            ),
            (
                with(job(Some(9), Some(9), Fit::Fit), |j| {
                    j.adjust.contrast = Some(1000);
                    j.adjust.sharpness = Some(1000);
                }),
                job(Some(9), Some(9), Fit::Fit),
            ),
            (
                with(job(Some(9), Some(9), Fit::Fit), |j| {
                    j.adjust.brightness = Some(60000);
                }),
                with(job(Some(9), Some(9), Fit::Fit), |j| {
                    j.adjust.brightness = Some(10000);
                }),
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(a.canonical(), b.canonical(), "{a:?} vs {b:?}");
        }
    }

    fn with(mut j: Job, f: impl Fn(&mut Job)) -> Job {
        f(&mut j);
        j
    }

    #[test]
    fn canonical_text_of_rotation_flip_filters_and_transparency() {
        let base = job(Some(350), Some(200), Fit::Crop);
        let table: Vec<(Job, &str)> = vec![
            (base, "350x200:crop:original:jq82:wq80:i0:bgffffff"),
            (
                with(base, |j| j.geometry.rotate = Rotation::Ccw90),
                "350x200:crop:original:jq82:wq80:i0:bgffffff:r=90",
            ),
            (
                with(base, |j| j.geometry.flip = Flip::Horizontal),
                "350x200:crop:original:jq82:wq80:i0:bgffffff:flip=h",
            ),
            (
                with(base, |j| {
                    j.geometry.rotate = Rotation::Ccw270;
                    j.geometry.flip = Flip::Horizontal;
                }),
                "350x200:crop:original:jq82:wq80:i0:bgffffff:r=270:flip=h",
            ),
            (
                with(base, |j| {
                    j.adjust.sharpen = 100;
                    j.adjust.blur = Some(15);
                    j.encode.transparency = Transparency::Flatten;
                }),
                "350x200:crop:original:jq82:wq80:i0:bgffffff:sharpen=100:blur=15:flat",
            ),
            (
                with(base, |j| j.encode.format = OutputFormat::Gif),
                "350x200:crop:gif:jq82:wq80:i0:bgffffff",
            ),
        ];
        for (j, want) in table {
            assert_eq!(j.canonical(), want);
        }
        // Every distinct value, a distinct text.
        let mut variants = vec![base];
        for degrees in [90, 180, 270] {
            for flip in [Flip::None, Flip::Horizontal] {
                variants.push(with(base, |j| {
                    j.geometry.rotate = Rotation::from_degrees(degrees).unwrap();
                    j.geometry.flip = flip;
                }));
            }
        }
        variants.push(with(base, |j| j.geometry.flip = Flip::Horizontal));
        for sharpen in [1, 100, 101, 1000] {
            variants.push(with(base, |j| j.adjust.sharpen = sharpen));
        }
        for blur in [3, 4, 10, 1000] {
            variants.push(with(base, |j| j.adjust.blur = Some(blur)));
        }
        variants.push(with(base, |j| {
            j.encode.transparency = Transparency::Flatten
        }));
        variants.push(with(base, |j| j.encode.format = OutputFormat::Gif));
        let texts: std::collections::HashSet<String> =
            variants.iter().map(Job::canonical).collect();
        assert_eq!(texts.len(), variants.len());
    }

    #[test]
    fn canonical_text_merges_equal_turns_and_no_op_fields() {
        let base = job(Some(350), Some(200), Fit::Fit);
        let turn = |degrees: u32, flip: Flip| {
            with(base, move |j| {
                j.geometry.rotate = Rotation::from_degrees(degrees).unwrap();
                j.geometry.flip = flip;
            })
        };
        let pairs = [
            // A half turn and a vertical flip is a horizontal flip.
            (turn(180, Flip::Vertical), turn(0, Flip::Horizontal)),
            (turn(0, Flip::Vertical), turn(180, Flip::Horizontal)),
            (turn(90, Flip::Vertical), turn(270, Flip::Horizontal)),
            (turn(270, Flip::Vertical), turn(90, Flip::Horizontal)),
            (turn(0, Flip::None), base),
            (with(base, |j| j.adjust.sharpen = 0), base),
            (
                with(base, |j| j.adjust.sharpen = 5000),
                with(base, |j| j.adjust.sharpen = 1000),
            ),
            (
                with(base, |j| {
                    j.encode.format = OutputFormat::Jpeg;
                    j.encode.transparency = Transparency::Flatten;
                }),
                with(base, |j| j.encode.format = OutputFormat::Jpeg),
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(a.canonical(), b.canonical(), "{a:?} vs {b:?}");
        }
        // Same pixels, same text, whatever the spelling; every other
        // orientation differs.
        let all: std::collections::HashSet<String> = [0, 90, 180, 270]
            .into_iter()
            .flat_map(|d| [Flip::None, Flip::Horizontal, Flip::Vertical].map(|f| turn(d, f)))
            .map(|j| j.canonical())
            .collect();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn rotation_degrees_round_trip() {
        for d in [0, 90, 180, 270] {
            assert_eq!(Rotation::from_degrees(d).unwrap().degrees(), d);
        }
        for d in [1, 45, 360, 450] {
            assert_eq!(Rotation::from_degrees(d), None);
        }
        assert_eq!(Flip::parse("h"), Some(Flip::Horizontal));
        assert_eq!(Flip::parse("v"), Some(Flip::Vertical));
        assert_eq!(Flip::parse("H"), None);
    }

    #[test]
    fn canonical_text_of_new_fields() {
        let table: Vec<(Job, &str)> = vec![
            (
                with(job(Some(3), Some(4), Fit::Crop), |j| {
                    j.geometry.gravity = Gravity::SouthWest
                }),
                "3x4:crop:original:jq82:wq80:i0:bgffffff:g=sw",
            ),
            (
                with(job(Some(3), Some(4), Fit::Crop), |j| {
                    j.geometry.focal = Some(Focal {
                        x_milli: 250,
                        y_milli: 1000,
                    })
                }),
                "3x4:crop:original:jq82:wq80:i0:bgffffff:fp=250,1000",
            ),
            (
                with(job(Some(3), None, Fit::Pad), |j| {
                    j.geometry.gravity = Gravity::East
                }),
                "3x-:pad:original:jq82:wq80:i0:bgffffff:g=e",
            ),
            (
                job(Some(3), Some(4), Fit::Force),
                "3x4:force:original:jq82:wq80:i0:bgffffff",
            ),
            (
                with(job(Some(3), Some(4), Fit::Fill), |j| {
                    j.adjust = Adjustments {
                        contrast: Some(1200),
                        brightness: Some(0),
                        saturation: Some(10000),
                        sharpness: Some(500),
                        grayscale: true,
                        ..Adjustments::default()
                    }
                }),
                "3x4:fill:original:jq82:wq80:i0:bgffffff:ct=1200:br=0:sa=10000:sh=500:gray",
            ),
        ];
        for (j, want) in table {
            assert_eq!(j.canonical(), want);
        }
    }
}
