//! Helpers shared by the integration tests: locating the shared test data,
//! decoding outputs back to pixels, and comparing pixels within tolerance.
#![allow(dead_code)]

use std::path::PathBuf;

use thumbnailer::ImageFormat;

/// The shared data directory (`../shared/` from the workspace root), or `None`
/// with a printed reason when it is absent. Under CI its absence is a failure.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    if dir.join("corpus/MANIFEST.tsv").is_file() {
        return Some(dir);
    }
    if std::env::var_os("CI").is_some() {
        panic!(
            "shared test data not found at {} (required when CI is set)",
            dir.display()
        );
    }
    eprintln!("SKIPPED: shared test data not found at {}", dir.display());
    None
}

pub fn read_shared(rel: &str) -> Option<Vec<u8>> {
    let dir = shared_dir()?;
    let path = dir.join(rel);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Decoded 8-bit pixels of an encoded image, as RGBA.
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

impl Rgba {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ]
    }

    /// Mean of R, G, B, A over a rectangle.
    pub fn mean(&self, x0: u32, y0: u32, w: u32, h: u32) -> [f64; 4] {
        let mut sum = [0f64; 4];
        for y in y0..y0 + h {
            for x in x0..x0 + w {
                let p = self.pixel(x, y);
                for c in 0..4 {
                    sum[c] += f64::from(p[c]);
                }
            }
        }
        let n = f64::from(w * h);
        sum.map(|s| s / n)
    }
}

/// Decodes our output (or a reference file) with an independent decoder:
/// libjpeg-turbo for JPEG, `image` for the rest.
pub fn decode_rgba(bytes: &[u8]) -> Rgba {
    match ImageFormat::sniff(bytes) {
        Some(ImageFormat::Jpeg) => {
            let img =
                turbojpeg::decompress(bytes, turbojpeg::PixelFormat::RGBA).expect("jpeg decodes");
            Rgba {
                width: img.width as u32,
                height: img.height as u32,
                data: img.pixels,
            }
        }
        _ => {
            let img = image::load_from_memory(bytes)
                .expect("image decodes")
                .to_rgba8();
            Rgba {
                width: img.width(),
                height: img.height(),
                data: img.into_raw(),
            }
        }
    }
}

/// Peak signal-to-noise ratio over R, G, B of two same-sized images.
pub fn psnr(a: &Rgba, b: &Rgba) -> f64 {
    assert_eq!((a.width, a.height), (b.width, b.height), "sizes differ");
    let mut se = 0f64;
    let mut n = 0f64;
    for (p, q) in a.data.chunks_exact(4).zip(b.data.chunks_exact(4)) {
        for c in 0..3 {
            let d = f64::from(p[c]) - f64::from(q[c]);
            se += d * d;
            n += 1.0;
        }
    }
    if se == 0.0 {
        return f64::INFINITY;
    }
    10.0 * (255.0 * 255.0 / (se / n)).log10()
}
