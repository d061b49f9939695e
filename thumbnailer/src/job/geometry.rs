//! Where the thumbnail comes from and how it is shaped: the box, the fit,
//! gravity or focal point, the turn and the mirror.

use crate::error::Error;

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
}
