//! django-versatileimagefield's sized names (3.1, `utils.get_resized_path`):
//! `__sized__/DIR/NAME-KEY-WxH[-Q].EXT`, where `DIR/NAME.EXT` is the
//! original (its own extension, case kept), `KEY` is `thumbnail` or
//! `crop-cX__Y` (the primary point of interest, each coordinate a Python
//! float between 0 and 1 with `.` written as `-`), and `-Q`, the quality,
//! is there only when `EXT` is jpg, jpeg or webp in any case.
//!
//! The job follows its sizers: `thumbnail` is PIL's `Image.thumbnail`, a
//! fit that never enlarges; `crop` cuts the largest window of the box's
//! shape centred on the point (pushed inside the image) and resizes it to
//! exactly the box, enlarging a smaller original. The output keeps the
//! original's format, as the library saves in the format it sniffed.
//!
//! A `__sized__` directory is removed wherever it is the first one in the
//! path, so a location that maps `/media/` and one that maps
//! `/media/__sized__/` both find the original. Names the library cannot be
//! read back from are refused or not found: an original without an
//! extension (the name says `.jpg`, the original has none), spaces (the
//! library removes them from the whole path), a `VERSATILEIMAGEFIELD_POST_PROCESSOR`
//! (hashed names), other sizers.

use super::{decimal, refuse, shown, split_checked, Library, Named};
use crate::error::Error;
use crate::job::{Fit, Focal, OutputFormat};

const LIB: Library = Library::VersatileImageField;

/// The library's default `sized_directory_name`.
const SIZED_DIR: &[u8] = b"__sized__";

/// Reads a rendition's path (relative to the media root).
pub fn parse(relative: &[u8]) -> Result<Named, Error> {
    let (dir, file) = split_checked(LIB, relative)?;
    let dir = without_sized_dir(dir);
    let (stem, ext) = rsplit(file, b'.').ok_or_else(|| refuse(LIB, "no extension"))?;
    if ext.is_empty() {
        return Err(refuse(LIB, "no extension"));
    }
    let lower = ext.to_ascii_lowercase();
    let mut rest = stem;
    let mut quality = None;
    if matches!(lower.as_slice(), b"jpg" | b"jpeg" | b"webp") {
        let (before, q) = rsplit(rest, b'-').ok_or_else(|| refuse(LIB, "no -QUALITY"))?;
        let q = decimal(q, 100)
            .filter(|&q| q >= 1)
            .ok_or_else(|| refuse(LIB, format!("quality {} is not 1 to 100", shown(q))))?;
        quality = Some(q as u8);
        rest = before;
    }
    let (before, size) = rsplit(rest, b'-').ok_or_else(|| refuse(LIB, "no -WxH"))?;
    let (width, height) = parse_size(size)?;
    rest = before;

    let (name, fit, focal) = if let Some(name) = rest.strip_suffix(b"-thumbnail") {
        (name, Fit::Fit, None)
    } else if let Some(at) = find_last(rest, b"-crop-c") {
        let focal = parse_ppoi(&rest[at + b"-crop-c".len()..])?;
        (&rest[..at], Fit::Crop, Some(focal))
    } else {
        return Err(refuse(LIB, "no -thumbnail- or -crop-cX__Y- key"));
    };
    if name.is_empty() {
        return Err(refuse(LIB, "no original name before the key"));
    }
    let original = [dir.as_slice(), name, b".", ext].concat();
    let mut named = Named::new(original, OutputFormat::Original);
    named.quality = quality;
    let g = &mut named.geometry;
    g.width = Some(width);
    g.height = Some(height);
    g.fit = fit;
    g.focal = focal;
    // The crop sizer resizes its window to exactly the box, whatever the
    // original's size; the thumbnail sizer never enlarges.
    g.enlarge = fit == Fit::Crop;
    Ok(named)
}

/// The directory part without its first `__sized__` component.
fn without_sized_dir(dir: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dir.len());
    let mut removed = false;
    // `dir` is empty or ends with `/`: every piece but the last (empty) one
    // is a component followed by its `/`.
    for piece in dir.split_inclusive(|&b| b == b'/') {
        if !removed && piece.strip_suffix(b"/") == Some(SIZED_DIR) {
            removed = true;
            continue;
        }
        out.extend_from_slice(piece);
    }
    out
}

/// `WxH`, each 1 to 65535 (the library prints `%d` of the key's integers).
fn parse_size(text: &[u8]) -> Result<(u32, u32), Error> {
    let bad = || refuse(LIB, format!("size {} is not WxH", shown(text)));
    let at = text.iter().position(|&b| b == b'x').ok_or_else(bad)?;
    let side = |t: &[u8]| decimal(t, 65535).filter(|&v| v >= 1);
    Ok((
        side(&text[..at]).ok_or_else(bad)?,
        side(&text[at + 1..]).ok_or_else(bad)?,
    ))
}

/// `X__Y`, each `str(float)` with `.` as `-`: `0-5`, `1-0`, `0`, `1`, in
/// 0..=1, to thousandths (rounded: the library places the point at a whole
/// pixel, so on a 4000-pixel side the two may differ by two pixels).
fn parse_ppoi(text: &[u8]) -> Result<Focal, Error> {
    let bad = || {
        refuse(
            LIB,
            format!("point of interest {} is not X__Y", shown(text)),
        )
    };
    let at = find_last(text, b"__").ok_or_else(bad)?;
    let x = coordinate(&text[..at]).ok_or_else(bad)?;
    let y = coordinate(&text[at + 2..]).ok_or_else(bad)?;
    Ok(Focal {
        x_milli: x,
        y_milli: y,
    })
}

/// One coordinate in thousandths.
fn coordinate(text: &[u8]) -> Option<u16> {
    let (int, frac) = match text.iter().position(|&b| b == b'-') {
        Some(at) => (&text[..at], &text[at + 1..]),
        None => (text, &b""[..]),
    };
    let int = match int {
        b"0" => 0u32,
        b"1" => 1,
        _ => return None,
    };
    // Python prints at most 17 significant digits; longer is not its float.
    if frac.len() > 17
        || !frac.iter().all(u8::is_ascii_digit)
        || (text.contains(&b'-') && frac.is_empty())
    {
        return None;
    }
    // Thousandths, rounded half up from the fourth digit.
    let digit = |i: usize| frac.get(i).map_or(0, |&b| u32::from(b - b'0'));
    let mut milli = int * 1000 + digit(0) * 100 + digit(1) * 10 + digit(2);
    if digit(3) >= 5 {
        milli += 1;
    }
    // 1 with any non-zero fraction is over 1.
    if int == 1 && frac.iter().any(|&b| b != b'0') {
        return None;
    }
    Some(milli.min(1000) as u16)
}

/// Splits at the last `sep`: (before, after).
fn rsplit(text: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let at = text.iter().rposition(|&b| b == sep)?;
    Some((&text[..at], &text[at + 1..]))
}

/// Where `needle` last starts in `haystack`.
fn find_last(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests;
