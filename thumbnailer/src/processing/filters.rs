//! Convolutions on the resized bitmap: nginx's `image_filter_sharpen` (libgd's
//! `gdImageSharpen`) and a Gaussian blur. Both run on the thumbnail, so their
//! cost follows the output size, not the source's.

use crate::bitmap::{Bitmap, Layout};
use crate::job::adjustments::{BLUR_MAX, BLUR_MIN, SHARPEN_MAX};

/// Colour channels before any alpha.
fn colour_channels(layout: Layout) -> usize {
    match layout {
        Layout::Gray => 1,
        Layout::Rgb | Layout::Rgba => 3,
    }
}

/// libgd's `gdImageSharpen(im, pct)`, which nginx's `image_filter_sharpen`
/// calls: the separable 3-tap kernel `[o, 1 - 2o, o]` with `o = -pct/400`
/// (so 100 gives `[-1 6 -1] / 4`, and 2-D `[1 -6 1; -6 36 -6; 1 -6 1] / 16`),
/// first down each column, then along each row, every pass reading the
/// unsharpened neighbours of its own input, replicating the edge pixels,
/// clamping to 0..=255 and truncating as libgd does. Alpha is untouched and
/// read as straight (not premultiplied), as libgd reads it. Done in exact
/// integer arithmetic where libgd uses `float`: a value libgd's rounding puts
/// just below a whole number may come out one higher here. 0 changes nothing.
///
/// One difference: libgd does nothing to palette images, and nginx turns
/// GIF and palette PNG thumbnails back into palette images before it
/// sharpens, so they are never sharpened there; here every thumbnail is.
pub(crate) fn gd_sharpen(bitmap: &mut Bitmap, pct: u16) {
    let pct = i32::from(pct.min(SHARPEN_MAX));
    if pct == 0 {
        return;
    }
    let (w, h) = (bitmap.width as usize, bitmap.height as usize);
    let ch = bitmap.layout.channels();
    let cc = colour_channels(bitmap.layout);
    let sharpen = |p: u8, c: u8, n: u8| -> u8 {
        let (p, c, n) = (i32::from(p), i32::from(c), i32::from(n));
        (400 * c + pct * (2 * c - p - n))
            .div_euclid(400)
            .clamp(0, 255) as u8
    };
    let data = &mut bitmap.data;
    // Down the columns: one row of originals is kept to read from.
    let stride = w * ch;
    let mut previous = data[..stride].to_vec();
    let mut current = vec![0u8; stride];
    for y in 0..h {
        current.copy_from_slice(&data[y * stride..(y + 1) * stride]);
        let next_row = if y + 1 < h { y + 1 } else { y };
        for x in 0..w {
            for c in 0..cc {
                let i = x * ch + c;
                let n = data[next_row * stride + i];
                data[y * stride + i] = sharpen(previous[i], current[i], n);
            }
        }
        std::mem::swap(&mut previous, &mut current);
    }
    // Along the rows, on the column pass's output.
    let mut original = vec![0u8; stride];
    for row in data.chunks_exact_mut(stride) {
        original.copy_from_slice(row);
        for x in 0..w {
            let p = x.saturating_sub(1);
            let n = if x + 1 < w { x + 1 } else { x };
            for c in 0..cc {
                row[x * ch + c] = sharpen(
                    original[p * ch + c],
                    original[x * ch + c],
                    original[n * ch + c],
                );
            }
        }
    }
}

/// The normalised 1-D Gaussian of `sigma` (in tenths of a pixel), from the
/// centre outwards, cut at three sigmas.
fn gaussian(sigma_tenths: u16) -> Vec<f32> {
    let sigma = f64::from(sigma_tenths.clamp(BLUR_MIN, BLUR_MAX)) / 10.0;
    let radius = (3.0 * sigma).ceil() as usize;
    let weights: Vec<f64> = (0..=radius)
        .map(|i| (-((i * i) as f64) / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f64 = weights[0] + 2.0 * weights[1..].iter().sum::<f64>();
    weights.iter().map(|w| (w / total) as f32).collect()
}

/// Gaussian blur of standard deviation `sigma_tenths / 10` pixels, as two
/// 1-D passes (rows, then columns) with edge pixels replicated. Transparent
/// images are blurred premultiplied, so invisible pixels lend no colour to
/// their neighbours. Cost: `2 * (6 sigma + 1)` multiply-adds per sample, in
/// loops the compiler vectorises; scratch: two `f32` copies of the image.
pub(crate) fn blur(bitmap: &mut Bitmap, sigma_tenths: u16) {
    let kernel = gaussian(sigma_tenths);
    let radius = kernel.len() - 1;
    let (w, h) = (bitmap.width as usize, bitmap.height as usize);
    let ch = bitmap.layout.channels();
    let alpha = bitmap.layout == Layout::Rgba;
    let mut src: Vec<f32> = bitmap.data.iter().map(|&v| f32::from(v)).collect();
    if alpha {
        for px in src.chunks_exact_mut(4) {
            let a = px[3] / 255.0;
            for c in &mut px[..3] {
                *c *= a;
            }
        }
    }
    // Rows: each row is padded by `radius` replicated pixels on both sides.
    let stride = w * ch;
    let mut rows = vec![0f32; src.len()];
    let mut padded = vec![0f32; (w + 2 * radius) * ch];
    for (row_in, row_out) in src.chunks_exact(stride).zip(rows.chunks_exact_mut(stride)) {
        for (x, px) in padded.chunks_exact_mut(ch).enumerate() {
            let sx = x.saturating_sub(radius).min(w - 1);
            px.copy_from_slice(&row_in[sx * ch..(sx + 1) * ch]);
        }
        let centre = &padded[radius * ch..radius * ch + stride];
        for (o, &v) in row_out.iter_mut().zip(centre) {
            *o = v * kernel[0];
        }
        for (k, &weight) in kernel.iter().enumerate().skip(1) {
            let left = &padded[(radius - k) * ch..(radius - k) * ch + stride];
            let right = &padded[(radius + k) * ch..(radius + k) * ch + stride];
            for ((o, &l), &r) in row_out.iter_mut().zip(left).zip(right) {
                *o += weight * (l + r);
            }
        }
    }
    // Columns: whole rows at a time, reading replicated rows at the edges.
    let row = |y: isize| {
        let y = y.clamp(0, h as isize - 1) as usize;
        &rows[y * stride..(y + 1) * stride]
    };
    for y in 0..h {
        let out = &mut src[y * stride..(y + 1) * stride];
        for (o, &v) in out.iter_mut().zip(row(y as isize)) {
            *o = v * kernel[0];
        }
        for (k, &weight) in kernel.iter().enumerate().skip(1) {
            let (up, down) = (row(y as isize - k as isize), row(y as isize + k as isize));
            for ((o, &u), &d) in out.iter_mut().zip(up).zip(down) {
                *o += weight * (u + d);
            }
        }
    }
    let to_u8 = |v: f32| v.round().clamp(0.0, 255.0) as u8;
    if alpha {
        for (out, px) in bitmap.data.chunks_exact_mut(4).zip(src.chunks_exact(4)) {
            let a = px[3];
            for c in 0..3 {
                out[c] = if a > 0.0 { to_u8(px[c] * 255.0 / a) } else { 0 };
            }
            out[3] = to_u8(a);
        }
    } else {
        for (out, &v) in bitmap.data.iter_mut().zip(&src) {
            *out = to_u8(v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(width: u32, height: u32, data: &[u8]) -> Bitmap {
        Bitmap::new(width, height, Layout::Gray, data.to_vec()).unwrap()
    }

    #[test]
    fn sharpen_matches_libgd_by_hand() {
        // One row: the column pass leaves it alone (edge replicated above
        // and below), the row pass works out as libgd's float code does:
        // x=1: 1.5 * 100 - 0.25 * (100 + 200) = 75
        // x=2: 1.5 * 200 - 0.25 * (100 + 200) = 225
        let mut b = gray(4, 1, &[100, 100, 200, 200]);
        gd_sharpen(&mut b, 100);
        assert_eq!(b.data, [100, 75, 225, 200]);
        // pct 50: 87.5 and 212.5, truncated as libgd's (int) cast does.
        let mut b = gray(4, 1, &[100, 100, 200, 200]);
        gd_sharpen(&mut b, 50);
        assert_eq!(b.data, [100, 87, 212, 200]);
        // The same edge standing up: the column pass does the work.
        let mut b = gray(1, 4, &[100, 100, 200, 200]);
        gd_sharpen(&mut b, 100);
        assert_eq!(b.data, [100, 75, 225, 200]);
    }

    #[test]
    fn sharpen_passes_columns_then_rows_and_clamps() {
        // A bright dot: the column pass makes the centre 1.5 * 130 = 195
        // and its upper and lower neighbours -32.5 -> 0; the row pass then
        // takes the centre to 1.5 * 195 = 292.5 -> 255.
        let mut data = [0u8; 9];
        data[4] = 130;
        let mut b = gray(3, 3, &data);
        gd_sharpen(&mut b, 100);
        let mut want = [0u8; 9];
        want[4] = 255;
        assert_eq!(b.data, want);
    }

    #[test]
    fn sharpen_keeps_alpha_flat_areas_and_zero() {
        let rgba = Bitmap::new(
            3,
            1,
            Layout::Rgba,
            vec![10, 20, 30, 5, 200, 100, 50, 99, 10, 20, 30, 255],
        )
        .unwrap();
        let mut b = rgba.clone();
        gd_sharpen(&mut b, 300);
        let alphas: Vec<u8> = b.data.chunks_exact(4).map(|p| p[3]).collect();
        assert_eq!(alphas, [5, 99, 255]);
        assert_ne!(b.data, rgba.data);
        let mut b = rgba.clone();
        gd_sharpen(&mut b, 0);
        assert_eq!(b, rgba);
        let flat = Bitmap::new(5, 4, Layout::Rgb, vec![77; 60]).unwrap();
        let mut b = flat.clone();
        gd_sharpen(&mut b, SHARPEN_MAX);
        assert_eq!(b, flat);
    }

    #[test]
    fn gaussian_weights_sum_to_one_and_reach_three_sigmas() {
        for sigma in [BLUR_MIN, 10, 15, 100, BLUR_MAX] {
            let k = gaussian(sigma);
            let total: f32 = k[0] + 2.0 * k[1..].iter().sum::<f32>();
            assert!((total - 1.0).abs() < 1e-4, "{sigma}: {total}");
            assert_eq!(k.len() - 1, (f64::from(sigma) * 0.3).ceil() as usize);
            assert!(k.windows(2).all(|w| w[0] > w[1]));
        }
    }

    #[test]
    fn blur_spreads_a_dot_symmetrically_and_keeps_its_mass() {
        let (w, h) = (21u32, 21u32);
        let mut data = vec![0u8; 441];
        data[10 * 21 + 10] = 255;
        let mut b = gray(w, h, &data);
        blur(&mut b, 10); // sigma 1
        let at = |x: usize, y: usize| b.data[y * 21 + x];
        // Centre weight of a sigma-1 Gaussian in 2-D: 0.399^2 = 0.159 -> 41.
        assert!((39..=42).contains(&at(10, 10)), "{}", at(10, 10));
        assert_eq!(at(9, 10), at(11, 10));
        assert_eq!(at(10, 9), at(10, 11));
        assert_eq!(at(9, 10), at(10, 9));
        assert!(at(9, 10) < at(10, 10) && at(8, 10) < at(9, 10));
        assert_eq!(at(0, 0), 0);
        let mass: u32 = b.data.iter().map(|&v| u32::from(v)).sum();
        assert!((240..=270).contains(&mass), "{mass}");
    }

    #[test]
    fn blur_leaves_flat_images_and_ignores_invisible_colour() {
        let flat = Bitmap::new(9, 7, Layout::Rgb, vec![123; 189]).unwrap();
        let mut b = flat.clone();
        blur(&mut b, 500);
        assert_eq!(b, flat);
        // Red, opaque, beside fully transparent green: the green must not
        // show through, the alpha spreads.
        let mut data = Vec::new();
        for x in 0..8 {
            data.extend(if x < 4 {
                [255, 0, 0, 255]
            } else {
                [0, 255, 0, 0]
            });
        }
        let mut b = Bitmap::new(8, 1, Layout::Rgba, data).unwrap();
        blur(&mut b, 15);
        for px in b.data.chunks_exact(4) {
            if px[3] > 0 {
                assert_eq!(&px[..3], &[255, 0, 0], "{px:?}");
            }
        }
        assert!(b.data[4 * 4 + 3] > 0 && b.data[3 * 4 + 3] < 255);
    }

    /// `cargo test --release -p thumbnailer blur_timing -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn blur_timing() {
        for sigma in [3u16, 20, 100, 1000] {
            let mut b = Bitmap::new(350, 350, Layout::Rgba, vec![100; 350 * 350 * 4]).unwrap();
            let start = std::time::Instant::now();
            blur(&mut b, sigma);
            eprintln!(
                "350x350 RGBA, sigma {}: {:?}",
                f64::from(sigma) / 10.0,
                start.elapsed()
            );
        }
    }
}
