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
    b"blur", b"info", b"x", b"y",
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
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    fn ok(args: &str) -> QueryParams {
        parse_query(args.as_bytes()).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn with(f: impl Fn(&mut QueryParams)) -> QueryParams {
        let mut q = QueryParams::default();
        f(&mut q);
        q
    }

    #[test]
    fn accepted_table() {
        let table: Vec<(&str, QueryParams)> = vec![
            ("", QueryParams::default()),
            ("&&", QueryParams::default()),
            (
                "w=350&h=350",
                with(|q| {
                    q.width = Some(350);
                    q.height = Some(350);
                }),
            ),
            ("w=1", with(|q| q.width = Some(1))),
            ("h=65535", with(|q| q.height = Some(65535))),
            ("w=%33%35%30", with(|q| q.width = Some(350))),
            ("%77=7", with(|q| q.width = Some(7))),
            (
                "w=350&&h=2&",
                with(|q| {
                    q.width = Some(350);
                    q.height = Some(2);
                }),
            ),
            ("fit=fit", with(|q| q.fit = Some(Fit::Fit))),
            ("fit=crop", with(|q| q.fit = Some(Fit::Crop))),
            ("fit=fill", with(|q| q.fit = Some(Fit::Fill))),
            ("fit=pad", with(|q| q.fit = Some(Fit::Pad))),
            ("fit=force", with(|q| q.fit = Some(Fit::Force))),
            ("g=center", with(|q| q.gravity = Some(Gravity::Center))),
            ("g=n", with(|q| q.gravity = Some(Gravity::North))),
            ("g=ne", with(|q| q.gravity = Some(Gravity::NorthEast))),
            ("g=e", with(|q| q.gravity = Some(Gravity::East))),
            ("g=se", with(|q| q.gravity = Some(Gravity::SouthEast))),
            ("g=s", with(|q| q.gravity = Some(Gravity::South))),
            ("g=sw", with(|q| q.gravity = Some(Gravity::SouthWest))),
            ("g=w", with(|q| q.gravity = Some(Gravity::West))),
            ("g=nw", with(|q| q.gravity = Some(Gravity::NorthWest))),
            ("g=smart", with(|q| q.gravity = Some(Gravity::Smart))),
            (
                "fp=0.25,0.75",
                with(|q| {
                    q.focal = Some(Focal {
                        x_milli: 250,
                        y_milli: 750,
                    })
                }),
            ),
            (
                "fp=0,1",
                with(|q| {
                    q.focal = Some(Focal {
                        x_milli: 0,
                        y_milli: 1000,
                    })
                }),
            ),
            (
                "fp=1.000,0.001",
                with(|q| {
                    q.focal = Some(Focal {
                        x_milli: 1000,
                        y_milli: 1,
                    })
                }),
            ),
            (
                "fp=0.5%2C0.5",
                with(|q| {
                    q.focal = Some(Focal {
                        x_milli: 500,
                        y_milli: 500,
                    })
                }),
            ),
            ("q=1", with(|q| q.quality = Some(1))),
            ("q=100", with(|q| q.quality = Some(100))),
            ("fm=jpeg", with(|q| q.format = Some(FormatParam::Jpeg))),
            ("fm=png", with(|q| q.format = Some(FormatParam::Png))),
            ("fm=webp", with(|q| q.format = Some(FormatParam::Webp))),
            ("fm=avif", with(|q| q.format = Some(FormatParam::Avif))),
            ("fm=gif", with(|q| q.format = Some(FormatParam::Gif))),
            ("fm=auto", with(|q| q.format = Some(FormatParam::Auto))),
            (
                "fm=thumbhash",
                with(|q| q.format = Some(FormatParam::Placeholder(Placeholder::Thumbhash))),
            ),
            (
                "fm=blurhash",
                with(|q| q.format = Some(FormatParam::Placeholder(Placeholder::DEFAULT_BLURHASH))),
            ),
            (
                "fm=blurhash&x=9&y=1",
                with(|q| {
                    q.format = Some(FormatParam::Placeholder(Placeholder::Blurhash {
                        x: 9,
                        y: 1,
                    }))
                }),
            ),
            (
                "y=2&fm=blurhash",
                with(|q| {
                    q.format = Some(FormatParam::Placeholder(Placeholder::Blurhash {
                        x: 4,
                        y: 2,
                    }))
                }),
            ),
            (
                "fm=color",
                with(|q| q.format = Some(FormatParam::Placeholder(Placeholder::Color))),
            ),
            (
                "fm=lqip",
                with(|q| q.format = Some(FormatParam::Placeholder(Placeholder::Lqip))),
            ),
            ("dpr=1", with(|q| q.dpr = Some(100))),
            ("dpr=1.5", with(|q| q.dpr = Some(150))),
            ("dpr=2.25", with(|q| q.dpr = Some(225))),
            ("dpr=4", with(|q| q.dpr = Some(400))),
            ("dpr=4.00", with(|q| q.dpr = Some(400))),
            ("p=small_2-x", with(|q| q.preset = Some("small_2-x".into()))),
            (
                "p=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                with(|q| q.preset = Some("a".repeat(64))),
            ),
            (
                "s=2V5jY2MWHlOSN1sHKCQTekX0IZqjuSGD5vQS5NVFklc",
                with(|q| q.signature = Some("2V5jY2MWHlOSN1sHKCQTekX0IZqjuSGD5vQS5NVFklc".into())),
            ),
            // Not base64url: still parsed, so the verifier refuses it (403).
            (
                "s=garbage!!",
                with(|q| q.signature = Some("garbage!!".into())),
            ),
            ("s=", with(|q| q.signature = Some(String::new()))),
            (
                "s=a-_b&p=x&dpr=2&fm=auto&q=80&fp=0.1,0.2&g=nw&fit=pad&h=2&w=1",
                QueryParams {
                    width: Some(1),
                    height: Some(2),
                    fit: Some(Fit::Pad),
                    gravity: Some(Gravity::NorthWest),
                    focal: Some(Focal {
                        x_milli: 100,
                        y_milli: 200,
                    }),
                    quality: Some(80),
                    format: Some(FormatParam::Auto),
                    dpr: Some(200),
                    preset: Some("x".into()),
                    signature: Some("a-_b".into()),
                    ..QueryParams::default()
                },
            ),
            ("r=90", with(|q| q.rotate = Some(Rotation::Ccw90))),
            ("r=180", with(|q| q.rotate = Some(Rotation::Ccw180))),
            ("r=270", with(|q| q.rotate = Some(Rotation::Ccw270))),
            ("flip=h", with(|q| q.flip = Some(Flip::Horizontal))),
            ("flip=v", with(|q| q.flip = Some(Flip::Vertical))),
            ("sharpen=1", with(|q| q.sharpen = Some(1))),
            ("sharpen=100", with(|q| q.sharpen = Some(100))),
            ("sharpen=1000", with(|q| q.sharpen = Some(1000))),
            ("blur=0.3", with(|q| q.blur = Some(3))),
            ("blur=2", with(|q| q.blur = Some(20))),
            ("blur=2.5", with(|q| q.blur = Some(25))),
            ("blur=100", with(|q| q.blur = Some(1000))),
            ("info=1", with(|q| q.info = true)),
            (
                "info=1&blur=1.5&sharpen=50&flip=v&r=270&w=9",
                with(|q| {
                    q.width = Some(9);
                    q.rotate = Some(Rotation::Ccw270);
                    q.flip = Some(Flip::Vertical);
                    q.sharpen = Some(50);
                    q.blur = Some(15);
                    q.info = true;
                }),
            ),
        ];
        for (args, want) in table {
            assert_eq!(ok(args), want, "{args:?}");
        }
    }

    #[test]
    fn rejected_table() {
        let table: &[(&str, &str)] = &[
            ("z=1", "unknown parameter \"z\""),
            ("W=1", "unknown parameter \"W\""),
            ("=1", "unknown parameter \"\""),
            ("width=1", "unknown parameter \"width\""),
            ("w=1&w=1", "repeated parameter \"w\""),
            ("w=1&%77=2", "repeated parameter \"w\""),
            ("s=a&s=a", "repeated parameter \"s\""),
            ("w=", "empty value for \"w\""),
            ("w", "empty value for \"w\""),
            ("w=%", "malformed percent-encoding in \"w\""),
            ("w=%3", "malformed percent-encoding in \"w\""),
            ("w=%zz", "malformed percent-encoding in \"w\""),
            ("%7=1", "malformed percent-encoding in \"%7\""),
            ("w=1e3", "invalid value for \"w\""),
            ("fm=blurhash&x=0", "invalid value for \"x\""),
            ("fm=blurhash&y=10", "invalid value for \"y\""),
            (
                "x=4",
                "\"x\" and \"y\" are BlurHash components: only with fm=blurhash",
            ),
            (
                "fm=thumbhash&y=3",
                "\"x\" and \"y\" are BlurHash components: only with fm=blurhash",
            ),
            ("w=0x10", "invalid value for \"w\""),
            ("w=-1", "invalid value for \"w\""),
            ("w=+100", "invalid value for \"w\""),
            ("w=100abc", "invalid value for \"w\""),
            ("w=0350", "invalid value for \"w\""),
            ("w=0", "invalid value for \"w\""),
            ("w=65536", "invalid value for \"w\""),
            ("w=99999999999999999999", "invalid value for \"w\""),
            ("w=1.5", "invalid value for \"w\""),
            ("w=1.", "invalid value for \"w\""),
            ("w= 1", "invalid value for \"w\""),
            ("w=1+", "invalid value for \"w\""),
            ("w=%EF%BC%91", "invalid value for \"w\""), // fullwidth digit one
            ("h=0", "invalid value for \"h\""),
            ("fit=Crop", "invalid value for \"fit\""),
            ("fit=cover", "invalid value for \"fit\""),
            ("g=north", "invalid value for \"g\""),
            ("g=c", "invalid value for \"g\""),
            ("fp=0.5", "invalid value for \"fp\""),
            ("fp=0.5,", "invalid value for \"fp\""),
            ("fp=,0.5", "invalid value for \"fp\""),
            ("fp=0.5,0.5,0.5", "invalid value for \"fp\""),
            ("fp=1.001,0", "invalid value for \"fp\""),
            ("fp=0.1234,0", "invalid value for \"fp\""),
            ("fp=.5,.5", "invalid value for \"fp\""),
            ("fp=-0.1,0", "invalid value for \"fp\""),
            ("fp=2,0", "invalid value for \"fp\""),
            ("q=0", "invalid value for \"q\""),
            ("q=101", "invalid value for \"q\""),
            ("q=080", "invalid value for \"q\""),
            ("fm=jpg", "invalid value for \"fm\""),
            ("fm=JPEG", "invalid value for \"fm\""),
            ("dpr=0.99", "invalid value for \"dpr\""),
            ("dpr=4.01", "invalid value for \"dpr\""),
            ("dpr=1.125", "invalid value for \"dpr\""),
            ("dpr=01", "invalid value for \"dpr\""),
            ("dpr=1e0", "invalid value for \"dpr\""),
            ("p=a.b", "invalid value for \"p\""),
            ("r=0", "invalid value for \"r\""),
            ("r=45", "invalid value for \"r\""),
            ("r=360", "invalid value for \"r\""),
            ("r=-90", "invalid value for \"r\""),
            ("r=090", "invalid value for \"r\""),
            ("r=90.0", "invalid value for \"r\""),
            ("r=90&r=90", "repeated parameter \"r\""),
            ("r=", "empty value for \"r\""),
            ("rotate=90", "unknown parameter \"rotate\""),
            ("flip=H", "invalid value for \"flip\""),
            ("flip=hv", "invalid value for \"flip\""),
            ("flip=x", "invalid value for \"flip\""),
            ("flip=h&flip=v", "repeated parameter \"flip\""),
            ("sharpen=0", "invalid value for \"sharpen\""),
            ("sharpen=1001", "invalid value for \"sharpen\""),
            ("sharpen=050", "invalid value for \"sharpen\""),
            ("sharpen=1.5", "invalid value for \"sharpen\""),
            ("sharpen=-1", "invalid value for \"sharpen\""),
            ("blur=0", "invalid value for \"blur\""),
            ("blur=0.2", "invalid value for \"blur\""),
            ("blur=100.1", "invalid value for \"blur\""),
            ("blur=101", "invalid value for \"blur\""),
            ("blur=1.25", "invalid value for \"blur\""),
            ("blur=.5", "invalid value for \"blur\""),
            ("blur=1e1", "invalid value for \"blur\""),
            ("blur=nan", "invalid value for \"blur\""),
            ("info=0", "invalid value for \"info\""),
            ("info=true", "invalid value for \"info\""),
            ("info=01", "invalid value for \"info\""),
            ("info=", "empty value for \"info\""),
            ("info", "empty value for \"info\""),
            ("info=1&info=1", "repeated parameter \"info\""),
            ("p=a%20b", "invalid value for \"p\""),
            (
                "p=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "invalid value for \"p\"",
            ),
        ];
        for &(args, want) in table {
            let err = parse_query(args.as_bytes()).expect_err(args);
            assert_eq!(err.class(), ErrorClass::BadRequest, "{args:?}");
            assert_eq!(err.to_string(), want, "{args:?}");
        }
    }

    #[test]
    fn error_names_are_escaped_and_cut_short() {
        let long = format!("{}=1", "k".repeat(1000));
        let err = parse_query(long.as_bytes()).unwrap_err().to_string();
        assert!(err.len() < 60, "{err}");
        let err = parse_query(b"a\"%0A\xff=1").unwrap_err().to_string();
        assert_eq!(err, "unknown parameter \"a\\\"\\n\u{fffd}\"");
    }
}
