//! Brings decoded samples to sRGB: CMYK to RGB, and (when embedded) the
//! source's ICC profile converted to sRGB, so browsers that assume sRGB show
//! the colours the author saw.

use moxcms::{ColorProfile, DataColorSpace, Layout as CmsLayout, TransformOptions};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::format::{Decoded, SourceColour};

/// Returns sRGB (or grey) pixels. A profile that is broken, or that does not
/// match the pixels, is ignored rather than refused: the picture is still
/// worth showing, only its colours are approximate.
pub(crate) fn to_srgb(decoded: Decoded) -> Result<Bitmap, Error> {
    let profile = decoded
        .icc
        .as_deref()
        .and_then(|icc| ColorProfile::new_from_slice(icc).ok());
    match decoded.colour {
        SourceColour::Cmyk { inverted } => {
            let bitmap = if inverted {
                invert(decoded.bitmap)
            } else {
                decoded.bitmap
            };
            match profile.filter(|p| p.color_space == DataColorSpace::Cmyk) {
                Some(p) => {
                    match transform(&bitmap, &p, CmsLayout::Rgba, CmsLayout::Rgb, Layout::Rgb) {
                        Some(rgb) => Ok(rgb),
                        None => Ok(cmyk_to_rgb_naive(bitmap)),
                    }
                }
                None => Ok(cmyk_to_rgb_naive(bitmap)),
            }
        }
        SourceColour::Rgb => {
            let bitmap = decoded.bitmap;
            let Some(p) = profile.filter(|p| p.color_space == DataColorSpace::Rgb) else {
                return Ok(bitmap);
            };
            let layout = match bitmap.layout {
                Layout::Rgb => CmsLayout::Rgb,
                Layout::Rgba => CmsLayout::Rgba,
                Layout::Gray => return Ok(bitmap),
            };
            let out_layout = bitmap.layout;
            Ok(transform(&bitmap, &p, layout, layout, out_layout).unwrap_or(bitmap))
        }
        // Grey profiles are near-sRGB tone curves; converting would turn one
        // channel into three for no visible gain.
        SourceColour::Gray => Ok(decoded.bitmap),
    }
}

/// Runs `bitmap` through `profile` -> sRGB; `None` if the CMS refuses the pair.
fn transform(
    bitmap: &Bitmap,
    profile: &ColorProfile,
    src: CmsLayout,
    dst: CmsLayout,
    out_layout: Layout,
) -> Option<Bitmap> {
    let srgb = ColorProfile::new_srgb();
    let t = profile
        .create_transform_8bit(src, &srgb, dst, TransformOptions::default())
        .ok()?;
    let pixels = bitmap.width as usize * bitmap.height as usize;
    let mut out = vec![0u8; pixels * out_layout.channels()];
    t.transform(&bitmap.data, &mut out).ok()?;
    Bitmap::new(bitmap.width, bitmap.height, out_layout, out).ok()
}

/// Adobe CMYK stores 255 - ink; ICC profiles and the formula expect ink.
fn invert(mut bitmap: Bitmap) -> Bitmap {
    for v in &mut bitmap.data {
        *v = 255 - *v;
    }
    bitmap
}

/// Profile-less CMYK (ink amounts): the textbook R = (1-C)(1-K).
fn cmyk_to_rgb_naive(bitmap: Bitmap) -> Bitmap {
    let mut data = Vec::with_capacity(bitmap.data.len() / 4 * 3);
    for p in bitmap.data.chunks_exact(4) {
        let (c, m, y, k) = (255 - p[0], 255 - p[1], 255 - p[2], 255 - p[3]);
        for v in [c, m, y] {
            data.push(((u32::from(v) * u32::from(k) + 127) / 255) as u8);
        }
    }
    Bitmap {
        width: bitmap.width,
        height: bitmap.height,
        layout: Layout::Rgb,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn naive_cmyk_table() {
        // Ink (C, M, Y, K): none, full cyan, full black -> white, cyan, black.
        let ink = vec![0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255];
        let plain = Bitmap::new(3, 1, Layout::Rgba, ink.clone()).unwrap();
        assert_eq!(
            cmyk_to_rgb_naive(plain).data,
            vec![255, 255, 255, 0, 255, 255, 0, 0, 0]
        );
        // Adobe files store the same colours inverted; invert() undoes that.
        let stored: Vec<u8> = ink.iter().map(|v| 255 - v).collect();
        let adobe = invert(Bitmap::new(3, 1, Layout::Rgba, stored).unwrap());
        assert_eq!(
            cmyk_to_rgb_naive(adobe).data,
            vec![255, 255, 255, 0, 255, 255, 0, 0, 0]
        );
    }
}
