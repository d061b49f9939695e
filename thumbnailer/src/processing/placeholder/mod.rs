//! Placeholders: tiny stand-ins a page inlines while the thumbnail loads,
//! made from the finished thumbnail (so they show the same crop):
//! ThumbHash and BlurHash strings, the dominant colour as `#rrggbb`, and
//! LQIP, a tiny blurred WebP. The text ones are answered as `text/plain`
//! in each format's standard encoding, so every public decoder reads them.

mod blurhash;
mod thumbhash;

use crate::bitmap::Bitmap;
use crate::error::Error;
use crate::job::{Placeholder, Rgb};
use crate::processing::filters;
use crate::processing::resize;

/// The longer side of an LQIP image.
pub const LQIP_SIDE: u32 = 32;
/// The LQIP's blur, in tenths of a pixel: enough to hide WebP's blocks at
/// this size, which a browser then scales up.
const LQIP_BLUR_TENTHS: u16 = 10;
/// WebP quality of an LQIP: its detail is blurred away anyway.
pub const LQIP_QUALITY: u8 = 40;

/// The longest side the thumbnail is scaled to before the placeholder is
/// computed: ThumbHash's encoder takes at most 100x100; the others need no
/// more than a few dozen pixels.
fn working_side(kind: Placeholder) -> u32 {
    match kind {
        Placeholder::Thumbhash => 100,
        Placeholder::Blurhash { .. } | Placeholder::Color => 64,
        Placeholder::Lqip => LQIP_SIDE,
    }
}

/// The text of a text placeholder of `bitmap`; `background` stands behind
/// transparency where the format has no alpha (BlurHash, the colour).
pub(crate) fn text(bitmap: &Bitmap, kind: Placeholder, background: Rgb) -> Result<String, Error> {
    let small = fit_within(bitmap, working_side(kind))?;
    let (w, h) = (small.width as usize, small.height as usize);
    let rgba = small.into_rgba_data();
    Ok(match kind {
        Placeholder::Thumbhash => thumbhash::encode_base64(w, h, &rgba),
        Placeholder::Blurhash { x, y } => {
            blurhash::encode(w, h, &over(&rgba, background), x.into(), y.into())
        }
        Placeholder::Color => {
            let Rgb(r, g, b) = dominant_colour(&rgba, background);
            format!("#{r:02x}{g:02x}{b:02x}")
        }
        Placeholder::Lqip => return Err(Error::internal("an LQIP is an image, not text")),
    })
}

/// The LQIP's pixels: `bitmap` scaled to fit [`LQIP_SIDE`] and blurred.
pub(crate) fn lqip(bitmap: &Bitmap) -> Result<Bitmap, Error> {
    let mut small = fit_within(bitmap, LQIP_SIDE)?;
    filters::blur(&mut small, LQIP_BLUR_TENTHS);
    Ok(small)
}

/// `bitmap` scaled down (never up) to fit a `side` x `side` box.
fn fit_within(bitmap: &Bitmap, side: u32) -> Result<Bitmap, Error> {
    let (w, h) = (bitmap.width, bitmap.height);
    if w <= side && h <= side {
        return Ok(bitmap.clone());
    }
    let scale = f64::from(side) / f64::from(w.max(h));
    let sw = ((f64::from(w) * scale).round() as u32).clamp(1, side);
    let sh = ((f64::from(h) * scale).round() as u32).clamp(1, side);
    resize::scale(bitmap, sw, sh)
}

/// RGBA composited over `background`, as RGB.
fn over(rgba: &[u8], background: Rgb) -> Vec<u8> {
    let Rgb(br, bg, bb) = background;
    rgba.chunks_exact(4)
        .flat_map(|p| {
            let a = u32::from(p[3]);
            let mix =
                |c: u8, b: u8| ((u32::from(c) * a + u32::from(b) * (255 - a) + 127) / 255) as u8;
            [mix(p[0], br), mix(p[1], bg), mix(p[2], bb)]
        })
        .collect()
}

/// The colour most of the image is: pixels are grouped by their top four
/// bits per channel, and the mean of the largest group (weighted by alpha)
/// is the answer, so a photo of a red car on grass gives the grass's green
/// rather than the brown of their average. A fully transparent image gives
/// `background`.
fn dominant_colour(rgba: &[u8], background: Rgb) -> Rgb {
    const BUCKETS: usize = 16 * 16 * 16;
    let mut weight = vec![0u64; BUCKETS];
    let mut sums = vec![[0u64; 3]; BUCKETS];
    for p in rgba.chunks_exact(4) {
        let a = u64::from(p[3]);
        if a == 0 {
            continue;
        }
        let bucket =
            (usize::from(p[0] >> 4) << 8) | (usize::from(p[1] >> 4) << 4) | usize::from(p[2] >> 4);
        weight[bucket] += a;
        for c in 0..3 {
            sums[bucket][c] += u64::from(p[c]) * a;
        }
    }
    let Some((best, &w)) = weight
        .iter()
        .enumerate()
        .max_by_key(|&(i, &w)| (w, std::cmp::Reverse(i)))
        .filter(|&(_, &w)| w > 0)
    else {
        return background;
    };
    let mean = |c: usize| ((sums[best][c] + w / 2) / w) as u8;
    Rgb(mean(0), mean(1), mean(2))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitmap::Layout;

    fn flat(w: u32, h: u32, rgb: [u8; 3]) -> Bitmap {
        let data = (0..w * h).flat_map(|_| rgb).collect();
        Bitmap::new(w, h, Layout::Rgb, data).unwrap()
    }

    #[test]
    fn the_colour_of_a_flat_image_is_exactly_its_colour() {
        let white = Rgb(255, 255, 255);
        for rgb in [[0, 0, 0], [255, 255, 255], [12, 200, 99], [128, 64, 250]] {
            let text = text(&flat(300, 200, rgb), Placeholder::Color, white).unwrap();
            assert_eq!(text, format!("#{:02x}{:02x}{:02x}", rgb[0], rgb[1], rgb[2]));
        }
    }

    #[test]
    fn the_dominant_colour_is_the_largest_group_not_the_average() {
        // Two thirds green, one third red: the average would be brown.
        let data = (0..90 * 30)
            .flat_map(|i| {
                if i % 90 < 60 {
                    [20, 160, 40]
                } else {
                    [220, 20, 20]
                }
            })
            .collect();
        let bitmap = Bitmap::new(90, 30, Layout::Rgb, data).unwrap();
        let text = text(&bitmap, Placeholder::Color, Rgb(255, 255, 255)).unwrap();
        let green = u8::from_str_radix(&text[3..5], 16).unwrap();
        assert!(green > 140, "{text}");
    }

    #[test]
    fn a_transparent_image_has_the_background_colour() {
        let bitmap = Bitmap::new(4, 4, Layout::Rgba, vec![0; 64]).unwrap();
        let text = text(&bitmap, Placeholder::Color, Rgb(1, 2, 3)).unwrap();
        assert_eq!(text, "#010203");
    }

    #[test]
    fn an_lqip_fits_its_box_and_keeps_the_aspect() {
        let small = lqip(&flat(400, 100, [10, 20, 30])).unwrap();
        assert_eq!((small.width, small.height), (32, 8));
        let tiny = lqip(&flat(20, 10, [10, 20, 30])).unwrap();
        assert_eq!((tiny.width, tiny.height), (20, 10));
    }
}
