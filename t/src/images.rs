//! Checking what the module returned is really an image of the right size:
//! decoding response bodies with the `image` crate, and the geometry the
//! spec promises for `fit`, so tests compare against a computed expectation.

use image::{ColorType, DynamicImage, ImageFormat};

/// A decoded response body.
pub struct Decoded {
    pub format: ImageFormat,
    pub width: u32,
    pub height: u32,
    pub color: ColorType,
    pub image: DynamicImage,
}

impl Decoded {
    pub fn dims(&self) -> (u32, u32) {
        (self.width, self.height)
    }

    pub fn has_alpha(&self) -> bool {
        self.color.has_alpha()
    }
}

/// Decodes bytes (sniffing the format from the content, not from any header),
/// panicking with a description of what was there if they are no image.
pub fn decode(bytes: &[u8]) -> Decoded {
    let format = image::guess_format(bytes).unwrap_or_else(|e| {
        panic!(
            "body of {} bytes is not a recognisable image ({e}); starts with {:02x?}",
            bytes.len(),
            &bytes[..bytes.len().min(16)]
        )
    });
    let image = image::load_from_memory_with_format(bytes, format)
        .unwrap_or_else(|e| panic!("body sniffed as {format:?} does not decode: {e}"));
    Decoded {
        format,
        width: image.width(),
        height: image.height(),
        color: image.color(),
        image,
    }
}

/// Dimensions of an image file, read from its header.
pub fn file_dims(path: &std::path::Path) -> (u32, u32) {
    image::image_dimensions(path)
        .unwrap_or_else(|e| panic!("cannot read dimensions of {}: {e}", path.display()))
}

/// The `fit` geometry of the spec: scale down (never up) to fit inside the
/// box keeping the aspect ratio; `None` is a free side (`-`). Each side is
/// rounded to nearest and is at least 1.
pub fn fit_dims(src: (u32, u32), box_w: Option<u32>, box_h: Option<u32>) -> (u32, u32) {
    let (w, h) = (f64::from(src.0), f64::from(src.1));
    let sx = box_w.map_or(f64::INFINITY, |bw| f64::from(bw) / w);
    let sy = box_h.map_or(f64::INFINITY, |bh| f64::from(bh) / h);
    let scale = sx.min(sy).min(1.0);
    let side = |v: f64| ((v * scale).round() as u32).max(1);
    (side(w), side(h))
}

/// Asserts `got` equals the `fit` geometry, allowing one pixel either way on
/// the side that the box did not limit (rounding there may legitimately
/// differ), while the limiting side must be exact.
pub fn assert_fit(what: &str, got: (u32, u32), src: (u32, u32), bw: Option<u32>, bh: Option<u32>) {
    let want = fit_dims(src, bw, bh);
    let limited_by_width = match (bw, bh) {
        (Some(bw), Some(bh)) => {
            u64::from(src.0) * u64::from(bh) >= u64::from(src.1) * u64::from(bw)
        }
        (Some(_), None) => true,
        (None, _) => false,
    };
    let enlarged_box = want == src;
    let ok = if enlarged_box {
        got == src
    } else if limited_by_width {
        got.0 == want.0 && got.1.abs_diff(want.1) <= 1
    } else {
        got.1 == want.1 && got.0.abs_diff(want.0) <= 1
    };
    assert!(
        ok,
        "{what}: fit of {}x{} into {}x{} should be {}x{} (±1 on the free side), got {}x{}",
        src.0,
        src.1,
        bw.map_or("-".into(), |v| v.to_string()),
        bh.map_or("-".into(), |v| v.to_string()),
        want.0,
        want.1,
        got.0,
        got.1
    );
}

/// A JPEG made here, `width`x`height`, filled with a diagonal gradient
/// over `rgb`, so that tests can make as many small distinct originals as
/// they need (or two of the same size that differ only in colour) without
/// shipping files.
pub fn jpeg(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        // A gentle gradient keeps the encoder honest (not one flat block)
        // while the mean colour stays close to `rgb`.
        let shade = ((x + y) % 32) as u8;
        image::Rgb(rgb.map(|c| c.saturating_sub(16).saturating_add(shade)))
    });
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Jpeg)
        .expect("encode a JPEG in memory");
    out.into_inner()
}

/// A PNG of one flat colour: every pixel exactly `rgb` (lossless, so a
/// test can ask for exact colours back).
pub fn flat_png(width: u32, height: u32, rgb: [u8; 3]) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(width, height, image::Rgb(rgb));
    let mut out = std::io::Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, ImageFormat::Png)
        .expect("encode a PNG in memory");
    out.into_inner()
}

/// The mean of each of R, G and B over the whole image, 0 to 255.
pub fn mean_rgb(image: &DynamicImage) -> [f64; 3] {
    let rgb = image.to_rgb8();
    let mut sum = [0f64; 3];
    for p in rgb.pixels() {
        for (s, c) in sum.iter_mut().zip(p.0) {
            *s += f64::from(c);
        }
    }
    let n = f64::from(rgb.width() * rgb.height()).max(1.0);
    sum.map(|s| s / n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_jpegs_decode_with_their_colour() {
        let red = decode(&jpeg(40, 30, [220, 20, 20]));
        assert_eq!((red.format, red.dims()), (ImageFormat::Jpeg, (40, 30)));
        let [r, g, b] = mean_rgb(&red.image);
        assert!(r > 180.0 && g < 60.0 && b < 60.0, "{r} {g} {b}");
    }

    #[test]
    fn fit_matches_the_spec_examples() {
        assert_eq!(fit_dims((4224, 3168), Some(350), Some(350)), (350, 263));
        assert_eq!(fit_dims((5312, 2988), Some(350), Some(350)), (350, 197));
        assert_eq!(fit_dims((2560, 3837), Some(350), Some(350)), (234, 350));
        assert_eq!(fit_dims((100, 50), Some(350), Some(350)), (100, 50));
        assert_eq!(fit_dims((5000, 1), Some(10), None), (10, 1));
        assert_eq!(fit_dims((5312, 2988), None, Some(100)), (178, 100));
    }

    #[test]
    fn assert_fit_allows_one_pixel_on_the_free_side_only() {
        assert_fit("ok", (234, 350), (2560, 3837), Some(350), Some(350));
        assert_fit("ok", (233, 350), (2560, 3837), Some(350), Some(350));
        let r = std::panic::catch_unwind(|| {
            assert_fit("bad", (234, 349), (2560, 3837), Some(350), Some(350))
        });
        assert!(r.is_err());
    }
}
