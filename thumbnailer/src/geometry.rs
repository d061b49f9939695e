//! Pure arithmetic from (source size, requested box) to (source region, output
//! size). Integer maths with explicit rounding so results are reproducible and
//! table-testable; no path divides by zero and no output side is ever zero.

use crate::operation::{Fit, Geometry};

/// A rectangle of source pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

/// What to cut from the (upright) source and what size to scale it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub source_width: u32,
    pub source_height: u32,
    pub region: Region,
    pub out_width: u32,
    pub out_height: u32,
}

impl Plan {
    /// Largest DCT-domain reduction (1, 2, 4 or 8) that still leaves at least
    /// twice the output resolution, so the final Lanczos pass has real pixels
    /// to filter and the cheap decoder downscale never limits sharpness.
    pub fn shrink_on_load(&self) -> u32 {
        let w = u64::from(self.region.width);
        let h = u64::from(self.region.height);
        let ow = u64::from(self.out_width);
        let oh = u64::from(self.out_height);
        [8u64, 4, 2]
            .into_iter()
            .find(|&d| w >= 2 * ow * d && h >= 2 * oh * d)
            .unwrap_or(1) as u32
    }
}

/// round(a / b) with halves rounded up; `b` must be non-zero.
fn div_round(a: u64, b: u64) -> u64 {
    (2 * a + b) / (2 * b)
}

/// `value` forced into `lo..=hi` and narrowed; callers guarantee `hi` fits u32.
fn clamp_u32(value: u64, lo: u32, hi: u32) -> u32 {
    value.clamp(u64::from(lo), u64::from(hi)) as u32
}

/// Maps an upright source of `src_width` x `src_height` onto `geometry`.
/// Never enlarges: a source smaller than the box keeps its size, and a crop
/// box larger than the source on a side is shrunk to the source on that side.
pub(crate) fn plan(src_width: u32, src_height: u32, geometry: &Geometry) -> Plan {
    let sw = src_width.max(1);
    let sh = src_height.max(1);
    let whole = Region {
        left: 0,
        top: 0,
        width: sw,
        height: sh,
    };
    let scaled = |out_width: u32, out_height: u32| Plan {
        source_width: sw,
        source_height: sh,
        region: whole,
        out_width,
        out_height,
    };
    let (w, h) = (u64::from(sw), u64::from(sh));
    let box_w = geometry.width.map(|v| v.max(1));
    let box_h = geometry.height.map(|v| v.max(1));

    match (box_w, box_h, geometry.fit) {
        (None, None, _) => scaled(sw, sh),
        (Some(bw), None, _) => {
            if sw <= bw {
                scaled(sw, sh)
            } else {
                let oh = div_round(h * u64::from(bw), w);
                scaled(bw, clamp_u32(oh, 1, sh))
            }
        }
        (None, Some(bh), _) => {
            if sh <= bh {
                scaled(sw, sh)
            } else {
                let ow = div_round(w * u64::from(bh), h);
                scaled(clamp_u32(ow, 1, sw), bh)
            }
        }
        (Some(bw), Some(bh), Fit::Fit) => {
            if sw <= bw && sh <= bh {
                scaled(sw, sh)
            } else if w * u64::from(bh) >= h * u64::from(bw) {
                // Width is the binding side.
                let oh = div_round(h * u64::from(bw), w);
                scaled(bw, clamp_u32(oh, 1, bh))
            } else {
                let ow = div_round(w * u64::from(bh), h);
                scaled(clamp_u32(ow, 1, bw), bh)
            }
        }
        (Some(bw), Some(bh), Fit::Crop) => {
            let bw = bw.min(sw);
            let bh = bh.min(sh);
            let (cw, ch) = if w * u64::from(bh) >= h * u64::from(bw) {
                // Source is wider than the box: keep full height, cut the sides.
                (
                    clamp_u32(div_round(u64::from(bw) * h, u64::from(bh)), 1, sw),
                    sh,
                )
            } else {
                (
                    sw,
                    clamp_u32(div_round(u64::from(bh) * w, u64::from(bw)), 1, sh),
                )
            };
            Plan {
                source_width: sw,
                source_height: sh,
                region: Region {
                    left: (sw - cw) / 2,
                    top: (sh - ch) / 2,
                    width: cw,
                    height: ch,
                },
                out_width: bw,
                out_height: bh,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)] // the tables read better inline
    use super::*;

    fn g(width: Option<u32>, height: Option<u32>, fit: Fit) -> Geometry {
        Geometry { width, height, fit }
    }

    #[test]
    fn fit_table() {
        use Fit::Fit as F;
        // (source, box, expected output)
        let table: &[((u32, u32), (Option<u32>, Option<u32>), (u32, u32))] = &[
            ((4224, 3168), (Some(350), Some(350)), (350, 263)), // 262.5 rounds up
            ((3168, 4224), (Some(350), Some(350)), (263, 350)),
            ((1000, 1000), (Some(350), Some(350)), (350, 350)),
            ((100, 50), (Some(350), Some(350)), (100, 50)), // never enlarged
            ((350, 350), (Some(350), Some(350)), (350, 350)),
            ((400, 100), (Some(350), Some(350)), (350, 88)), // 87.5 up
            ((65500, 1), (Some(350), Some(350)), (350, 1)),  // never zero
            ((1, 65500), (Some(350), Some(350)), (1, 350)),
            ((4224, 3168), (None, Some(200)), (267, 200)),
            ((4224, 3168), (Some(200), None), (200, 150)),
            ((100, 80), (Some(200), None), (100, 80)),
            ((100, 80), (None, Some(200)), (100, 80)),
            ((65535, 1), (Some(1), None), (1, 1)),
            ((1, 65535), (Some(1), Some(1)), (1, 1)),
            ((5, 3), (Some(1), Some(1)), (1, 1)),
            ((0, 0), (Some(10), Some(10)), (1, 1)), // defensive: no panic
        ];
        for &((sw, sh), (bw, bh), want) in table {
            let p = plan(sw, sh, &g(bw, bh, F));
            assert_eq!(
                (p.out_width, p.out_height),
                want,
                "{sw}x{sh} -> {bw:?}x{bh:?}"
            );
            assert_eq!(p.region.width, sw.max(1));
            assert_eq!(p.region.height, sh.max(1));
            assert!(p.out_width >= 1 && p.out_height >= 1);
        }
    }

    #[test]
    fn crop_table() {
        use Fit::Crop as C;
        // (source, box, expected region (l, t, w, h), expected output)
        let table: &[((u32, u32), (u32, u32), (u32, u32, u32, u32), (u32, u32))] = &[
            ((4224, 3168), (350, 350), (528, 0, 3168, 3168), (350, 350)),
            ((3168, 4224), (350, 350), (0, 528, 3168, 3168), (350, 350)),
            ((1000, 500), (200, 100), (0, 0, 1000, 500), (200, 100)),
            ((1000, 500), (100, 200), (375, 0, 250, 500), (100, 200)),
            // smaller than the box on both sides: untouched
            ((300, 200), (350, 350), (0, 0, 300, 200), (300, 200)),
            // smaller on one side: cut only the other side, no upscale
            ((1000, 200), (350, 350), (325, 0, 350, 200), (350, 200)),
            ((200, 1000), (350, 350), (0, 325, 200, 350), (200, 350)),
            ((65500, 1), (350, 350), (32575, 0, 350, 1), (350, 1)),
            ((3, 3), (2, 1), (0, 0, 3, 2), (2, 1)), // 1.5 rounds up to 2
        ];
        for &((sw, sh), (bw, bh), (l, t, rw, rh), want) in table {
            let p = plan(sw, sh, &g(Some(bw), Some(bh), C));
            assert_eq!(
                (p.region.left, p.region.top, p.region.width, p.region.height),
                (l, t, rw, rh),
                "{sw}x{sh} crop {bw}x{bh}"
            );
            assert_eq!(
                (p.out_width, p.out_height),
                want,
                "{sw}x{sh} crop {bw}x{bh}"
            );
            assert!(p.region.left + p.region.width <= sw);
            assert!(p.region.top + p.region.height <= sh);
        }
    }

    #[test]
    fn crop_with_a_free_side_is_a_fit() {
        let a = plan(4224, 3168, &g(None, Some(200), Fit::Crop));
        let b = plan(4224, 3168, &g(None, Some(200), Fit::Fit));
        assert_eq!(a, b);
    }

    #[test]
    fn shrink_on_load_keeps_twice_the_output() {
        let table: &[((u32, u32), (u32, u32), Fit, u32)] = &[
            ((4224, 3168), (350, 350), Fit::Fit, 4), // 1056x792 >= 700x526
            ((6000, 4000), (350, 350), Fit::Fit, 8), // 750x500 >= 700x467
            ((1400, 1052), (350, 350), Fit::Fit, 2),
            ((1399, 1049), (350, 350), Fit::Fit, 1),
            ((100, 100), (350, 350), Fit::Fit, 1),
            ((4224, 3168), (350, 350), Fit::Crop, 4), // 792x792 >= 700x700
            ((65500, 1), (350, 350), Fit::Fit, 1),
        ];
        for &((sw, sh), (bw, bh), fit, want) in table {
            let p = plan(sw, sh, &g(Some(bw), Some(bh), fit));
            assert_eq!(p.shrink_on_load(), want, "{sw}x{sh} -> {bw}x{bh} {fit:?}");
        }
    }
}
