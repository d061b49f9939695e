//! Cuts the planned region and scales it to the output size with Lanczos3.
//! Alpha images are filtered premultiplied (the resizer does it), so
//! transparent neighbours never bleed dark fringes into edges.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::processing::geometry::Plan;

fn pixel_type(layout: Layout) -> PixelType {
    match layout {
        Layout::Gray => PixelType::U8,
        Layout::Rgb => PixelType::U8x3,
        Layout::Rgba => PixelType::U8x4,
    }
}

/// Applies `plan`, which was made for the upright source at full size, to
/// `bitmap`, which may have been decoded at a reduced scale.
pub(crate) fn apply(bitmap: &Bitmap, plan: &Plan) -> Result<Bitmap, Error> {
    // Map the region from full-size source coordinates into the decoded ones.
    let sx = f64::from(bitmap.width) / f64::from(plan.source_width);
    let sy = f64::from(bitmap.height) / f64::from(plan.source_height);
    let left = f64::from(plan.region.left) * sx;
    let top = f64::from(plan.region.top) * sy;
    // A side that is not a multiple of the decode scale maps to a box an
    // ulp past the bitmap (149 * 75/149 = 75.00000000000001), which the
    // resizer refuses: the box never reaches past the decoded pixels.
    let width = (f64::from(plan.region.width) * sx).min(f64::from(bitmap.width) - left);
    let height = (f64::from(plan.region.height) * sy).min(f64::from(bitmap.height) - top);
    let (ow, oh) = (plan.out_width, plan.out_height);

    if width == f64::from(ow) && height == f64::from(oh) {
        return Ok(cut(bitmap, left as u32, top as u32, ow, oh));
    }

    let pt = pixel_type(bitmap.layout);
    let src = ImageRef::new(bitmap.width, bitmap.height, &bitmap.data, pt)
        .map_err(|e| Error::internal(format!("resize source: {e}")))?;
    let mut dst = Image::new(ow, oh, pt);
    let options = ResizeOptions::new()
        .resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
        .crop(left, top, width, height);
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| Error::internal(format!("resize: {e}")))?;
    Bitmap::new(ow, oh, bitmap.layout, dst.into_vec())
}

/// The whole of `bitmap` scaled to `width` x `height` with Lanczos3 (for
/// placeholders, made from a finished thumbnail).
pub(crate) fn scale(bitmap: &Bitmap, width: u32, height: u32) -> Result<Bitmap, Error> {
    let pt = pixel_type(bitmap.layout);
    let src = ImageRef::new(bitmap.width, bitmap.height, &bitmap.data, pt)
        .map_err(|e| Error::internal(format!("resize source: {e}")))?;
    let mut dst = Image::new(width, height, pt);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&src, &mut dst, &options)
        .map_err(|e| Error::internal(format!("resize: {e}")))?;
    Bitmap::new(width, height, bitmap.layout, dst.into_vec())
}

/// Copies a whole-pixel rectangle; used when no scaling is needed.
fn cut(bitmap: &Bitmap, left: u32, top: u32, width: u32, height: u32) -> Bitmap {
    let ch = bitmap.layout.channels();
    let stride = bitmap.row_bytes();
    let row_len = width as usize * ch;
    let mut data = Vec::with_capacity(row_len * height as usize);
    for y in top as usize..(top + height) as usize {
        let start = y * stride + left as usize * ch;
        data.extend_from_slice(&bitmap.data[start..start + row_len]);
    }
    Bitmap {
        width,
        height,
        layout: bitmap.layout,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Fit, Geometry};
    use crate::processing::geometry::plan;

    fn geometry(w: u32, h: u32, fit: Fit) -> Geometry {
        Geometry {
            width: Some(w),
            height: Some(h),
            fit,
            ..Geometry::default()
        }
    }

    #[test]
    fn uniform_colour_survives_scaling() {
        let b = Bitmap::new(400, 300, Layout::Rgb, [10u8, 120, 240].repeat(400 * 300)).unwrap();
        let out = apply(&b, &plan(400, 300, &geometry(100, 100, Fit::Fit))).unwrap();
        assert_eq!((out.width, out.height), (100, 75));
        assert!(out.data.chunks_exact(3).all(|p| p == [10, 120, 240]));
    }

    #[test]
    fn crop_without_scaling_copies_the_centre() {
        // Columns numbered 0..10, cut the middle 4 of a 10x2 image.
        let data: Vec<u8> = (0..2).flat_map(|_| 0..10u8).collect();
        let b = Bitmap::new(10, 2, Layout::Gray, data).unwrap();
        let out = apply(&b, &plan(10, 2, &geometry(4, 4, Fit::Crop))).unwrap();
        assert_eq!((out.width, out.height), (4, 2));
        assert_eq!(out.data, vec![3, 4, 5, 6, 3, 4, 5, 6]);
    }

    #[test]
    fn plan_made_at_full_size_applies_to_a_shrunk_decode() {
        // Plan for 800x600 but the decoder delivered 1/4 scale.
        let p = plan(800, 600, &geometry(100, 100, Fit::Crop));
        let b = Bitmap::new(200, 150, Layout::Gray, vec![77; 200 * 150]).unwrap();
        let out = apply(&b, &p).unwrap();
        assert_eq!((out.width, out.height), (100, 100));
        assert!(out.data.iter().all(|&v| v == 77));
    }

    #[test]
    fn a_region_mapped_an_ulp_past_a_shrunk_decode_is_clamped() {
        // 149x113 decoded at 1/2 is 75x57, and 149 * 75/149 lands past 75.
        let p = plan(149, 113, &geometry(40, 40, Fit::Fit));
        assert_eq!((p.region.width, p.region.left), (149, 0));
        let b = Bitmap::new(75, 57, Layout::Gray, vec![90; 75 * 57]).unwrap();
        let out = apply(&b, &p).unwrap();
        assert_eq!((out.width, out.height), (40, 30));
        assert!(out.data.iter().all(|&v| v == 90));
    }

    #[test]
    fn transparent_neighbours_do_not_darken_edges() {
        // Left half opaque white, right half fully transparent black.
        let mut data = Vec::new();
        for _y in 0..64 {
            for x in 0..64 {
                data.extend_from_slice(if x < 32 {
                    &[255, 255, 255, 255]
                } else {
                    &[0, 0, 0, 0]
                });
            }
        }
        let b = Bitmap::new(64, 64, Layout::Rgba, data).unwrap();
        let out = apply(&b, &plan(64, 64, &geometry(16, 16, Fit::Fit))).unwrap();
        for p in out.data.chunks_exact(4) {
            if p[3] > 0 {
                assert!(
                    p[0] >= 250 && p[1] >= 250 && p[2] >= 250,
                    "dark fringe pixel {p:?}"
                );
            }
        }
        // The edge really is partially transparent, so the check above bites.
        assert!(out.data.chunks_exact(4).any(|p| p[3] > 0 && p[3] < 255));
    }
}
