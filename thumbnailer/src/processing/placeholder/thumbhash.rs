//! ThumbHash (Evan Wallace's format): a DCT of the image in an LPQA colour
//! space, written in about 25 bytes. This follows the reference encoder's
//! arithmetic step for step, so its decoders (JavaScript, Rust, Swift,
//! Python ports) reproduce the picture; the image must fit 100x100.

use std::f64::consts::PI;

/// The hash of a `w` x `h` straight-alpha RGBA image, base64 with padding.
pub(crate) fn encode_base64(w: usize, h: usize, rgba: &[u8]) -> String {
    base64(&encode(w, h, rgba))
}

/// The hash bytes of a `w` x `h` straight-alpha RGBA image (both sides
/// 1..=100).
pub(crate) fn encode(w: usize, h: usize, rgba: &[u8]) -> Vec<u8> {
    debug_assert!(w <= 100 && h <= 100 && rgba.len() == w * h * 4);
    let pixels = w * h;

    // The average colour, weighted by alpha.
    let (mut avg_r, mut avg_g, mut avg_b, mut avg_a) = (0.0, 0.0, 0.0, 0.0);
    for p in rgba.chunks_exact(4) {
        let alpha = f64::from(p[3]) / 255.0;
        avg_r += alpha / 255.0 * f64::from(p[0]);
        avg_g += alpha / 255.0 * f64::from(p[1]);
        avg_b += alpha / 255.0 * f64::from(p[2]);
        avg_a += alpha;
    }
    if avg_a > 0.0 {
        avg_r /= avg_a;
        avg_g /= avg_a;
        avg_b /= avg_a;
    }

    let has_alpha = avg_a < pixels as f64;
    // Fewer luminance terms when alpha needs the room.
    let l_limit = if has_alpha { 5.0 } else { 7.0 };
    let longer = w.max(h) as f64;
    let lx = ((l_limit * w as f64 / longer).round() as usize).max(1);
    let ly = ((l_limit * h as f64 / longer).round() as usize).max(1);

    // RGBA to LPQA, composited over the average colour.
    let mut l = Vec::with_capacity(pixels);
    let mut p = Vec::with_capacity(pixels);
    let mut q = Vec::with_capacity(pixels);
    let mut a = Vec::with_capacity(pixels);
    for px in rgba.chunks_exact(4) {
        let alpha = f64::from(px[3]) / 255.0;
        let r = avg_r * (1.0 - alpha) + alpha / 255.0 * f64::from(px[0]);
        let g = avg_g * (1.0 - alpha) + alpha / 255.0 * f64::from(px[1]);
        let b = avg_b * (1.0 - alpha) + alpha / 255.0 * f64::from(px[2]);
        l.push((r + g + b) / 3.0);
        p.push((r + g) / 2.0 - b);
        q.push(r - g);
        a.push(alpha);
    }

    let (l_dc, l_ac, l_scale) = encode_channel(&l, w, h, lx.max(3), ly.max(3));
    let (p_dc, p_ac, p_scale) = encode_channel(&p, w, h, 3, 3);
    let (q_dc, q_ac, q_scale) = encode_channel(&q, w, h, 3, 3);
    let alpha_channel = has_alpha.then(|| encode_channel(&a, w, h, 5, 5));

    let is_landscape = w > h;
    let round = |v: f64| v.round() as u32;
    let header24 = round(63.0 * l_dc)
        | (round(31.5 + 31.5 * p_dc) << 6)
        | (round(31.5 + 31.5 * q_dc) << 12)
        | (round(31.0 * l_scale) << 18)
        | (u32::from(has_alpha) << 23);
    let header16 = (if is_landscape { ly } else { lx }) as u32
        | (round(63.0 * p_scale) << 3)
        | (round(63.0 * q_scale) << 9)
        | (u32::from(is_landscape) << 15);
    let mut hash = vec![
        (header24 & 255) as u8,
        ((header24 >> 8) & 255) as u8,
        (header24 >> 16) as u8,
        (header16 & 255) as u8,
        (header16 >> 8) as u8,
    ];
    if let Some((a_dc, _, a_scale)) = &alpha_channel {
        hash.push((round(15.0 * a_dc) | (round(15.0 * a_scale) << 4)) as u8);
    }

    // The AC terms, four bits each, two to a byte.
    let mut acs: Vec<&[f64]> = vec![&l_ac, &p_ac, &q_ac];
    if let Some((_, a_ac, _)) = &alpha_channel {
        acs.push(a_ac);
    }
    let start = hash.len();
    let mut index = 0usize;
    for ac in acs {
        for &f in ac {
            let at = start + (index >> 1);
            if at >= hash.len() {
                hash.push(0);
            }
            hash[at] |= (round(15.0 * f) << ((index & 1) << 2)) as u8;
            index += 1;
        }
    }
    hash
}

/// The DC term, the AC terms normalised to 0..1, and their scale, of the
/// DCT terms `cx * ny < nx * (ny - cy)` (a triangle of low frequencies).
fn encode_channel(
    channel: &[f64],
    w: usize,
    h: usize,
    nx: usize,
    ny: usize,
) -> (f64, Vec<f64>, f64) {
    let mut dc = 0.0;
    let mut ac = Vec::new();
    let mut scale: f64 = 0.0;
    let mut fx = vec![0.0; w];
    for cy in 0..ny {
        let mut cx = 0;
        while cx * ny < nx * (ny - cy) {
            for (x, f) in fx.iter_mut().enumerate() {
                *f = (PI / w as f64 * cx as f64 * (x as f64 + 0.5)).cos();
            }
            let mut f = 0.0;
            for y in 0..h {
                let fy = (PI / h as f64 * cy as f64 * (y as f64 + 0.5)).cos();
                let row = &channel[y * w..(y + 1) * w];
                for (v, fxv) in row.iter().zip(&fx) {
                    f += v * fxv * fy;
                }
            }
            f /= (w * h) as f64;
            if cx > 0 || cy > 0 {
                ac.push(f);
                scale = scale.max(f.abs());
            } else {
                dc = f;
            }
            cx += 1;
        }
    }
    if scale > 0.0 {
        for v in &mut ac {
            *v = 0.5 + 0.5 / scale * *v;
        }
    }
    (dc, ac, scale)
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(&[0xfb, 0xff]), "+/8=");
    }

    #[test]
    fn an_opaque_flat_image_hashes_to_its_colour_and_no_detail() {
        let rgba: Vec<u8> = (0..40 * 30).flat_map(|_| [200, 100, 50, 255]).collect();
        let hash = encode(40, 30, &rgba);
        // Opaque: five header bytes, then the AC nibbles, all at the middle
        // (8 of 15) or, with a zero scale, at 0.
        assert!(hash.len() > 5);
        assert_eq!(hash[2] >> 7, 0, "no alpha flag");
        let l_dc = u32::from(hash[0] & 63);
        // L = (200 + 100 + 50) / 3 / 255 = 0.457, times 63.
        assert_eq!(l_dc, 29);
        // Landscape flag and the luminance terms across (7 for 40 of 40).
        let header16 = u16::from(hash[3]) | (u16::from(hash[4]) << 8);
        assert_eq!(header16 >> 15, 1);
        assert_eq!(header16 & 7, 5, "ly = round(7 * 30 / 40)");
    }

    #[test]
    fn transparency_sets_the_alpha_flag_and_adds_a_byte() {
        let rgba: Vec<u8> = (0..20 * 20)
            .flat_map(|i| {
                if i % 2 == 0 {
                    [0, 0, 0, 0]
                } else {
                    [255, 0, 0, 255]
                }
            })
            .collect();
        let hash = encode(20, 20, &rgba);
        assert_eq!(hash[2] >> 7, 1);
    }
}
