//! Colour adjustments applied to the resized bitmap: contrast, brightness,
//! saturation, sharpness (PIL's `ImageEnhance`, as django-imagekit's
//! `Adjustment` processor uses them) and a grayscale conversion.
//!
//! Each enhancement blends the image with a "degenerate" version of itself:
//! `out = degenerate + factor * (image - degenerate)`, so a factor of 1 is the
//! image unchanged, 0 is the degenerate image and values above 1 push away
//! from it. Like PIL: contrast's degenerate is the image's mean grey,
//! brightness's is black, saturation's is the ITU-R 601-2 luma version and
//! sharpness's is a 3x3 smoothed copy. Factors are integers in thousandths so
//! a job stays hashable and its results reproducible. Alpha is never changed.
//!
//! Two convolutions come with them (`crate::processing::filters`): a Gaussian blur, first,
//! and nginx's `image_filter_sharpen` (libgd's kernel, not PIL's), last.
//!
//! Running after the resize keeps the cost proportional to the thumbnail, not
//! the source.

use crate::bitmap::{Bitmap, Layout};
use crate::job::adjustments::{clamp_factor, Adjustments, FACTOR_ONE};
use crate::processing::filters;

/// The factor to apply, or `None` when it would change nothing.
fn effective(f: Option<u16>) -> Option<i32> {
    f.map(clamp_factor)
        .filter(|&f| f != FACTOR_ONE)
        .map(i32::from)
}

/// Applies `adjust`: the blur, then django-imagekit's order (saturation,
/// brightness, contrast, sharpness), then grayscale, then libgd's sharpen.
pub(crate) fn apply(mut bitmap: Bitmap, adjust: &Adjustments) -> Bitmap {
    if let Some(sigma) = adjust.blur {
        filters::blur(&mut bitmap, sigma);
    }
    if let Some(f) = effective(adjust.saturation) {
        saturation(&mut bitmap, f);
    }
    if let Some(f) = effective(adjust.brightness) {
        let ch = colour_channels(bitmap.layout);
        for px in bitmap.data.chunks_exact_mut(bitmap.layout.channels()) {
            for c in &mut px[..ch] {
                *c = blend(0, *c, f);
            }
        }
    }
    if let Some(f) = effective(adjust.contrast) {
        contrast(&mut bitmap, f);
    }
    if let Some(f) = effective(adjust.sharpness) {
        sharpness(&mut bitmap, f);
    }
    if adjust.grayscale {
        bitmap = grayscale(bitmap);
    }
    filters::gd_sharpen(&mut bitmap, adjust.sharpen);
    bitmap
}

/// Colour channels before any alpha.
fn colour_channels(layout: Layout) -> usize {
    match layout {
        Layout::Gray => 1,
        Layout::Rgb | Layout::Rgba => 3,
    }
}

/// `degenerate + f/1000 * (value - degenerate)`, rounded half up, clamped.
fn blend(degenerate: u8, value: u8, f: i32) -> u8 {
    let d = i32::from(degenerate);
    let v = d * 1000 + f * (i32::from(value) - d);
    (v + 500).div_euclid(1000).clamp(0, 255) as u8
}

/// ITU-R 601-2 luma, as PIL's `convert("L")`: (299 R + 587 G + 114 B) / 1000.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((299 * u32::from(r) + 587 * u32::from(g) + 114 * u32::from(b) + 500) / 1000) as u8
}

fn saturation(bitmap: &mut Bitmap, f: i32) {
    if bitmap.layout == Layout::Gray {
        return; // no colour to change
    }
    for px in bitmap.data.chunks_exact_mut(bitmap.layout.channels()) {
        let l = luma(px[0], px[1], px[2]);
        for c in &mut px[..3] {
            *c = blend(l, *c, f);
        }
    }
}

fn contrast(bitmap: &mut Bitmap, f: i32) {
    // The mean grey is weighted by alpha: invisible pixels (often stored as
    // black) must not darken the grey that visible ones are pulled towards.
    let ch = bitmap.layout.channels();
    let (mut sum, mut weight) = (0u64, 0u64);
    for px in bitmap.data.chunks_exact(ch) {
        let l = match bitmap.layout {
            Layout::Gray => px[0],
            _ => luma(px[0], px[1], px[2]),
        };
        let a = if bitmap.layout == Layout::Rgba {
            u64::from(px[3])
        } else {
            1
        };
        sum += u64::from(l) * a;
        weight += a;
    }
    // No visible pixel at all: any grey will do, nothing will show.
    let mean = (sum + weight / 2).checked_div(weight).unwrap_or(0) as u8;
    let cc = colour_channels(bitmap.layout);
    for px in bitmap.data.chunks_exact_mut(ch) {
        for c in &mut px[..cc] {
            *c = blend(mean, *c, f);
        }
    }
}

fn sharpness(bitmap: &mut Bitmap, f: i32) {
    // PIL's SMOOTH kernel: [1 1 1; 1 5 1; 1 1 1] / 13, edges clamped.
    let (w, h) = (bitmap.width as usize, bitmap.height as usize);
    let ch = bitmap.layout.channels();
    let cc = colour_channels(bitmap.layout);
    let src = bitmap.data.clone();
    let at = |x: usize, y: usize, c: usize| u32::from(src[(y * w + x) * ch + c]);
    for y in 0..h {
        let ys = [y.saturating_sub(1), y, (y + 1).min(h - 1)];
        for x in 0..w {
            let xs = [x.saturating_sub(1), x, (x + 1).min(w - 1)];
            for c in 0..cc {
                let mut acc = 4 * at(x, y, c); // centre weight 5 = 1 below + 4
                for &yy in &ys {
                    for &xx in &xs {
                        acc += at(xx, yy, c);
                    }
                }
                let smooth = ((acc + 6) / 13) as u8;
                let i = (y * w + x) * ch + c;
                bitmap.data[i] = blend(smooth, src[i], f);
            }
        }
    }
}

fn grayscale(bitmap: Bitmap) -> Bitmap {
    match bitmap.layout {
        Layout::Gray => bitmap,
        // Dropping to one channel lets the encoders write grey files.
        Layout::Rgb => {
            let data = bitmap
                .data
                .chunks_exact(3)
                .map(|p| luma(p[0], p[1], p[2]))
                .collect();
            Bitmap {
                layout: Layout::Gray,
                data,
                ..bitmap
            }
        }
        // There is no grey-with-alpha layout: keep RGBA with equal channels.
        Layout::Rgba => {
            let mut bitmap = bitmap;
            for p in bitmap.data.chunks_exact_mut(4) {
                let l = luma(p[0], p[1], p[2]);
                p[..3].fill(l);
            }
            bitmap
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rgb(pixels: &[[u8; 3]]) -> Bitmap {
        Bitmap::new(
            pixels.len() as u32,
            1,
            Layout::Rgb,
            pixels.concat().to_vec(),
        )
        .unwrap()
    }

    fn adj(f: impl Fn(&mut Adjustments)) -> Adjustments {
        let mut a = Adjustments::default();
        f(&mut a);
        a
    }

    #[test]
    fn factor_one_and_none_change_nothing() {
        let b = rgb(&[[10, 200, 30], [255, 0, 128], [1, 2, 3]]);
        for a in [
            Adjustments::default(),
            adj(|a| a.contrast = Some(1000)),
            adj(|a| a.brightness = Some(1000)),
            adj(|a| a.saturation = Some(1000)),
            adj(|a| a.sharpness = Some(1000)),
        ] {
            assert_eq!(apply(b.clone(), &a), b, "{a:?}");
        }
    }

    #[test]
    #[allow(clippy::type_complexity)] // the table reads better inline
    fn pixel_table() {
        // (adjustment, input pixels, expected pixels); values worked by hand
        // from PIL's formulas.
        let table: &[(Adjustments, &[[u8; 3]], &[[u8; 3]])] = &[
            // brightness: scale towards black
            (
                adj(|a| a.brightness = Some(500)),
                &[[100, 201, 255]],
                &[[50, 101, 128]],
            ),
            (
                adj(|a| a.brightness = Some(0)),
                &[[9, 99, 255]],
                &[[0, 0, 0]],
            ),
            (
                adj(|a| a.brightness = Some(2000)),
                &[[100, 200, 0]],
                &[[200, 255, 0]],
            ),
            // saturation 0: luma = (299*255 + 0 + 0)/1000 = 76.245 -> 76
            (
                adj(|a| a.saturation = Some(0)),
                &[[255, 0, 0]],
                &[[76, 76, 76]],
            ),
            // saturation 2: luma (29900 + 44612 + 7980) / 1000 = 82.492 -> 82,
            // then 82 + 2 * (c - 82)
            (
                adj(|a| a.saturation = Some(2000)),
                &[[100, 76, 70]],
                &[[118, 70, 58]],
            ),
            // contrast 0: everything becomes the mean grey (50 and 150 -> 100)
            (
                adj(|a| a.contrast = Some(0)),
                &[[50, 50, 50], [150, 150, 150]],
                &[[100, 100, 100], [100, 100, 100]],
            ),
            // contrast 2: pushed away from the mean 100
            (
                adj(|a| a.contrast = Some(2000)),
                &[[50, 50, 50], [150, 150, 150]],
                &[[0, 0, 0], [200, 200, 200]],
            ),
            // grayscale last, after brightness
            (
                adj(|a| {
                    a.brightness = Some(500);
                    a.grayscale = true;
                }),
                &[[200, 200, 200]],
                &[[100, 100, 100]],
            ),
        ];
        for (a, input, want) in table {
            let out = apply(rgb(input), a).into_rgb_or_rgba();
            assert_eq!(out.data, want.concat(), "{a:?} on {input:?}");
        }
    }

    #[test]
    fn grayscale_drops_to_one_channel_and_keeps_alpha() {
        let out = apply(rgb(&[[255, 0, 0]]), &adj(|a| a.grayscale = true));
        assert_eq!((out.layout, out.data.clone()), (Layout::Gray, vec![76]));
        let rgba = Bitmap::new(1, 1, Layout::Rgba, vec![0, 255, 0, 7]).unwrap();
        let out = apply(rgba, &adj(|a| a.grayscale = true));
        assert_eq!(out.data, vec![150, 150, 150, 7]);
    }

    #[test]
    fn alpha_is_untouched_and_weights_the_contrast_mean() {
        // A visible mid grey pixel next to an invisible black one: the mean
        // is the visible grey, so contrast 0 leaves the visible pixel as is.
        let b = Bitmap::new(2, 1, Layout::Rgba, vec![120, 120, 120, 255, 0, 0, 0, 0]).unwrap();
        let out = apply(
            b,
            &adj(|a| {
                a.contrast = Some(0);
                a.brightness = Some(3000);
            }),
        );
        assert_eq!(out.data[3], 255);
        assert_eq!(out.data[7], 0);
        // brightness 3 first: 120 -> 255 (clamped); then mean of visible = 255.
        assert_eq!(&out.data[..3], &[255, 255, 255]);
        let b = Bitmap::new(2, 1, Layout::Rgba, vec![120, 120, 120, 255, 0, 0, 0, 0]).unwrap();
        let out = apply(b, &adj(|a| a.contrast = Some(0)));
        assert_eq!(out.data, vec![120, 120, 120, 255, 120, 120, 120, 0]);
    }

    #[test]
    fn sharpness_blurs_at_zero_and_leaves_flat_areas_alone() {
        // A single bright dot in a dark 3x3 field.
        let mut data = vec![0u8; 9];
        data[4] = 130;
        let dot = Bitmap::new(3, 3, Layout::Gray, data).unwrap();
        let blurred = apply(dot.clone(), &adj(|a| a.sharpness = Some(0)));
        // centre: 5*130/13 = 50; corner: 130/13 = 10
        assert_eq!(blurred.data[4], 50);
        assert_eq!(blurred.data[0], 10);
        let sharpened = apply(dot, &adj(|a| a.sharpness = Some(2000)));
        // centre: 50 + 2*(130-50) = 210; corner: 10 + 2*(0-10) -> 0 clamped
        assert_eq!(sharpened.data[4], 210);
        assert_eq!(sharpened.data[0], 0);
        let flat = Bitmap::new(4, 4, Layout::Rgb, vec![77; 48]).unwrap();
        let out = apply(flat.clone(), &adj(|a| a.sharpness = Some(5000)));
        assert_eq!(out, flat);
    }

    #[test]
    fn blur_comes_first_and_sharpen_last() {
        // Sharpen after grayscale: on one channel, by libgd's numbers.
        let b = rgb(&[
            [100, 100, 100],
            [100, 100, 100],
            [200, 200, 200],
            [200, 200, 200],
        ]);
        let out = apply(
            b,
            &adj(|a| {
                a.grayscale = true;
                a.sharpen = 100;
            }),
        );
        assert_eq!(
            (out.layout, out.data),
            (Layout::Gray, vec![100, 75, 225, 200])
        );
        // Blur before brightness 0: all black whatever the blur did.
        let out = apply(
            rgb(&[[0, 0, 0], [255, 255, 255]]),
            &adj(|a| {
                a.blur = Some(10);
                a.brightness = Some(0);
            }),
        );
        assert_eq!(out.data, vec![0; 6]);
        // Blur alone mixes the two pixels.
        let out = apply(
            rgb(&[[0, 0, 0], [255, 255, 255]]),
            &adj(|a| a.blur = Some(10)),
        );
        assert!(out.data[0] > 0 && out.data[3] < 255, "{:?}", out.data);
    }

    #[test]
    fn gray_bitmaps_take_every_adjustment() {
        let g = Bitmap::new(2, 1, Layout::Gray, vec![100, 200]).unwrap();
        let out = apply(
            g,
            &adj(|a| {
                a.saturation = Some(0);
                a.brightness = Some(500);
            }),
        );
        assert_eq!(out.data, vec![50, 100]);
    }
}
