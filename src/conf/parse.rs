//! The pure parsers of directive arguments: numbers, sizes, qualities, turns,
//! flips, colours, fits, output formats. No nginx types, so each answers the same at every
//! level of the configuration.

use thumbnailer::query::FormatParam;
use thumbnailer::{Fit, Flip, Placeholder, Rgb, Rotation};

/// An encoder quality, 1 to 100.
pub fn parse_quality(v: &[u8]) -> Option<u8> {
    parse_decimal(v)
        .filter(|q| (1..=100).contains(q))
        .map(|q| q as u8)
}

/// A size in nginx's syntax (`512k`, `64m`).
pub fn parse_bytes(v: &[u8]) -> Option<u64> {
    core::str::from_utf8(v)
        .ok()
        .and_then(crate::cache::parse_offset)
}

/// Degrees counter-clockwise, as image_filter's `rotate` turns: 0, 90,
/// 180 or 270.
pub fn parse_rotation(v: &[u8]) -> Option<Rotation> {
    parse_decimal(v).and_then(Rotation::from_degrees)
}

/// image_filter_sharpen's percent: 0 is off, more than 100 is allowed.
pub fn parse_sharpen(v: &[u8]) -> Option<u16> {
    core::str::from_utf8(v)
        .ok()
        .and_then(thumbnailer::adjust::parse_sharpen)
}

/// `h`, `v`, or `off` (to undo an inherited flip).
pub fn parse_flip(v: &[u8]) -> Option<Flip> {
    match v {
        b"off" => Some(Flip::None),
        text => core::str::from_utf8(text).ok().and_then(Flip::parse),
    }
}

pub fn parse_on_off(v: &[u8]) -> Option<bool> {
    match v {
        b"on" => Some(true),
        b"off" => Some(false),
        _ => None,
    }
}

/// `fit`, `crop`, `fill`, `pad` or `force`.
pub fn parse_fit(v: &[u8]) -> Option<Fit> {
    match v {
        b"fit" => Some(Fit::Fit),
        b"crop" => Some(Fit::Crop),
        b"fill" => Some(Fit::Fill),
        b"pad" => Some(Fit::Pad),
        b"force" => Some(Fit::Force),
        _ => None,
    }
}

/// `#rgb`, `#rrggbb`, or `white` / `black`.
pub fn parse_colour(v: &[u8]) -> Option<Rgb> {
    match v {
        b"white" => return Some(Rgb(255, 255, 255)),
        b"black" => return Some(Rgb(0, 0, 0)),
        _ => {}
    }
    let hex = v.strip_prefix(b"#")?;
    let digit = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    match hex.len() {
        3 => Some(Rgb(
            digit(hex[0])? * 17,
            digit(hex[1])? * 17,
            digit(hex[2])? * 17,
        )),
        6 => Some(Rgb(
            digit(hex[0])? * 16 + digit(hex[1])?,
            digit(hex[2])? * 16 + digit(hex[3])?,
            digit(hex[4])? * 16 + digit(hex[5])?,
        )),
        _ => None,
    }
}

/// A count with an optional `k` (thousands) or `m` (millions) suffix.
pub fn parse_count(v: &[u8]) -> Option<u64> {
    let (digits, scale) = match v.last()? {
        b'k' | b'K' => (&v[..v.len() - 1], 1_000),
        b'm' | b'M' => (&v[..v.len() - 1], 1_000_000),
        _ => (v, 1),
    };
    let n = u64::from(parse_decimal(digits)?).checked_mul(scale)?;
    (n > 0).then_some(n)
}

/// Plain decimal digits only: no sign, no spaces, no `0x`, at most 9 digits.
pub fn parse_decimal(bytes: &[u8]) -> Option<u32> {
    if bytes.is_empty() || bytes.len() > 9 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    bytes.iter().try_fold(0u32, |n, &b| {
        n.checked_mul(10)?.checked_add(u32::from(b - b'0'))
    })
}

/// The output format a location, preset or request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatChoice {
    Original,
    Jpeg,
    Png,
    Webp,
    /// A still GIF (the first frame of an animation).
    Gif,
    Avif,
    /// The best one `Accept` allows.
    Auto,
    /// A ThumbHash, BlurHash, colour or LQIP of the thumbnail.
    Placeholder(Placeholder),
}

impl FormatChoice {
    /// The choice a query's `fm` asks for; None for a format the module
    /// cannot write, which must be refused rather than answered in another.
    pub fn from_param(param: FormatParam) -> Option<Self> {
        match param {
            FormatParam::Jpeg => Some(FormatChoice::Jpeg),
            FormatParam::Png => Some(FormatChoice::Png),
            FormatParam::Webp => Some(FormatChoice::Webp),
            FormatParam::Gif => Some(FormatChoice::Gif),
            FormatParam::Avif => Some(FormatChoice::Avif),
            FormatParam::Auto => Some(FormatChoice::Auto),
            FormatParam::Placeholder(kind) => Some(FormatChoice::Placeholder(kind)),
        }
    }
}

/// `original`, `jpeg`, `png`, `webp`, `gif`, `avif`, `auto` (from `Accept`), or a
/// placeholder: `thumbhash`, `blurhash` (4x3 components), `color`, `lqip`.
pub fn parse_format(v: &[u8]) -> Option<FormatChoice> {
    match v {
        b"thumbhash" => Some(FormatChoice::Placeholder(Placeholder::Thumbhash)),
        b"blurhash" => Some(FormatChoice::Placeholder(Placeholder::DEFAULT_BLURHASH)),
        b"color" => Some(FormatChoice::Placeholder(Placeholder::Color)),
        b"lqip" => Some(FormatChoice::Placeholder(Placeholder::Lqip)),
        b"original" => Some(FormatChoice::Original),
        b"jpeg" => Some(FormatChoice::Jpeg),
        b"png" => Some(FormatChoice::Png),
        b"webp" => Some(FormatChoice::Webp),
        b"gif" => Some(FormatChoice::Gif),
        b"avif" => Some(FormatChoice::Avif),
        b"auto" => Some(FormatChoice::Auto),
        _ => None,
    }
}
