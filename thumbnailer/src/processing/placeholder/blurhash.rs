//! BlurHash (Wolt's format): a few DCT components of the image in linear
//! light, quantised and written in base 83. Follows the reference encoder,
//! so its decoders in every language render the same blur.

use std::f64::consts::PI;

const BASE83: &[u8; 83] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";

/// The hash of a `w` x `h` RGB image with `cx` x `cy` components (1..=9).
pub(crate) fn encode(w: usize, h: usize, rgb: &[u8], cx: usize, cy: usize) -> String {
    debug_assert!((1..=9).contains(&cx) && (1..=9).contains(&cy) && rgb.len() == w * h * 3);
    let linear: Vec<f64> = rgb.iter().map(|&v| srgb_to_linear(v)).collect();
    let mut factors = Vec::with_capacity(cx * cy);
    for j in 0..cy {
        for i in 0..cx {
            let normalisation = if i == 0 && j == 0 { 1.0 } else { 2.0 };
            let mut sum = [0.0f64; 3];
            for y in 0..h {
                let fy = (PI * j as f64 * y as f64 / h as f64).cos();
                for x in 0..w {
                    let basis = normalisation * (PI * i as f64 * x as f64 / w as f64).cos() * fy;
                    let at = (y * w + x) * 3;
                    for c in 0..3 {
                        sum[c] += basis * linear[at + c];
                    }
                }
            }
            let scale = 1.0 / (w * h) as f64;
            factors.push(sum.map(|v| v * scale));
        }
    }
    let (dc, ac) = factors.split_first().expect("at least one component");

    let mut hash = String::new();
    push83(&mut hash, (cx - 1 + (cy - 1) * 9) as u32, 1);
    let maximum = if ac.is_empty() {
        push83(&mut hash, 0, 1);
        1.0
    } else {
        let actual = ac
            .iter()
            .flat_map(|f| f.iter().map(|v| v.abs()))
            .fold(0.0f64, f64::max);
        let quantised = (actual * 166.0 - 0.5).floor().clamp(0.0, 82.0) as u32;
        push83(&mut hash, quantised, 1);
        f64::from(quantised + 1) / 166.0
    };
    let dc_value = (u32::from(linear_to_srgb(dc[0])) << 16)
        | (u32::from(linear_to_srgb(dc[1])) << 8)
        | u32::from(linear_to_srgb(dc[2]));
    push83(&mut hash, dc_value, 4);
    for f in ac {
        let q = |v: f64| {
            (sign_pow(v / maximum, 0.5) * 9.0 + 9.5)
                .floor()
                .clamp(0.0, 18.0) as u32
        };
        push83(&mut hash, q(f[0]) * 19 * 19 + q(f[1]) * 19 + q(f[2]), 2);
    }
    hash
}

fn push83(out: &mut String, value: u32, length: u32) {
    for i in 1..=length {
        let digit = (value / 83u32.pow(length - i)) % 83;
        out.push(char::from(BASE83[digit as usize]));
    }
}

fn srgb_to_linear(v: u8) -> f64 {
    let v = f64::from(v) / 255.0;
    if v <= 0.04045 {
        v / 12.92
    } else {
        ((v + 0.055) / 1.055).powf(2.4)
    }
}

fn linear_to_srgb(v: f64) -> u8 {
    let v = v.clamp(0.0, 1.0);
    let s = if v <= 0.003_130_8 {
        v * 12.92 * 255.0 + 0.5
    } else {
        (1.055 * v.powf(1.0 / 2.4) - 0.055) * 255.0 + 0.5
    };
    s as u8
}

fn sign_pow(v: f64, exp: f64) -> f64 {
    v.abs().powf(exp).copysign(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode83(text: &str) -> u32 {
        text.bytes().fold(0, |n, b| {
            n * 83 + BASE83.iter().position(|&c| c == b).unwrap() as u32
        })
    }

    #[test]
    fn a_flat_image_hashes_to_its_colour_with_flat_components() {
        let rgb: Vec<u8> = (0..32 * 24).flat_map(|_| [200u8, 100, 50]).collect();
        let hash = encode(32, 24, &rgb, 4, 3);
        assert_eq!(hash.len(), 4 + 2 * (4 * 3 - 1) + 2);
        assert_eq!(decode83(&hash[..1]), 3 + 2 * 9, "size flag");
        assert_eq!(decode83(&hash[2..6]), (200 << 16) | (100 << 8) | 50);
        // The reference encoder's basis has no half-pixel offset, so even
        // a flat image has small AC terms: the maximum stays in the lowest
        // quantisation steps.
        assert!(decode83(&hash[1..2]) < 20, "{hash}");
    }

    #[test]
    fn one_component_is_the_colour_alone() {
        let rgb: Vec<u8> = (0..8 * 8).flat_map(|_| [0u8, 0, 255]).collect();
        let hash = encode(8, 8, &rgb, 1, 1);
        assert_eq!(hash.len(), 6);
        assert_eq!(decode83(&hash[2..6]), 255);
    }

    #[test]
    fn base83_digits() {
        let mut s = String::new();
        push83(&mut s, 82, 1);
        push83(&mut s, 83, 2);
        assert_eq!(s, "~10");
    }
}
