//! quality: a DSSIM-style image comparison, for `make bench-peers` and for
//! choosing the shrink-on-load rule.
//!
//! What it computes (our own implementation; the idea is Kornel Lesiński's
//! DSSIM, the figures are not numerically identical to his `dssim` tool's):
//!
//! 1. Both images (8-bit sRGB, same size) are converted to CIE L*a*b* (D65,
//!    the sRGB transfer curve undone first), as three planes L*/100, a*/100,
//!    b*/100.
//! 2. At each of 5 scales (full size, then each plane halved by a 2x2 box
//!    average, ignoring an odd last row or column, stopping early below
//!    8 pixels) the SSIM map of every plane is computed with a Gaussian
//!    window (sigma 1.5 px, 11 taps, edges clamped), C1 = 0.01^2 and
//!    C2 = 0.03^2 (dynamic range 1), and averaged over the image.
//! 3. A scale's SSIM is (4 SSIM(L) + SSIM(a) + SSIM(b)) / 6: lightness
//!    weighs most, as in the eye.
//! 4. The scales are combined by a weighted mean with MS-SSIM's weights
//!    (0.0448, 0.2856, 0.3001, 0.2363, 0.1333, renormalised over the scales
//!    used), and DSSIM = 1 / SSIM - 1: 0 for identical images.
//!
//! The reference of a comparison is the original decoded whole (libjpeg-turbo,
//! no DCT scaling) and scaled straight to the candidate's size with Lanczos3
//! (fast_image_resize, in sRGB values, as the thumbnailer's resize step).
//!
//! Subcommands:
//!   dssim A B                        DSSIM of two images of one size
//!   against ORIG_DIR LABEL=DIR...    every file in each DIR (JPEG, WebP, AVIF,
//!                                    named after an original in ORIG_DIR by
//!                                    its stem) against the reference at its
//!                                    size; one line per LABEL: images, median
//!                                    and max DSSIM, mean bytes
//!   rules SIZES FILE...              the shrink-on-load rules: for every JPEG
//!                                    FILE and box SIZE (comma-separated, fit),
//!                                    decode at the DCT scale each rule picks,
//!                                    Lanczos3 to the output size, DSSIM against
//!                                    the reference; then the same after a JPEG
//!                                    q80 encode (what a user receives),
//!                                    relative to the full decode's after q80;
//!                                    for scale, what that encode alone costs,
//!                                    and what one quality step (q79) adds
//!   encoders SIZE FILE...            encoder settings on the thumbnails (1x
//!                                    rule, Lanczos3, fit into SIZE): JPEG q80
//!                                    with and without Huffman optimisation,
//!                                    progressive; WebP q75 at methods 0-6;
//!                                    median encode ms, mean bytes, median
//!                                    DSSIM against the full-decode reference
//!   webp-effort SIZE FILE...         WebP methods 0-6 at equal DSSIM: each
//!                                    method over qualities 70-92, then the
//!                                    quality, bytes and encode time at which
//!                                    it matches method 4 at q75 (the
//!                                    default), by linear interpolation
//!   avif SIZE FILE...                AVIF (libavif + libaom) at libaom
//!                                    speeds 6-9 at equal DSSIM: for each
//!                                    speed, the AVIF quality that matches
//!                                    the thumbnailer's WebP default (q80,
//!                                    method 4), with bytes and encode time
//!                                    relative to that WebP (quality/avif.rs)

#[path = "quality/avif.rs"]
mod avif;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use turbojpeg::{Decompressor, PixelFormat, ScalingFactor};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dssim") => cmd_dssim(&args[1..]),
        Some("against") => cmd_against(&args[1..]),
        Some("rules") => cmd_rules(&args[1..]),
        Some("encoders") => cmd_encoders(&args[1..]),
        Some("webp-effort") => cmd_webp_effort(&args[1..]),
        Some("avif") => avif::cmd_avif(&args[1..]),
        _ => Err(
            "usage: quality dssim A B | against ORIG_DIR LABEL=DIR... | rules SIZES FILE...\n\
                  (see the comment at the top of bench/src/bin/quality.rs)"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("quality: {e}");
            ExitCode::FAILURE
        }
    }
}

/// 8-bit RGB pixels, row after row.
#[derive(Clone)]
struct Rgb {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

fn decode_jpeg(bytes: &[u8], shrink: usize) -> Result<Rgb, String> {
    let mut d = Decompressor::new().map_err(|e| e.to_string())?;
    let header = d.read_header(bytes).map_err(|e| e.to_string())?;
    let factor = ScalingFactor::new(1, shrink);
    d.set_scaling_factor(factor).map_err(|e| e.to_string())?;
    let scaled = header.scaled(factor);
    let mut data = vec![0u8; scaled.width * scaled.height * 3];
    let image = turbojpeg::Image {
        pixels: data.as_mut_slice(),
        width: scaled.width,
        pitch: scaled.width * 3,
        height: scaled.height,
        format: PixelFormat::RGB,
    };
    d.decompress(bytes, image).map_err(|e| e.to_string())?;
    Ok(Rgb {
        width: scaled.width as u32,
        height: scaled.height as u32,
        data,
    })
}

/// JPEG, WebP or AVIF (without alpha, or with it dropped) to RGB.
fn decode_any(path: &Path) -> Result<Rgb, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.starts_with(&[0xFF, 0xD8]) {
        return decode_jpeg(&bytes, 1).map_err(|e| format!("{}: {e}", path.display()));
    }
    if bytes.len() > 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        let img = webp::Decoder::new(&bytes)
            .decode()
            .ok_or_else(|| format!("{}: bad WebP", path.display()))?;
        let channels = if img.is_alpha() { 4 } else { 3 };
        let data = img
            .chunks_exact(channels)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        return Ok(Rgb {
            width: img.width(),
            height: img.height(),
            data,
        });
    }
    if bytes.len() > 12 && &bytes[4..8] == b"ftyp" && &bytes[8..12] == b"avif" {
        let img = codecs::avif::decode(&bytes, &codecs::avif::DecodeLimits::default())
            .map_err(|e| format!("{}: {e:?}", path.display()))?;
        let channels = if img.has_alpha { 4 } else { 3 };
        let data = img
            .pixels
            .chunks_exact(channels)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect();
        return Ok(Rgb {
            width: img.width,
            height: img.height,
            data,
        });
    }
    Err(format!("{}: neither JPEG, WebP nor AVIF", path.display()))
}

fn lanczos3(src: &Rgb, width: u32, height: u32) -> Result<Rgb, String> {
    let s = ImageRef::new(src.width, src.height, &src.data, PixelType::U8x3)
        .map_err(|e| e.to_string())?;
    let mut dst = Image::new(width, height, PixelType::U8x3);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    Resizer::new()
        .resize(&s, &mut dst, &options)
        .map_err(|e| e.to_string())?;
    Ok(Rgb {
        width,
        height,
        data: dst.into_vec(),
    })
}

// --- DSSIM -----------------------------------------------------------------

/// One float plane.
#[derive(Clone)]
struct Plane {
    w: usize,
    h: usize,
    v: Vec<f32>,
}

fn srgb_to_linear(c: u8) -> f32 {
    let c = f32::from(c) / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// L*/100, a*/100, b*/100 planes (D65).
fn lab_planes(img: &Rgb) -> [Plane; 3] {
    let lut: Vec<f32> = (0..=255u8).map(srgb_to_linear).collect();
    let (w, h) = (img.width as usize, img.height as usize);
    let mut planes = [0, 1, 2].map(|_| Plane {
        w,
        h,
        v: Vec::with_capacity(w * h),
    });
    let f = |t: f32| {
        if t > 216.0 / 24389.0 {
            t.cbrt()
        } else {
            (24389.0 / 27.0 * t + 16.0) / 116.0
        }
    };
    for p in img.data.chunks_exact(3) {
        let (r, g, b) = (lut[p[0] as usize], lut[p[1] as usize], lut[p[2] as usize]);
        let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
        let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
        let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
        let (fx, fy, fz) = (f(x), f(y), f(z));
        planes[0].v.push((116.0 * fy - 16.0) / 100.0);
        planes[1].v.push(500.0 * (fx - fy) / 100.0);
        planes[2].v.push(200.0 * (fy - fz) / 100.0);
    }
    planes
}

fn gaussian_kernel() -> Vec<f32> {
    let sigma = 1.5f32;
    let k: Vec<f32> = (-5..=5)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.into_iter().map(|x| x / sum).collect()
}

/// Separable Gaussian blur, edges clamped.
fn blur(p: &Plane, k: &[f32]) -> Plane {
    let r = (k.len() / 2) as isize;
    let (w, h) = (p.w as isize, p.h as isize);
    let mut tmp = vec![0f32; p.v.len()];
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0;
            for (i, kv) in k.iter().enumerate() {
                let xx = (x + i as isize - r).clamp(0, w - 1);
                s += kv * p.v[(y * w + xx) as usize];
            }
            tmp[(y * w + x) as usize] = s;
        }
    }
    let mut out = vec![0f32; p.v.len()];
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0;
            for (i, kv) in k.iter().enumerate() {
                let yy = (y + i as isize - r).clamp(0, h - 1);
                s += kv * tmp[(yy * w + x) as usize];
            }
            out[(y * w + x) as usize] = s;
        }
    }
    Plane {
        w: p.w,
        h: p.h,
        v: out,
    }
}

fn product(a: &Plane, b: &Plane) -> Plane {
    Plane {
        w: a.w,
        h: a.h,
        v: a.v.iter().zip(&b.v).map(|(x, y)| x * y).collect(),
    }
}

/// Mean SSIM of two planes.
fn ssim(a: &Plane, b: &Plane, k: &[f32]) -> f64 {
    const C1: f32 = 0.01 * 0.01;
    const C2: f32 = 0.03 * 0.03;
    let (ma, mb) = (blur(a, k), blur(b, k));
    let (aa, bb, ab) = (
        blur(&product(a, a), k),
        blur(&product(b, b), k),
        blur(&product(a, b), k),
    );
    let mut sum = 0f64;
    for i in 0..a.v.len() {
        let (mx, my) = (ma.v[i], mb.v[i]);
        let vx = aa.v[i] - mx * mx;
        let vy = bb.v[i] - my * my;
        let cxy = ab.v[i] - mx * my;
        let s =
            ((2.0 * mx * my + C1) * (2.0 * cxy + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
        sum += f64::from(s);
    }
    sum / a.v.len() as f64
}

fn halve(p: &Plane) -> Plane {
    let (w, h) = (p.w / 2, p.h / 2);
    let mut v = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let i = 2 * y * p.w + 2 * x;
            v.push((p.v[i] + p.v[i + 1] + p.v[i + p.w] + p.v[i + p.w + 1]) / 4.0);
        }
    }
    Plane { w, h, v }
}

const SCALE_WEIGHTS: [f64; 5] = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333];
const CHANNEL_WEIGHTS: [f64; 3] = [4.0, 1.0, 1.0];

fn dssim(a: &Rgb, b: &Rgb) -> Result<f64, String> {
    if (a.width, a.height) != (b.width, b.height) {
        return Err(format!(
            "sizes differ: {}x{} and {}x{}",
            a.width, a.height, b.width, b.height
        ));
    }
    let k = gaussian_kernel();
    let (mut pa, mut pb) = (lab_planes(a), lab_planes(b));
    let (mut total, mut weights) = (0.0, 0.0);
    for (scale, &sw) in SCALE_WEIGHTS.iter().enumerate() {
        if scale > 0 {
            if pa[0].w / 2 < 8 || pa[0].h / 2 < 8 {
                break;
            }
            pa = pa.each_ref().map(halve);
            pb = pb.each_ref().map(halve);
        }
        let s: f64 = (0..3)
            .map(|c| CHANNEL_WEIGHTS[c] * ssim(&pa[c], &pb[c], &k))
            .sum::<f64>()
            / CHANNEL_WEIGHTS.iter().sum::<f64>();
        total += sw * s;
        weights += sw;
    }
    Ok(1.0 / (total / weights) - 1.0)
}

// --- subcommands -------------------------------------------------------------

fn cmd_dssim(args: &[String]) -> Result<(), String> {
    let [a, b] = args else {
        return Err("dssim A B".to_owned());
    };
    println!(
        "{:.6}",
        dssim(&decode_any(Path::new(a))?, &decode_any(Path::new(b))?)?
    );
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn cmd_against(args: &[String]) -> Result<(), String> {
    let [orig_dir, labels @ ..] = args else {
        return Err("against ORIG_DIR LABEL=DIR...".to_owned());
    };
    if labels.is_empty() {
        return Err("against ORIG_DIR LABEL=DIR...".to_owned());
    }
    // Full decodes of the originals, shared by every candidate.
    let mut full: BTreeMap<String, Rgb> = BTreeMap::new();
    for spec in labels {
        let (label, dir) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec:?} is not LABEL=DIR"))?;
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .map_err(|e| format!("{dir}: {e}"))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let (mut scores, mut bytes) = (Vec::new(), 0u64);
        for cand in &entries {
            let stem = cand
                .file_stem()
                .and_then(|s| s.to_str())
                .ok_or_else(|| format!("{}: bad name", cand.display()))?
                .to_owned();
            if !full.contains_key(&stem) {
                let orig = Path::new(orig_dir).join(format!("{stem}.jpg"));
                let data = std::fs::read(&orig).map_err(|e| format!("{}: {e}", orig.display()))?;
                full.insert(stem.clone(), decode_jpeg(&data, 1)?);
            }
            let c = decode_any(cand)?;
            let reference = lanczos3(&full[&stem], c.width, c.height)?;
            scores.push(dssim(&reference, &c)?);
            bytes += std::fs::metadata(cand).map_err(|e| e.to_string())?.len();
        }
        let n = scores.len();
        let max = scores.iter().copied().fold(0.0, f64::max);
        println!(
            "label={label} images={n} median={:.6} max={:.6} bytes={}",
            median(&mut scores),
            max,
            bytes / n.max(1) as u64
        );
    }
    Ok(())
}

/// The rules compared: keep at least `factor` times the output after the
/// DCT-domain reduction (1, 2, 4 or 8).
const RULES: [(&str, f64); 4] = [
    ("full", f64::INFINITY),
    ("2x", 2.0),
    ("1.5x", 1.5),
    ("1x", 1.0),
];

fn shrink_for(w: u32, h: u32, ow: u32, oh: u32, factor: f64) -> usize {
    if factor.is_infinite() {
        return 1;
    }
    [8usize, 4, 2]
        .into_iter()
        .find(|&d| {
            f64::from(w) >= factor * f64::from(ow) * d as f64
                && f64::from(h) >= factor * f64::from(oh) * d as f64
        })
        .unwrap_or(1)
}

/// Fit (w, h) inside a box of `size`, never enlarging, rounding to nearest.
fn fit(w: u32, h: u32, size: u32) -> (u32, u32) {
    let s = (f64::from(size) / f64::from(w))
        .min(f64::from(size) / f64::from(h))
        .min(1.0);
    (
        ((f64::from(w) * s).round() as u32).max(1),
        ((f64::from(h) * s).round() as u32).max(1),
    )
}

fn encode_jpeg(img: &Rgb, quality: i32) -> Result<Vec<u8>, String> {
    let mut c = turbojpeg::Compressor::new().map_err(|e| e.to_string())?;
    c.set_quality(quality).map_err(|e| e.to_string())?;
    c.set_subsamp(turbojpeg::Subsamp::Sub2x2)
        .map_err(|e| e.to_string())?;
    let image = turbojpeg::Image {
        pixels: img.data.as_slice(),
        width: img.width as usize,
        pitch: img.width as usize * 3,
        height: img.height as usize,
        format: PixelFormat::RGB,
    };
    c.compress_to_vec(image).map_err(|e| e.to_string())
}

fn cmd_rules(args: &[String]) -> Result<(), String> {
    let [sizes, files @ ..] = args else {
        return Err("rules SIZES FILE...".to_owned());
    };
    let sizes: Vec<u32> = sizes
        .split(',')
        .map(|s| s.parse().map_err(|_| format!("bad size {s:?}")))
        .collect::<Result<_, _>>()?;
    // Per rule: DSSIMs, decode+resize ms, the shrink factors chosen, and the
    // DSSIM after a q80 encode relative to the full decode's after q80.
    let mut scores: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut times: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut shrinks: BTreeMap<&str, BTreeMap<usize, usize>> = BTreeMap::new();
    let mut encoded_rel: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut encode_loss = Vec::new();
    let mut one_step = Vec::new();
    println!(
        "file size out {} (rule:shrink/dssim/dssim-after-q80)",
        RULES.map(|(n, _)| n).join(" ")
    );
    for file in files {
        let data = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        if !data.starts_with(&[0xFF, 0xD8]) {
            continue;
        }
        let whole = decode_jpeg(&data, 1).map_err(|e| format!("{file}: {e}"))?;
        for &size in &sizes {
            let (ow, oh) = fit(whole.width, whole.height, size);
            if (ow, oh) == (whole.width, whole.height) {
                continue;
            }
            let reference = lanczos3(&whole, ow, oh)?;
            let mut row = String::new();
            let mut full_encoded = 0.0;
            for (name, factor) in RULES {
                let d = shrink_for(whole.width, whole.height, ow, oh, factor);
                let start = Instant::now();
                let decoded = decode_jpeg(&data, d)?;
                let out = lanczos3(&decoded, ow, oh)?;
                times
                    .entry(name)
                    .or_default()
                    .push(start.elapsed().as_secs_f64() * 1e3);
                let s = dssim(&reference, &out)?;
                let e = dssim(&reference, &decode_jpeg(&encode_jpeg(&out, 80)?, 1)?)?;
                if factor.is_infinite() {
                    full_encoded = e;
                    encode_loss.push(e);
                    // One quality step down, for scale: what q79 instead
                    // of q80 costs the same output, relative.
                    let e79 = dssim(&reference, &decode_jpeg(&encode_jpeg(&out, 79)?, 1)?)?;
                    one_step.push(e79 / e - 1.0);
                }
                encoded_rel
                    .entry(name)
                    .or_default()
                    .push(e / full_encoded - 1.0);
                scores.entry(name).or_default().push(s);
                *shrinks.entry(name).or_default().entry(d).or_default() += 1;
                row.push_str(&format!(" {d}/{s:.6}/{e:.6}"));
            }
            let name = Path::new(file)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            println!("{name} {size} {ow}x{oh}{row}");
        }
    }
    println!();
    println!(
        "rule cases shrink(count) dssim:median,p90,max decode+resize-ms:median \
         after-q80-relative-to-full-decode-after-q80:median,p90,max"
    );
    for (name, _) in RULES {
        let Some(v) = scores.get_mut(name) else {
            continue;
        };
        let n = v.len();
        let max = v.iter().copied().fold(0.0, f64::max);
        let med = median(v);
        let p90 = v[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1];
        let t = median(times.get_mut(name).unwrap());
        let sh: Vec<String> = shrinks[name]
            .iter()
            .map(|(d, c)| format!("1/{d}:{c}"))
            .collect();
        let rel = encoded_rel.get_mut(name).unwrap();
        let rel_med = median(rel);
        let rel_p90 = rel[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1];
        let rel_max = rel.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{name} {n} {} {med:.6},{p90:.6},{max:.6} {t:.2} {:+.1}%,{:+.1}%,{:+.1}%",
            sh.join(","),
            100.0 * rel_med,
            100.0 * rel_p90,
            100.0 * rel_max
        );
    }
    let n = encode_loss.len();
    let max = encode_loss.iter().copied().fold(0.0, f64::max);
    let min = encode_loss.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "for scale, JPEG q80 4:2:0 encoding of the full decode's output costs: \
         median {:.6}, min {min:.6}, max {max:.6} over {n} cases",
        median(&mut encode_loss)
    );
    let max = one_step.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    println!(
        "for scale, q79 instead of q80 on the full decode's output: median {:+.1}%, max {:+.1}%",
        100.0 * median(&mut one_step),
        100.0 * max
    );
    Ok(())
}

/// One encoder setting of `encoders`.
#[derive(Clone, Copy)]
enum Setting {
    Jpeg {
        optimize: bool,
        progressive: bool,
    },
    Webp {
        method: i32,
        quality: f32,
    },
    /// libavif with libaom at `speed`, quality 0-100, one thread (as the
    /// module encodes, one job per pool thread).
    Avif {
        speed: u8,
        quality: u8,
    },
}

impl Setting {
    fn name(self) -> String {
        match self {
            Setting::Jpeg {
                optimize,
                progressive,
            } => format!(
                "jpeg-q80{}{}",
                if optimize { "-optimize" } else { "-plain" },
                if progressive { "-progressive" } else { "" }
            ),
            Setting::Webp { method, quality } => format!("webp-q{quality}-method{method}"),
            Setting::Avif { speed, quality } => format!("avif-q{quality}-speed{speed}"),
        }
    }

    fn encode(self, img: &Rgb) -> Result<Vec<u8>, String> {
        match self {
            Setting::Jpeg {
                optimize,
                progressive,
            } => {
                let mut c = turbojpeg::Compressor::new().map_err(|e| e.to_string())?;
                c.set_quality(80).map_err(|e| e.to_string())?;
                c.set_subsamp(turbojpeg::Subsamp::Sub2x2)
                    .map_err(|e| e.to_string())?;
                c.set_optimize(optimize).map_err(|e| e.to_string())?;
                c.set_progressive(progressive).map_err(|e| e.to_string())?;
                let image = turbojpeg::Image {
                    pixels: img.data.as_slice(),
                    width: img.width as usize,
                    pitch: img.width as usize * 3,
                    height: img.height as usize,
                    format: PixelFormat::RGB,
                };
                c.compress_to_vec(image).map_err(|e| e.to_string())
            }
            Setting::Webp { method, quality } => {
                let mut config = webp::WebPConfig::new().map_err(|()| "WebPConfig".to_owned())?;
                config.quality = quality;
                config.method = method;
                let e = webp::Encoder::from_rgb(&img.data, img.width, img.height);
                e.encode_advanced(&config)
                    .map(|m| m.to_vec())
                    .map_err(|e| format!("webp: {e:?}"))
            }
            Setting::Avif { speed, quality } => {
                let settings = codecs::avif::EncodeSettings {
                    quality,
                    speed,
                    threads: 1,
                };
                codecs::avif::encode(
                    &img.data,
                    codecs::avif::PixelLayout::Rgb,
                    img.width,
                    img.height,
                    &settings,
                )
                .map_err(|e| e.to_string())
            }
        }
    }
}

fn cmd_encoders(args: &[String]) -> Result<(), String> {
    let [size, files @ ..] = args else {
        return Err("encoders SIZE FILE...".to_owned());
    };
    let size: u32 = size.parse().map_err(|_| format!("bad size {size:?}"))?;
    let mut settings = vec![
        Setting::Jpeg {
            optimize: true,
            progressive: false,
        },
        Setting::Jpeg {
            optimize: false,
            progressive: false,
        },
        Setting::Jpeg {
            optimize: true,
            progressive: true,
        },
    ];
    settings.extend((0..=6).map(|method| Setting::Webp {
        method,
        quality: 75.0,
    }));
    let table = measure_settings(size, files, &settings)?;
    println!(
        "setting encode-ms:median bytes:mean dssim:median ({} thumbnails fit into {size})",
        table.images
    );
    for (i, s) in settings.iter().enumerate() {
        println!(
            "{} {:.2} {:.0} {:.6}",
            s.name(),
            table.ms[i],
            table.bytes[i],
            table.dssim[i]
        );
    }
    Ok(())
}

/// Median encode time, mean bytes and median DSSIM of each setting.
struct SettingFigures {
    images: usize,
    ms: Vec<f64>,
    bytes: Vec<f64>,
    dssim: Vec<f64>,
}

fn measure_settings(
    size: u32,
    files: &[String],
    settings: &[Setting],
) -> Result<SettingFigures, String> {
    let mut ms: Vec<Vec<f64>> = vec![Vec::new(); settings.len()];
    let mut bytes = vec![0usize; settings.len()];
    let mut scores: Vec<Vec<f64>> = vec![Vec::new(); settings.len()];
    let mut n = 0;
    for file in files {
        let data = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
        let whole = decode_jpeg(&data, 1).map_err(|e| format!("{file}: {e}"))?;
        let (ow, oh) = fit(whole.width, whole.height, size);
        let reference = lanczos3(&whole, ow, oh)?;
        let d = shrink_for(whole.width, whole.height, ow, oh, 1.0);
        let thumb = lanczos3(&decode_jpeg(&data, d)?, ow, oh)?;
        n += 1;
        for (i, s) in settings.iter().enumerate() {
            let start = Instant::now();
            let out = s.encode(&thumb)?;
            ms[i].push(start.elapsed().as_secs_f64() * 1e3);
            bytes[i] += out.len();
            let back = if out.starts_with(&[0xFF, 0xD8]) {
                decode_jpeg(&out, 1)?
            } else if out.get(4..8) == Some(b"ftyp") {
                let img = codecs::avif::decode(&out, &codecs::avif::DecodeLimits::default())
                    .map_err(|e| e.to_string())?;
                Rgb {
                    width: img.width,
                    height: img.height,
                    data: img.pixels,
                }
            } else {
                let img = webp::Decoder::new(&out)
                    .decode()
                    .ok_or("bad WebP".to_owned())?;
                Rgb {
                    width: img.width(),
                    height: img.height(),
                    data: img.to_vec(),
                }
            };
            scores[i].push(dssim(&reference, &back)?);
        }
    }
    Ok(SettingFigures {
        images: n,
        ms: ms.iter_mut().map(|m| median(m)).collect(),
        bytes: bytes.iter().map(|&b| b as f64 / n.max(1) as f64).collect(),
        dssim: scores.iter_mut().map(|s| median(s)).collect(),
    })
}

fn cmd_webp_effort(args: &[String]) -> Result<(), String> {
    let [size, files @ ..] = args else {
        return Err("webp-effort SIZE FILE...".to_owned());
    };
    let size: u32 = size.parse().map_err(|_| format!("bad size {size:?}"))?;
    let qualities: Vec<f32> = (70..=92).step_by(2).map(|q| q as f32).collect();
    let mut settings = vec![Setting::Webp {
        method: 4,
        quality: 75.0,
    }];
    for method in 0..=6 {
        settings.extend(
            qualities
                .iter()
                .map(|&quality| Setting::Webp { method, quality }),
        );
    }
    let t = measure_settings(size, files, &settings)?;
    let target = t.dssim[0];
    println!(
        "WebP methods at the DSSIM of method 4 q75 ({target:.6}; {} thumbnails fit into {size}):",
        t.images
    );
    println!("method quality bytes:mean encode-ms:median bytes/m4 ms/m4");
    for method in 0..=6usize {
        let row = 1 + method * qualities.len();
        let grid: Vec<f64> = qualities.iter().map(|&q| f64::from(q)).collect();
        let found = at_dssim(&t, row, &grid, target);
        match found {
            Some((q, bytes, ms)) => println!(
                "{method} {q:.1} {bytes:.0} {ms:.2} {:.3} {:.3}",
                bytes / t.bytes[0],
                ms / t.ms[0]
            ),
            None => println!("{method} - (no quality in 70-92 reaches it)"),
        }
    }
    Ok(())
}

/// The quality, bytes and time at which the run of settings starting at
/// `row`, one per entry of `qualities`, reaches `target` DSSIM, interpolated
/// linearly between the two qualities that bracket it (DSSIM falls as
/// quality rises); None when no pair brackets it.
fn at_dssim(
    t: &SettingFigures,
    row: usize,
    qualities: &[f64],
    target: f64,
) -> Option<(f64, f64, f64)> {
    (0..qualities.len().saturating_sub(1)).find_map(|k| {
        let (a, b) = (row + k, row + k + 1);
        (t.dssim[a] >= target && t.dssim[b] <= target).then(|| {
            let span = t.dssim[a] - t.dssim[b];
            let f = if span > 0.0 {
                (t.dssim[a] - target) / span
            } else {
                0.0
            };
            let lerp = |x: &[f64]| x[a] + f * (x[b] - x[a]);
            let q = qualities[k] + f * (qualities[k + 1] - qualities[k]);
            (q, lerp(&t.bytes), lerp(&t.ms))
        })
    })
}
