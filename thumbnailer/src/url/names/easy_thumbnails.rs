//! easy-thumbnails' default namer (2.10): `SOURCE.WxH_qQ[ssN][_OPTION...].EXT`,
//! the source file name with its own extension, then the options its
//! `ThumbnailOptions.prepared_options()` prints, then the thumbnail's
//! extension (`jpg`, or `png` for a transparent result).
//!
//! The job follows its processors (`scale_and_crop`, `colorspace`,
//! `background`): a box with `0` as a free side, never enlarged without
//! `upscale`; `crop` covers the box and cuts around `target` (percentages,
//! 50,50 by default); `crop-smart` keeps the busiest window; `crop-scale`
//! covers without cutting; `crop-0,0`-style edges cut from a side;
//! `background-#rrggbb` pads a fit to the box; `bw` is grey. Anything else
//! it can write (`zoom`, `sharpen`, `detail`, `autocrop`, `replace_alpha`,
//! `keep_icc_profile`, `ss0`/`ss1` subsampling, edge offsets other than 0,
//! `background` with `crop` or a non-JPEG output) has no equivalent here
//! and is refused, as is any other namer's name.

use super::{decimal, refuse, shown, split_checked, Library, Named};
use crate::error::Error;
use crate::job::{Fit, Focal, Gravity, OutputFormat, Rgb};

const LIB: Library = Library::EasyThumbnails;

/// `crop`'s forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Crop {
    /// `crop`, or `crop-,`: cut around the target (the centre by default).
    Target,
    /// `crop-smart`.
    Smart,
    /// `crop-scale`: cover the box, cut nothing.
    Scale,
    /// `crop-X,Y` with 0 offsets: each axis from its start, its end, or (not
    /// given) the target.
    Edges(Option<Edge>, Option<Edge>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Edge {
    Start,
    End,
}

/// Reads a rendition's path (relative to the media root).
pub fn parse(relative: &[u8]) -> Result<Named, Error> {
    let (dir, file) = split_checked(LIB, relative)?;
    let missing = || refuse(LIB, "no \".WxH_options.ext\" suffix");
    let (rest, ext) = rsplit(file, b'.').ok_or_else(missing)?;
    let (source, opts) = rsplit(rest, b'.').ok_or_else(missing)?;
    if matches!(source, b"" | b"." | b"..") {
        return Err(refuse(LIB, "no source file name before the options"));
    }
    let format = match ext {
        b"jpg" | b"jpeg" => OutputFormat::Jpeg,
        b"png" => OutputFormat::Png,
        b"webp" => OutputFormat::Webp,
        b"gif" => OutputFormat::Gif,
        _ => return Err(refuse(LIB, format!("extension {} unsupported", shown(ext)))),
    };
    let mut named = Named::new([dir, source].concat(), format);
    let mut parts = opts.split(|&b| b == b'_');
    let size = parts.next().unwrap_or_default();
    let (width, height) = parse_size(size)?;
    named.geometry.width = width;
    named.geometry.height = height;
    named.quality = Some(parse_quality(parts.next().ok_or_else(missing)?)?);

    let mut crop = None;
    let mut target = None;
    let mut previous: &[u8] = b"";
    for part in parts {
        let (key, value) = match part.iter().position(|&b| b == b'-') {
            Some(at) => (&part[..at], Some(&part[at + 1..])),
            None => (part, None),
        };
        // The library writes the options sorted by key, each once.
        if key <= previous {
            return Err(refuse(
                LIB,
                format!("option {} out of order or repeated", shown(part)),
            ));
        }
        previous = key;
        let unsupported = || refuse(LIB, format!("option {} is not supported", shown(part)));
        match (key, value) {
            (b"crop", None) => crop = Some(Crop::Target),
            (b"crop", Some(v)) => crop = Some(parse_crop(v).ok_or_else(unsupported)?),
            (b"upscale", None) => named.geometry.enlarge = true,
            (b"bw", None) => named.grayscale = true,
            (b"target", Some(v)) => target = Some(parse_target(v).ok_or_else(unsupported)?),
            (b"background", Some(v)) => {
                named.background = Some(parse_colour(v).ok_or_else(unsupported)?)
            }
            _ => return Err(unsupported()),
        }
    }
    apply_crop(&mut named, crop, target)?;
    Ok(named)
}

/// `WxH`, each side 0 (free) to 65535, not both 0.
fn parse_size(text: &[u8]) -> Result<(Option<u32>, Option<u32>), Error> {
    let bad = || refuse(LIB, format!("size {} is not WxH", shown(text)));
    let at = text.iter().position(|&b| b == b'x').ok_or_else(bad)?;
    let side = |t: &[u8]| decimal(t, 65535).map(|v| (v > 0).then_some(v));
    let width = side(&text[..at]).ok_or_else(bad)?;
    let height = side(&text[at + 1..]).ok_or_else(bad)?;
    if width.is_none() && height.is_none() {
        return Err(refuse(LIB, "size 0x0"));
    }
    Ok((width, height))
}

/// `qN`, the quality, 1 to 100; `ssN` after it is a chroma subsampling other
/// than the encoder's 4:2:0, which this module cannot change.
fn parse_quality(text: &[u8]) -> Result<u8, Error> {
    let bad = || refuse(LIB, format!("{} is not a quality qN", shown(text)));
    let digits = text.strip_prefix(b"q").ok_or_else(bad)?;
    if digits.windows(2).any(|w| w == b"ss") {
        return Err(refuse(
            LIB,
            format!("subsampling in {} is not supported", shown(text)),
        ));
    }
    let quality = decimal(digits, 100).filter(|&q| q >= 1).ok_or_else(bad)?;
    Ok(quality as u8)
}

/// `smart`, `scale`, or edges `X,Y` whose offsets are 0 (`0` from the
/// start, `-0` from the end, empty for the target's).
fn parse_crop(value: &[u8]) -> Option<Crop> {
    match value {
        b"smart" => return Some(Crop::Smart),
        b"scale" => return Some(Crop::Scale),
        _ => {}
    }
    let at = value.iter().position(|&b| b == b',')?;
    let edge = |t: &[u8]| -> Option<Option<Edge>> {
        match t {
            b"" => Some(None),
            b"0" => Some(Some(Edge::Start)),
            b"-0" => Some(Some(Edge::End)),
            _ => None,
        }
    };
    match (edge(&value[..at])?, edge(&value[at + 1..])?) {
        (None, None) => Some(Crop::Target),
        (x, y) => Some(Crop::Edges(x, y)),
    }
}

/// `X,Y` in percent, 0 to 100; an empty side, or Python's `None` from a
/// tuple, is 50.
fn parse_target(value: &[u8]) -> Option<(u16, u16)> {
    let at = value.iter().position(|&b| b == b',')?;
    let percent = |t: &[u8]| match t {
        b"" | b"None" => Some(50),
        _ => decimal(t, 100).map(|v| v as u16),
    };
    Some((percent(&value[..at])?, percent(&value[at + 1..])?))
}

/// `#rgb` or `#rrggbb`. PIL's colour names are not read.
fn parse_colour(value: &[u8]) -> Option<Rgb> {
    let hex = value.strip_prefix(b"#")?;
    let digit = |b: u8| char::from(b).to_digit(16).map(|d| d as u8);
    let digits: Vec<u8> = hex.iter().map(|&b| digit(b)).collect::<Option<_>>()?;
    match digits.as_slice() {
        [r, g, b] => Some(Rgb(r * 17, g * 17, b * 17)),
        [r1, r2, g1, g2, b1, b2] => Some(Rgb(r1 * 16 + r2, g1 * 16 + g2, b1 * 16 + b2)),
        _ => None,
    }
}

/// The fit, gravity and focal point from `crop`, `target` and `background`.
fn apply_crop(
    named: &mut Named,
    crop: Option<Crop>,
    target: Option<(u16, u16)>,
) -> Result<(), Error> {
    let g = &mut named.geometry;
    let focal = target.map(|(x, y)| Focal {
        x_milli: x * 10,
        y_milli: y * 10,
    });
    if named.background.is_some() {
        // The library pads only what fits inside the box; after a crop it
        // would pad a source smaller than the box, which a crop here never
        // does. Padding is also flattened onto the colour, which only JPEG
        // output would match.
        if crop.is_some() {
            return Err(refuse(LIB, "background with crop is not supported"));
        }
        if named.format != OutputFormat::Jpeg {
            return Err(refuse(LIB, "background is only supported for jpg output"));
        }
        g.fit = Fit::Pad;
        return Ok(());
    }
    match crop {
        None => g.fit = Fit::Fit,
        Some(Crop::Scale) => g.fit = Fit::Fill,
        Some(Crop::Target) => {
            g.fit = Fit::Crop;
            g.focal = focal;
        }
        // The library's smart crop ignores the target.
        Some(Crop::Smart) => {
            g.fit = Fit::Crop;
            g.gravity = Gravity::Smart;
        }
        Some(Crop::Edges(x, y)) => {
            // An axis without an edge keeps the target's position; here
            // that is only expressible when it is the centre.
            if target.is_some_and(|(tx, ty)| (x.is_none() && tx != 50) || (y.is_none() && ty != 50))
            {
                return Err(refuse(
                    LIB,
                    "crop edges with an off-centre target are not supported",
                ));
            }
            g.fit = Fit::Crop;
            g.gravity = match (x, y) {
                (None, None) => Gravity::Center,
                (None, Some(Edge::Start)) => Gravity::North,
                (None, Some(Edge::End)) => Gravity::South,
                (Some(Edge::Start), None) => Gravity::West,
                (Some(Edge::End), None) => Gravity::East,
                (Some(Edge::Start), Some(Edge::Start)) => Gravity::NorthWest,
                (Some(Edge::End), Some(Edge::Start)) => Gravity::NorthEast,
                (Some(Edge::Start), Some(Edge::End)) => Gravity::SouthWest,
                (Some(Edge::End), Some(Edge::End)) => Gravity::SouthEast,
            };
        }
    }
    Ok(())
}

/// Splits at the last `sep`: (before, after).
fn rsplit(text: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = text.iter().rposition(|&b| b == sep)?;
    Some((&text[..at], &text[at + 1..]))
}

#[cfg(test)]
mod tests;
