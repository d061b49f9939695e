//! JPEG XL in (no JPEG XL out): `jxl-oxide`, pure Rust, reads the size from
//! the codestream header before any pixel, then renders the first keyframe
//! to 8-bit samples with the orientation applied. It runs single-threaded
//! (the module already has one decode per pool thread) and under an
//! allocation budget, so a hostile file cannot make it allocate past what
//! the header's size justifies.

use jxl_oxide::{AllocTracker, InitializeResult, JxlImage, JxlThreadPool};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::{Decoded, Header, SourceColour};
use crate::job::Limits;
use crate::limits;
use crate::processing::orient::Orientation;

/// A bare codestream starts with FF 0A; the ISO-BMFF container with its
/// 12-byte signature box.
pub(crate) fn is_jxl(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL \x0d\x0a\x87\x0a")
}

/// Bytes of working memory the renderer may take per pixel: it keeps
/// 32-bit float planes (up to four channels, plus the frame being
/// composed and upsampling buffers), measured at well under this.
pub(crate) const WORK_BYTES_PER_PIXEL: u64 = 48;

/// Fixed allowance for tables, the ICC profile and small frames.
const WORK_BYTES_FIXED: u64 = 32 << 20;

/// The header, parsed without decoding anything else.
fn open(data: &[u8], tracker: Option<AllocTracker>) -> Result<(JxlImage, usize), Error> {
    let mut builder = JxlImage::builder().pool(JxlThreadPool::none());
    if let Some(tracker) = tracker {
        builder = builder.alloc_tracker(tracker);
    }
    let mut uninit = builder.build_uninit();
    let consumed = uninit.feed_bytes(data).map_err(decode_error)?;
    match uninit.try_init().map_err(decode_error)? {
        InitializeResult::Initialized(image) => Ok((image, consumed)),
        InitializeResult::NeedMoreData(_) => Err(Error::unsupported("truncated jxl header")),
    }
}

fn decode_error(e: Box<dyn std::error::Error + Send + Sync>) -> Error {
    Error::unsupported(format!("corrupt jxl: {e}"))
}

pub(crate) fn read_header(data: &[u8]) -> Result<Header, Error> {
    let (image, _) = open(data, None)?;
    if image.pixel_format().has_black() {
        return Err(Error::unsupported("CMYK jxl input is not supported"));
    }
    // width() and height() are after the orientation, which the render
    // applies too.
    Ok(Header {
        width: image.width(),
        height: image.height(),
        frames: 1,
        orientation: Orientation::Normal,
    })
}

/// The first keyframe as 8-bit samples. Gray stays gray; gray with alpha
/// becomes RGBA, the one alpha layout a bitmap has.
pub(crate) fn decode(data: &[u8], header: &Header, limits: &Limits) -> Result<Decoded, Error> {
    // The pipeline checked the header already; the renderer's budget below
    // rests on it, so a direct caller gets the same check.
    limits::check_pixels(header.width, header.height, 1, limits)?;
    let pixels = u64::from(header.width) * u64::from(header.height);
    let budget = pixels
        .saturating_mul(WORK_BYTES_PER_PIXEL)
        .saturating_add(WORK_BYTES_FIXED);
    let tracker = AllocTracker::with_limit(usize::try_from(budget).unwrap_or(usize::MAX));
    let (mut image, consumed) = open(data, Some(tracker))?;
    image
        .feed_bytes(&data[consumed.min(data.len())..])
        .map_err(decode_error)?;
    image.finalize().map_err(decode_error)?;
    if image.num_loaded_keyframes() == 0 {
        return Err(Error::unsupported("truncated jxl: no complete frame"));
    }
    let render = image.render_frame(0).map_err(decode_error)?;
    let mut stream = render.stream();
    let (width, height, channels) = (stream.width(), stream.height(), stream.channels());
    if (width, height) != (header.width, header.height) {
        return Err(Error::unsupported(
            "corrupt jxl: frame size differs from header",
        ));
    }
    let len = (width as usize)
        .checked_mul(height as usize)
        .and_then(|p| p.checked_mul(channels as usize))
        .ok_or_else(|| Error::too_large("jxl frame too large"))?;
    let mut samples = vec![0u8; len];
    if stream.write_to_buffer(&mut samples) != len {
        return Err(Error::unsupported("corrupt jxl: short frame"));
    }
    let (layout, colour, samples) = match channels {
        1 => (Layout::Gray, SourceColour::Gray, samples),
        2 => {
            let rgba = samples
                .chunks_exact(2)
                .flat_map(|ga| [ga[0], ga[0], ga[0], ga[1]])
                .collect();
            (Layout::Rgba, SourceColour::Rgb, rgba)
        }
        3 => (Layout::Rgb, SourceColour::Rgb, samples),
        4 => (Layout::Rgba, SourceColour::Rgb, samples),
        n => {
            return Err(Error::unsupported(format!(
                "jxl with {n} channels is not supported"
            )))
        }
    };
    // Rendered in sRGB unless the image carries its own profile; then the
    // samples are in that profile, which the colour step converts from.
    const SRGB_CICP: [u8; 4] = [1, 13, 0, 1];
    let icc = match image.rendered_cicp() {
        Some(SRGB_CICP) => None,
        _ => Some(image.rendered_icc()),
    };
    Ok(Decoded {
        bitmap: Bitmap::new(width, height, layout, samples)?,
        colour,
        icc,
        from_palette: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::process::Command;

    /// A JPEG XL file made by `cjxl` (Debian's libjxl-tools) from a PNG
    /// written here, or None when cjxl is missing (a failure under CI).
    fn encoded(name: &str, img: image::DynamicImage, args: &[&str]) -> Option<Vec<u8>> {
        let dir = tempfile::tempdir().unwrap();
        let png: PathBuf = dir.path().join(format!("{name}.png"));
        let jxl = dir.path().join(format!("{name}.jxl"));
        img.save(&png).unwrap();
        match Command::new("cjxl").arg(&png).arg(&jxl).args(args).output() {
            Ok(out) if out.status.success() => Some(std::fs::read(&jxl).unwrap()),
            Ok(out) => panic!("cjxl failed: {}", String::from_utf8_lossy(&out.stderr)),
            Err(_) if std::env::var_os("CI").is_some() => {
                panic!("cjxl (Debian package libjxl-tools) is required under CI")
            }
            Err(_) => {
                eprintln!("skipping: cjxl (Debian package libjxl-tools) is not installed");
                None
            }
        }
    }

    fn gradient(width: u32, height: u32) -> image::RgbImage {
        image::RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x * 255 / width) as u8, (y * 255 / height) as u8, 128])
        })
    }

    #[test]
    fn sniffs_codestream_and_container() {
        assert!(is_jxl(&[0xFF, 0x0A, 0x00]));
        assert!(is_jxl(b"\0\0\0\x0cJXL \x0d\x0a\x87\x0a\0\0\0\x14ftypjxl "));
        assert!(!is_jxl(&[0xFF, 0xD8, 0xFF]));
        assert!(!is_jxl(b"\0\0\0\x0cJXL "));
    }

    #[test]
    fn lossless_rgb_round_trip_is_exact() {
        let source = gradient(67, 45);
        let Some(data) = encoded("rgb", source.clone().into(), &["-d", "0"]) else {
            return;
        };
        let header = read_header(&data).unwrap();
        assert_eq!((header.width, header.height), (67, 45));
        let decoded = decode(&data, &header, &Limits::default()).unwrap();
        assert_eq!(decoded.bitmap.layout, Layout::Rgb);
        assert!(decoded.icc.is_none(), "sRGB needs no profile");
        assert_eq!(decoded.bitmap.data, source.into_raw());
    }

    #[test]
    fn lossy_gray_alpha_becomes_rgba_within_tolerance() {
        let source = image::GrayAlphaImage::from_fn(40, 30, |x, y| {
            image::LumaA([(x * 6) as u8, if y < 15 { 255 } else { 0 }])
        });
        let Some(data) = encoded("ga", source.clone().into(), &["-d", "1"]) else {
            return;
        };
        let header = read_header(&data).unwrap();
        let decoded = decode(&data, &header, &Limits::default()).unwrap();
        assert_eq!(decoded.bitmap.layout, Layout::Rgba);
        for (px, want) in decoded.bitmap.data.chunks_exact(4).zip(source.pixels()) {
            assert_eq!(px[0], px[2], "gray stays gray");
            // cjxl codes alpha with the same distance as the colour.
            assert!(
                px[3].abs_diff(want[1]) <= 3,
                "alpha {} vs {}",
                px[3],
                want[1]
            );
            if want[1] == 255 {
                assert!(px[0].abs_diff(want[0]) <= 12, "{} vs {}", px[0], want[0]);
            }
        }
    }

    #[test]
    fn truncated_and_over_limit_files_are_refused() {
        let Some(data) = encoded("big", gradient(300, 200).into(), &["-d", "1"]) else {
            return;
        };
        let header = read_header(&data).unwrap();
        let cut = &data[..data.len() / 2];
        assert!(decode(cut, &header, &Limits::default()).is_err());
        assert!(read_header(&data[..2]).is_err());
        let small = Limits {
            max_pixels: 300 * 200 - 1,
            ..Limits::default()
        };
        let err = decode(&data, &header, &small).unwrap_err();
        assert_eq!(err.class(), crate::error::ErrorClass::TooLarge);
    }
}
