//! Refusals that must happen before any large allocation: input size, and the
//! pixel count a header declares.

use crate::error::Error;
use crate::job::Limits;

/// Refuses input over the byte limit before anything parses it.
pub(crate) fn check_source_size(len: u64, limits: &Limits) -> Result<(), Error> {
    if len > limits.max_source_size {
        return Err(Error::too_large(format!(
            "source is {len} bytes, over the {}-byte limit",
            limits.max_source_size
        )));
    }
    Ok(())
}

/// Refuses a declared canvas whose decoded frames would exceed the pixel limit,
/// and canvases with a zero side (nothing to decode, and a division hazard).
pub(crate) fn check_pixels(
    width: u32,
    height: u32,
    frames: u32,
    limits: &Limits,
) -> Result<(), Error> {
    if width == 0 || height == 0 {
        return Err(Error::unsupported(format!(
            "image is {width}x{height}, which has no pixels"
        )));
    }
    let pixels = (u64::from(width) * u64::from(height)).saturating_mul(u64::from(frames.max(1)));
    if pixels > limits.max_pixels {
        let frames_text = if frames > 1 {
            format!(" x {frames} frames")
        } else {
            String::new()
        };
        return Err(Error::too_large(format!(
            "image is {width}x{height}{frames_text}, over the {}-pixel limit",
            limits.max_pixels
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorClass;

    #[test]
    fn source_size_limit_is_inclusive() {
        let limits = Limits {
            max_pixels: 1,
            max_source_size: 10,
            ..Limits::default()
        };
        assert!(check_source_size(10, &limits).is_ok());
        let e = check_source_size(11, &limits).unwrap_err();
        assert_eq!(e.class(), ErrorClass::TooLarge);
        assert_eq!(e.to_string(), "source is 11 bytes, over the 10-byte limit");
    }

    #[test]
    fn pixel_limit_table() {
        let limits = Limits::default();
        assert!(check_pixels(10_000, 5_000, 1, &limits).is_ok());
        let e = check_pixels(65535, 65535, 1, &limits).unwrap_err();
        assert_eq!(e.class(), ErrorClass::TooLarge);
        assert_eq!(
            e.to_string(),
            "image is 65535x65535, over the 50000000-pixel limit"
        );
        let e = check_pixels(u32::MAX, u32::MAX, u32::MAX, &limits).unwrap_err();
        assert_eq!(e.class(), ErrorClass::TooLarge);
        let e = check_pixels(5000, 5000, 3, &limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "image is 5000x5000 x 3 frames, over the 50000000-pixel limit"
        );
        assert_eq!(
            check_pixels(0, 10, 1, &limits).unwrap_err().class(),
            ErrorClass::Unsupported
        );
        assert_eq!(
            check_pixels(10, 0, 1, &limits).unwrap_err().class(),
            ErrorClass::Unsupported
        );
    }
}
