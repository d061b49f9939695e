//! What a job asks of the colour adjustments and filters, and the one
//! spelling each value has in a URL or a directive. Applying them is
//! `crate::processing::adjust`'s job.

use crate::job::decimal::parse_decimal;

/// The largest sharpen percentage used; larger values are treated as this.
/// At 1000 the 1-D kernel is already [-2.5, 6, -2.5].
pub const SHARPEN_MAX: u16 = 1000;

/// Blur sigmas accepted, in tenths of a pixel (0.3 ..= 100).
pub const BLUR_MIN: u16 = 3;
pub const BLUR_MAX: u16 = 1000;

/// A factor of exactly 1 (unchanged), in thousandths.
pub(crate) const FACTOR_ONE: u16 = 1000;
/// The largest factor accepted (10), in thousandths.
pub(crate) const FACTOR_MAX: u16 = 10_000;

/// The adjustments of one job. Factors are thousandths (1000 = unchanged,
/// 0..=10000; larger values are treated as 10000); `None` is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Adjustments {
    /// 0 is flat mean grey.
    pub contrast: Option<u16>,
    /// 0 is black.
    pub brightness: Option<u16>,
    /// 0 is black and white.
    pub saturation: Option<u16>,
    /// 0 is blurred (3x3 smooth), above 1000 sharpens.
    pub sharpness: Option<u16>,
    /// Convert to grey (ITU-R 601-2 luma) after the other adjustments.
    pub grayscale: bool,
    /// nginx's `image_filter_sharpen`: libgd's `gdImageSharpen` percentage,
    /// 0 (off) ..= [`SHARPEN_MAX`] (larger is treated as the maximum); 100 is
    /// libgd's "noticeable, but not excessive". Applied last, after
    /// grayscale. Unrelated to `sharpness`.
    pub sharpen: u16,
    /// Gaussian blur, sigma in tenths of a pixel ([`BLUR_MIN`]..=[`BLUR_MAX`],
    /// 0.3 to 100 pixels; values outside are clamped), applied first, right
    /// after the resize.
    pub blur: Option<u16>,
}

/// Parses a factor: a plain decimal with at most 3 fraction digits in 0..=10,
/// into thousandths ("1.2" -> 1200, "0" -> 0, "1" -> 1000). Rejects signs,
/// exponents, hex, "", "1.", ".5" and leading zeros ("01"), so each value has
/// one spelling.
pub fn parse_factor(s: &str) -> Option<u16> {
    let value = parse_decimal(s.as_bytes(), 3)?;
    u16::try_from(value).ok().filter(|&v| v <= FACTOR_MAX)
}

/// Parses a sharpen percentage: a plain decimal integer in
/// 0..=[`SHARPEN_MAX`], one spelling each ("0", "100"; not "0100", "+1").
pub fn parse_sharpen(s: &str) -> Option<u16> {
    let value = parse_decimal(s.as_bytes(), 0)?;
    u16::try_from(value).ok().filter(|&v| v <= SHARPEN_MAX)
}

/// Parses a blur sigma in pixels, a plain decimal with at most one fraction
/// digit in 0.3..=100 ("0.5", "2", "100"), into tenths (5, 20, 1000).
pub fn parse_blur(s: &str) -> Option<u16> {
    let value = parse_decimal(s.as_bytes(), 1)?;
    u16::try_from(value)
        .ok()
        .filter(|v| (BLUR_MIN..=BLUR_MAX).contains(v))
}

pub(crate) fn clamp_factor(f: u16) -> u16 {
    f.min(FACTOR_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_factor_table() {
        let table: &[(&str, Option<u16>)] = &[
            ("1.2", Some(1200)),
            ("0", Some(0)),
            ("1", Some(1000)),
            ("1.0", Some(1000)),
            ("0.5", Some(500)),
            ("0.001", Some(1)),
            ("10", Some(10000)),
            ("10.000", Some(10000)),
            ("9.999", Some(9999)),
            ("10.001", None),
            ("11", None),
            ("1e3", None),
            ("+1", None),
            ("-1", None),
            ("0x1", None),
            ("", None),
            ("1.", None),
            (".5", None),
            ("01", None),
            ("1.2345", None),
            ("1,2", None),
            (" 1", None),
            ("1 ", None),
            ("99999999999999999999", None),
            ("NaN", None),
            ("inf", None),
        ];
        for &(text, want) in table {
            assert_eq!(parse_factor(text), want, "{text:?}");
        }
    }

    #[test]
    fn sharpen_and_blur_parse_one_spelling_each() {
        for (text, want) in [
            ("0", Some(0)),
            ("100", Some(100)),
            ("1000", Some(1000)),
            ("1001", None),
            ("0100", None),
            ("+1", None),
            ("1.5", None),
            ("", None),
        ] {
            assert_eq!(parse_sharpen(text), want, "{text:?}");
        }
        for (text, want) in [
            ("0.3", Some(3)),
            ("0.5", Some(5)),
            ("2", Some(20)),
            ("2.5", Some(25)),
            ("100", Some(1000)),
            ("100.0", Some(1000)),
            ("0.2", None),
            ("0", None),
            ("100.1", None),
            ("1.25", None),
            (".5", None),
            ("1e1", None),
            ("-1", None),
        ] {
            assert_eq!(parse_blur(text), want, "{text:?}");
        }
    }
}
