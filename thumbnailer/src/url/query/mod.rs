//! Parses the URL query of a thumbnail request (`w=350&h=350&fit=crop...`)
//! into typed parameters, refusing anything it does not understand.
//!
//! Strictness is deliberate: every accepted spelling is another cache entry a
//! client can make us compute, and a lenient parser also makes signed URLs
//! harder to reason about. So unknown, repeated and empty parameters are
//! errors, and numbers are plain decimals with one spelling each (no sign, no
//! exponent, no hex, no leading zeros except "0" itself).
//!
//! Percent-encoding: `%XX` (either hex case) is decoded in names and values
//! before they are validated, because ordinary URL builders encode some
//! characters used here (JavaScript's `URLSearchParams` writes `fp=0.5,0.5`
//! as `fp=0.5%2C0.5`). A malformed escape is an error; `+` is not a space.
//! Signatures are computed over the query as written (see
//! [`crate::url::signature`]), so decoding here does not let a re-encoded URL pass
//! as signed.
//!
//! `&` separates parameters; empty segments (`a&&b`, a trailing `&`) are
//! ignored. A segment without `=` has an empty value, which is an error.

use crate::error::Error;
use crate::job::adjustments::{parse_blur, parse_sharpen};
use crate::job::decimal::parse_decimal;
use crate::job::{Fit, Flip, Focal, Gravity, Placeholder, Rotation};

/// Output format asked for with `fm`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatParam {
    Jpeg,
    Png,
    Webp,
    Gif,
    Avif,
    /// Chosen by the server (e.g. from `Accept`).
    Auto,
    /// `thumbhash`, `blurhash` (components from `x` and `y`, default 4x3),
    /// `color`, `lqip`.
    Placeholder(Placeholder),
}

/// The parameters of one request, each `None` when absent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QueryParams {
    /// `w`: 1..=65535.
    pub width: Option<u32>,
    /// `h`: 1..=65535.
    pub height: Option<u32>,
    /// `fit`: `fit|crop|fill|pad|force`.
    pub fit: Option<Fit>,
    /// `g`: `center|n|ne|e|se|s|sw|w|nw|smart`.
    pub gravity: Option<Gravity>,
    /// `fp`: `x,y`, fractions 0..=1 with up to 3 fraction digits.
    pub focal: Option<Focal>,
    /// `q`: 1..=100.
    pub quality: Option<u8>,
    /// `fm`: `jpeg|png|webp|gif|avif|auto|thumbhash|blurhash|color|lqip`
    /// (the caller refuses what it cannot write). With `blurhash`, `x` and
    /// `y` (1..=9 each) set its components; they are refused without it.
    pub format: Option<FormatParam>,
    /// `dpr`: 1..=4 with up to 2 fraction digits, in hundredths (100..=400).
    pub dpr: Option<u16>,
    /// `p`: preset name, `[A-Za-z0-9_-]{1,64}`.
    pub preset: Option<String>,
    /// `s`: the signature as given; [`crate::url::signature::verify`] judges it.
    pub signature: Option<String>,
    /// `r`: `90|180|270`, a counter-clockwise turn (as `image_filter
    /// rotate`; see [`crate::Geometry`] for how it combines with the box).
    /// `0` is refused: leave `r` out.
    pub rotate: Option<Rotation>,
    /// `flip`: `h` (left and right swap) or `v` (top and bottom), after `r`.
    pub flip: Option<Flip>,
    /// `sharpen`: libgd's sharpen percentage as `image_filter_sharpen`,
    /// 1..=1000 ([`crate::processing::adjust::SHARPEN_MAX`]); leave it out for none.
    pub sharpen: Option<u16>,
    /// `blur`: Gaussian sigma in pixels, 0.3..=100 with at most one fraction
    /// digit, in tenths (3..=1000).
    pub blur: Option<u16>,
    /// `info=1` (the only value): answer the original's size as JSON
    /// (`image_filter size`) instead of a thumbnail.
    pub info: bool,
    /// `frame=0` (the only value): a still of an animation's first frame.
    pub still: bool,
}

/// Parses a query string (without the leading `?`). Errors are
/// [`crate::ErrorClass::BadRequest`] with a short plain-text reason such as
/// `unknown parameter "x"`, `repeated parameter "w"` or
/// `invalid value for "w"`.
pub fn parse_query(args: &[u8]) -> Result<QueryParams, Error> {
    let mut q = QueryParams::default();
    let mut seen: Vec<Vec<u8>> = Vec::new();
    let mut components: (Option<u8>, Option<u8>) = (None, None);
    for segment in args.split(|&b| b == b'&').filter(|s| !s.is_empty()) {
        let (raw_name, raw_value) = match segment.iter().position(|&b| b == b'=') {
            Some(at) => (&segment[..at], &segment[at + 1..]),
            None => (segment, &segment[segment.len()..]),
        };
        let name = percent_decode(raw_name).ok_or_else(|| {
            Error::bad_request(format!(
                "malformed percent-encoding in {}",
                quoted(raw_name)
            ))
        })?;
        let value = percent_decode(raw_value).ok_or_else(|| {
            Error::bad_request(format!(
                "malformed percent-encoding in {}",
                quoted(raw_name)
            ))
        })?;
        if !KNOWN.contains(&name.as_slice()) {
            return Err(Error::bad_request(format!(
                "unknown parameter {}",
                quoted(&name)
            )));
        }
        if seen.contains(&name) {
            return Err(Error::bad_request(format!(
                "repeated parameter {}",
                quoted(&name)
            )));
        }
        // An empty signature is a bad one (403), like any other.
        if value.is_empty() && name != b"s" {
            return Err(Error::bad_request(format!(
                "empty value for {}",
                quoted(&name)
            )));
        }
        let invalid = || Error::bad_request(format!("invalid value for {}", quoted(&name)));
        let v = value.as_slice();
        match name.as_slice() {
            b"w" => q.width = Some(parse_side(v).ok_or_else(invalid)?),
            b"h" => q.height = Some(parse_side(v).ok_or_else(invalid)?),
            b"fit" => q.fit = Some(parse_fit(v).ok_or_else(invalid)?),
            b"g" => q.gravity = Some(parse_gravity(v).ok_or_else(invalid)?),
            b"fp" => q.focal = Some(parse_focal(v).ok_or_else(invalid)?),
            b"q" => {
                let quality = parse_decimal(v, 0).filter(|q| (1..=100).contains(q));
                q.quality = Some(quality.ok_or_else(invalid)? as u8);
            }
            b"fm" => q.format = Some(parse_format(v).ok_or_else(invalid)?),
            b"dpr" => {
                let dpr = parse_decimal(v, 2).filter(|d| (100..=400).contains(d));
                q.dpr = Some(dpr.ok_or_else(invalid)? as u16);
            }
            b"p" => {
                let ok = v.len() <= 64
                    && v.iter()
                        .all(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                q.preset = Some(ok.then(|| ascii(v)).ok_or_else(invalid)?);
            }
            // Any text: whether it is a valid signature is the verifier's
            // question, and every wrong one gets the same 403.
            b"s" => q.signature = Some(ascii(v)),
            b"r" => {
                let rotate = match v {
                    b"90" => Rotation::Ccw90,
                    b"180" => Rotation::Ccw180,
                    b"270" => Rotation::Ccw270,
                    _ => return Err(invalid()),
                };
                q.rotate = Some(rotate);
            }
            b"flip" => {
                let flip = std::str::from_utf8(v).ok().and_then(Flip::parse);
                q.flip = Some(flip.ok_or_else(invalid)?);
            }
            b"sharpen" => {
                let sharpen = std::str::from_utf8(v).ok().and_then(parse_sharpen);
                q.sharpen = Some(sharpen.filter(|&s| s > 0).ok_or_else(invalid)?);
            }
            b"blur" => {
                let blur = std::str::from_utf8(v).ok().and_then(parse_blur);
                q.blur = Some(blur.ok_or_else(invalid)?);
            }
            b"x" | b"y" => {
                let n = parse_decimal(v, 0).filter(|n| (1..=9).contains(n));
                let n = n.ok_or_else(invalid)? as u8;
                if name.as_slice() == b"x" {
                    components.0 = Some(n);
                } else {
                    components.1 = Some(n);
                }
            }
            b"info" if v == b"1" => q.info = true,
            b"info" => return Err(invalid()),
            b"frame" if v == b"0" => q.still = true,
            b"frame" => return Err(invalid()),
            _ => unreachable!("KNOWN lists every name matched here"),
        }
        seen.push(name);
    }
    if components != (None, None) {
        let Some(FormatParam::Placeholder(Placeholder::Blurhash { x, y })) = &mut q.format else {
            return Err(Error::bad_request(
                "\"x\" and \"y\" are BlurHash components: only with fm=blurhash",
            ));
        };
        *x = components.0.unwrap_or(*x);
        *y = components.1.unwrap_or(*y);
    }
    Ok(q)
}

const KNOWN: &[&[u8]] = &[
    b"w", b"h", b"fit", b"g", b"fp", b"q", b"fm", b"dpr", b"p", b"s", b"r", b"flip", b"sharpen",
    b"blur", b"info", b"x", b"y", b"frame",
];

/// A name for an error message: quoted, escaped, and cut short so a hostile
/// query cannot fill the log.
fn quoted(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(32)]);
    let more = if bytes.len() > 32 { "..." } else { "" };
    format!("\"{}{more}\"", text.escape_debug())
}

/// Bytes already checked to be ASCII, as a String.
fn ascii(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Decodes `%XX`; `None` for a `%` not followed by two hex digits.
fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let high = char::from(hex[0]).to_digit(16)?;
            let low = char::from(hex[1]).to_digit(16)?;
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

fn parse_side(s: &[u8]) -> Option<u32> {
    parse_decimal(s, 0).filter(|v| (1..=65535).contains(v))
}

fn parse_fit(s: &[u8]) -> Option<Fit> {
    Some(match s {
        b"fit" => Fit::Fit,
        b"crop" => Fit::Crop,
        b"fill" => Fit::Fill,
        b"pad" => Fit::Pad,
        b"force" => Fit::Force,
        _ => return None,
    })
}

fn parse_gravity(s: &[u8]) -> Option<Gravity> {
    Some(match s {
        b"center" => Gravity::Center,
        b"n" => Gravity::North,
        b"ne" => Gravity::NorthEast,
        b"e" => Gravity::East,
        b"se" => Gravity::SouthEast,
        b"s" => Gravity::South,
        b"sw" => Gravity::SouthWest,
        b"w" => Gravity::West,
        b"nw" => Gravity::NorthWest,
        b"smart" => Gravity::Smart,
        _ => return None,
    })
}

fn parse_focal(s: &[u8]) -> Option<Focal> {
    let at = s.iter().position(|&b| b == b',')?;
    let coord = |d: &[u8]| parse_decimal(d, 3).filter(|&v| v <= 1000).map(|v| v as u16);
    Some(Focal {
        x_milli: coord(&s[..at])?,
        y_milli: coord(&s[at + 1..])?,
    })
}

fn parse_format(s: &[u8]) -> Option<FormatParam> {
    Some(match s {
        b"jpeg" => FormatParam::Jpeg,
        b"png" => FormatParam::Png,
        b"webp" => FormatParam::Webp,
        b"gif" => FormatParam::Gif,
        b"avif" => FormatParam::Avif,
        b"auto" => FormatParam::Auto,
        b"thumbhash" => FormatParam::Placeholder(Placeholder::Thumbhash),
        b"blurhash" => FormatParam::Placeholder(Placeholder::DEFAULT_BLURHASH),
        b"color" => FormatParam::Placeholder(Placeholder::Color),
        b"lqip" => FormatParam::Placeholder(Placeholder::Lqip),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
