//! The placement steps that need pixels or limits, around the pure geometry
//! plan: choosing a smart crop's window from the decoded image, refusing a
//! pad canvas over the pixel limit, and padding the scaled image onto it.

use crate::bitmap::{Bitmap, Layout};
use crate::error::Error;
use crate::job::{Limits, Rgb};
use crate::processing::geometry::Plan;

/// Long side of the copy the smart crop scores: enough to see where the
/// detail is, small enough to cost nothing next to the decode.
const SMART_GRID: u32 = 128;

/// Moves a smart crop's region onto the window with the most edge energy.
/// A crop only ever cuts one axis, so this is a 1-D search over column (or
/// row) sums. A window that scores no better than the centre keeps the
/// centre, so flat images crop as `Gravity::Center` does.
pub(crate) fn refine_smart(plan: Plan, bitmap: &Bitmap) -> Plan {
    if !plan.smart {
        return plan;
    }
    let horizontal = plan.region.width < plan.source_width;
    let (grid_w, grid_h, luma) = small_luma(bitmap);
    // Edge energy per cell, summed along the axis that is not cut.
    let lines = if horizontal { grid_w } else { grid_h };
    let mut energy = vec![0u64; lines as usize];
    let at = |x: u32, y: u32| i32::from(luma[(y * grid_w + x) as usize]);
    for y in 0..grid_h {
        for x in 0..grid_w {
            let here = at(x, y);
            let right = if x + 1 < grid_w { at(x + 1, y) } else { here };
            let below = if y + 1 < grid_h { at(x, y + 1) } else { here };
            let e = (here - right).unsigned_abs() + (here - below).unsigned_abs();
            energy[if horizontal { x } else { y } as usize] += u64::from(e);
        }
    }
    let (src, cut, current) = if horizontal {
        (plan.source_width, plan.region.width, plan.region.left)
    } else {
        (plan.source_height, plan.region.height, plan.region.top)
    };
    let to_grid = |v: u32| (u64::from(v) * u64::from(lines) / u64::from(src)) as usize;
    let window = to_grid(cut).clamp(1, lines as usize);
    let sums: Vec<u64> = energy.windows(window).map(|w| w.iter().sum()).collect();
    let centre = to_grid(current).min(sums.len() - 1);
    let centre_score = sums[centre];
    // Among equal scores the window nearest the centre wins.
    let (best, best_score) = sums
        .iter()
        .enumerate()
        .max_by_key(|&(i, &score)| (score, std::cmp::Reverse(i.abs_diff(centre))))
        .map(|(i, &score)| (i, score))
        .unwrap_or((0, 0));
    if best_score <= centre_score {
        return plan;
    }
    let offset = ((best as u64 * u64::from(src) + u64::from(lines) / 2) / u64::from(lines))
        .min(u64::from(src - cut)) as u32;
    let mut plan = plan;
    if horizontal {
        plan.region.left = offset;
    } else {
        plan.region.top = offset;
    }
    plan
}

/// Luma (alpha-weighted, so invisible pixels count as flat black) of a copy
/// at most `SMART_GRID` on its long side, by averaging square blocks.
fn small_luma(bitmap: &Bitmap) -> (u32, u32, Vec<u8>) {
    let block = bitmap.width.max(bitmap.height).div_ceil(SMART_GRID).max(1);
    let gw = bitmap.width.div_ceil(block);
    let gh = bitmap.height.div_ceil(block);
    let ch = bitmap.layout.channels();
    let mut sum = vec![0u32; (gw * gh) as usize];
    let mut count = vec![0u32; (gw * gh) as usize];
    for (i, px) in bitmap.data.chunks_exact(ch).enumerate() {
        let (x, y) = (i as u32 % bitmap.width, i as u32 / bitmap.width);
        let l = match bitmap.layout {
            Layout::Gray => u32::from(px[0]),
            Layout::Rgb => luma(px),
            Layout::Rgba => luma(px) * u32::from(px[3]) / 255,
        };
        let cell = ((y / block) * gw + x / block) as usize;
        sum[cell] += l;
        count[cell] += 1;
    }
    let luma = sum
        .iter()
        .zip(&count)
        .map(|(&s, &c)| (s / c.max(1)) as u8)
        .collect();
    (gw, gh, luma)
}

fn luma(px: &[u8]) -> u32 {
    (299 * u32::from(px[0]) + 587 * u32::from(px[1]) + 114 * u32::from(px[2]) + 500) / 1000
}

/// Refuses an output over the pixel limit before anything is decoded: a pad
/// canvas or an enlargement are the outputs that can be larger than the
/// source, and a tiny image made 65535x65535 would otherwise cost gigabytes.
pub(crate) fn check_canvas(plan: &Plan, limits: &Limits) -> Result<(), Error> {
    let (w, h) = plan.final_size();
    if u64::from(w) * u64::from(h) > limits.max_pixels {
        return Err(Error::too_large(format!(
            "output would be {w}x{h}, over the {}-pixel limit",
            limits.max_pixels
        )));
    }
    Ok(())
}

/// Puts the scaled image on its canvas. Padding is transparent when the image
/// already has transparency (an output that keeps alpha stays see-through,
/// one that cannot is flattened onto `background` anyway); otherwise it is
/// `background`, so padding never changes the output format choice.
pub(crate) fn pad(bitmap: Bitmap, plan: &Plan, background: Rgb) -> Result<Bitmap, Error> {
    let Some(canvas) = plan.canvas else {
        return Ok(bitmap);
    };
    let Rgb(r, g, b) = background;
    let (bitmap, fill): (Bitmap, Vec<u8>) = if bitmap.has_transparency() {
        (bitmap, vec![r, g, b, 0])
    } else {
        match bitmap.layout {
            Layout::Gray if r == g && g == b => (bitmap, vec![r]),
            Layout::Gray | Layout::Rgb => (bitmap.into_rgb_or_rgba(), vec![r, g, b]),
            Layout::Rgba => (bitmap, vec![r, g, b, 255]),
        }
    };
    let ch = bitmap.layout.channels();
    let (cw, chh) = (canvas.width as usize, canvas.height as usize);
    let mut data = fill.repeat(cw * chh);
    let row = bitmap.row_bytes();
    for (y, src) in bitmap.data.chunks_exact(row).enumerate() {
        let start = ((canvas.top as usize + y) * cw + canvas.left as usize) * ch;
        data[start..start + row].copy_from_slice(src);
    }
    Bitmap::new(canvas.width, canvas.height, bitmap.layout, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{Fit, Geometry, Gravity};
    use crate::processing::geometry::plan;

    fn geometry(w: u32, h: u32, fit: Fit, gravity: Gravity) -> Geometry {
        Geometry {
            width: Some(w),
            height: Some(h),
            fit,
            gravity,
            ..Geometry::default()
        }
    }

    /// A flat grey image with a patch of 8-pixel black and white squares
    /// (coarse enough to survive the scoring copy's averaging) at (x0, y0).
    fn with_detail(w: u32, h: u32, x0: u32, y0: u32, size: u32) -> Bitmap {
        let mut data = vec![128u8; (w * h) as usize];
        for y in y0..y0 + size {
            for x in x0..x0 + size {
                let dark = ((x - x0) / 8 + (y - y0) / 8) & 1 == 0;
                data[(y * w + x) as usize] = if dark { 0 } else { 255 };
            }
        }
        Bitmap::new(w, h, Layout::Gray, data).unwrap()
    }

    #[test]
    #[allow(clippy::type_complexity)] // the table reads better inline
    fn smart_crop_moves_onto_the_detail() {
        // (source, detail x, detail y, box, expected region left/top)
        let table: &[((u32, u32), (u32, u32), (u32, u32), (u32, u32))] = &[
            ((400, 100), (10, 34), (100, 100), (0, 0)), // detail at the far left
            ((400, 100), (350, 34), (100, 100), (300, 0)), // far right
            ((400, 100), (240, 34), (100, 100), (200, 0)), // right of centre
            ((100, 400), (34, 360), (100, 100), (0, 300)), // bottom of a tall one
        ];
        for &((sw, sh), (dx, dy), (bw, bh), (want_l, want_t)) in table {
            let bitmap = with_detail(sw, sh, dx, dy, 32);
            let p = plan(sw, sh, &geometry(bw, bh, Fit::Crop, Gravity::Smart));
            assert!(p.smart);
            let r = refine_smart(p, &bitmap).region;
            // The window must contain the detail and be near the expectation.
            assert!(r.left <= dx && dx + 32 <= r.left + r.width, "{r:?}");
            assert!(r.top <= dy && dy + 32 <= r.top + r.height, "{r:?}");
            assert!(r.left.abs_diff(want_l) <= 60 && r.top.abs_diff(want_t) <= 60);
            assert!(r.left + r.width <= sw && r.top + r.height <= sh);
        }
    }

    #[test]
    fn smart_crop_of_a_flat_image_is_the_centre_crop() {
        let flat = Bitmap::new(400, 100, Layout::Rgb, vec![50; 400 * 100 * 3]).unwrap();
        let smart = plan(400, 100, &geometry(100, 100, Fit::Crop, Gravity::Smart));
        let centre = plan(400, 100, &geometry(100, 100, Fit::Crop, Gravity::Center));
        assert_eq!(refine_smart(smart, &flat).region, centre.region);
    }

    #[test]
    fn smart_crop_works_on_a_shrunk_decode() {
        // Plan for 1600x400, pixels decoded at 1/4.
        let bitmap = with_detail(400, 100, 10, 34, 32);
        let p = plan(1600, 400, &geometry(100, 100, Fit::Crop, Gravity::Smart));
        let r = refine_smart(p, &bitmap).region;
        assert_eq!((r.width, r.height), (400, 400));
        assert!(r.left <= 40, "{r:?}");
    }

    #[test]
    fn pad_places_the_image_and_fills_the_rest() {
        // 4x2 image into a 4x4 pad box: one row above and below.
        let img = Bitmap::new(4, 2, Layout::Gray, vec![9; 8]).unwrap();
        let p = plan(4, 2, &geometry(4, 4, Fit::Pad, Gravity::Center));
        let out = pad(img.clone(), &p, Rgb(200, 200, 200)).unwrap();
        assert_eq!((out.width, out.height, out.layout), (4, 4, Layout::Gray));
        assert_eq!(out.data, [[200; 4], [9; 4], [9; 4], [200; 4]].concat());
        // North: image at the top; a coloured background widens grey to RGB.
        let p = plan(4, 2, &geometry(4, 4, Fit::Pad, Gravity::North));
        let out = pad(img, &p, Rgb(255, 0, 0)).unwrap();
        assert_eq!(out.layout, Layout::Rgb);
        assert_eq!(&out.data[..3], &[9, 9, 9]);
        assert_eq!(&out.data[out.data.len() - 3..], &[255, 0, 0]);
        // A transparent image gets transparent padding.
        let clear = Bitmap::new(1, 1, Layout::Rgba, vec![1, 2, 3, 100]).unwrap();
        let p = plan(1, 1, &geometry(2, 1, Fit::Pad, Gravity::Center));
        let out = pad(clear, &p, Rgb(255, 255, 255)).unwrap();
        assert_eq!(out.data, vec![1, 2, 3, 100, 255, 255, 255, 0]);
    }

    #[test]
    fn pipeline_adjusts_the_image_but_not_the_padding() {
        use crate::job::{Adjustments, EncodeOptions, Job, OutputFormat};
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            &[200u8, 0, 0].repeat(100 * 50),
            100,
            50,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        let job = Job {
            geometry: geometry(100, 100, Fit::Pad, Gravity::South),
            encode: EncodeOptions {
                format: OutputFormat::Png,
                background: Rgb(0, 0, 255),
                ..EncodeOptions::default()
            },
            limits: Limits::default(),
            adjust: Adjustments {
                brightness: Some(500),
                ..Adjustments::default()
            },
        };
        let thumb = crate::make_thumbnail(&png, &job).unwrap();
        assert_eq!((thumb.width, thumb.height), (100, 100));
        let out = image::load_from_memory(&thumb.bytes).unwrap().to_rgb8();
        assert_eq!(out.get_pixel(50, 10).0, [0, 0, 255]); // padding above
        assert_eq!(out.get_pixel(50, 75).0, [100, 0, 0]); // image, halved
    }

    #[test]
    fn canvas_over_the_pixel_limit_is_refused() {
        let p = plan(1, 1, &geometry(65535, 65535, Fit::Pad, Gravity::Center));
        let err = check_canvas(&p, &Limits::default()).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::TooLarge);
        let p = plan(1, 1, &geometry(350, 350, Fit::Pad, Gravity::Center));
        assert!(check_canvas(&p, &Limits::default()).is_ok());
    }
}
