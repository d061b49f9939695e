//! Pure arithmetic from (source size, requested box) to (source region, output
//! size). Integer maths with explicit rounding so results are reproducible and
//! table-testable; no path divides by zero and no output side is ever zero.

mod enlarge;
mod region;

use crate::job::{Fit, Geometry, Rotation};

use self::region::{anchored, anchors, clamp_u32, div_round, window};
pub(crate) use self::region::{Canvas, Plan, Region};

/// `image_filter crop` followed by a quarter turn, planned before the turn:
/// scale to cover the box (our `Fill`, which scales exactly when libgd's
/// crop does), turn, cut what exceeds the box. Before the turn that cut is
/// a window of the box's sides swapped, at most the scaled image.
fn turned_crop(sw: u32, sh: u32, bw: u32, bh: u32, geometry: &Geometry) -> Plan {
    let cover = plan(
        sw,
        sh,
        &Geometry {
            fit: Fit::Fill,
            rotate: Rotation::None,
            ..*geometry
        },
    );
    let (dx, dy) = (cover.out_width, cover.out_height);
    let out = (dx.min(bh), dy.min(bw));
    if out == (dx, dy) {
        return cover;
    }
    let cut = (
        clamp_u32(
            div_round(u64::from(out.0) * u64::from(sw), u64::from(dx)),
            1,
            sw,
        ),
        clamp_u32(
            div_round(u64::from(out.1) * u64::from(sh), u64::from(dy)),
            1,
            sh,
        ),
    );
    window(sw, sh, cut, out, geometry)
}

/// Maps an upright source of `src_width` x `src_height` onto `geometry`.
/// Never enlarges: a source smaller than the box keeps its size, and a crop
/// or force box larger than the source on a side is shrunk to the source on
/// that side. Only `Pad` makes an output larger than the source, with a
/// canvas of background around the unenlarged image. With a free side, crop,
/// fill and force are fits (there is nothing to cover or stretch to). The
/// plan is for the image before `geometry.rotate`; only a crop with a quarter
/// turn depends on it (see [`Geometry`]).
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
        canvas: None,
        smart: false,
    };
    let (w, h) = (u64::from(sw), u64::from(sh));
    let box_w = geometry.width.map(|v| v.max(1));
    let box_h = geometry.height.map(|v| v.max(1));
    if let (Some(bw), Some(bh), Fit::Crop, true) =
        (box_w, box_h, geometry.fit, geometry.rotate.swaps_sides())
    {
        return turned_crop(sw, sh, bw, bh, geometry);
    }

    if geometry.fit == Fit::Pad {
        // Contain like a fit, then widen the free space to the box; a free
        // side has no box size and is not padded.
        let content = plan(
            sw,
            sh,
            &Geometry {
                fit: Fit::Fit,
                ..*geometry
            },
        );
        let width = box_w.unwrap_or(content.out_width).max(content.out_width);
        let height = box_h.unwrap_or(content.out_height).max(content.out_height);
        if (width, height) == (content.out_width, content.out_height) {
            return content;
        }
        let (ax, ay) = anchors(geometry.gravity);
        return Plan {
            canvas: Some(Canvas {
                width,
                height,
                left: anchored(width, content.out_width, ax),
                top: anchored(height, content.out_height, ay),
            }),
            ..content
        };
    }

    if geometry.enlarge {
        if let Some(plan) = enlarge::plan(sw, sh, box_w, box_h, geometry) {
            return plan;
        }
    }
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
        // Pad only gets here as its own content plan, which is a fit.
        (Some(bw), Some(bh), Fit::Fit | Fit::Pad) => {
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
            window(sw, sh, (cw, ch), (bw, bh), geometry)
        }
        (Some(bw), Some(bh), Fit::Fill) => {
            if sw <= bw || sh <= bh {
                // Covering the box would need an enlargement.
                scaled(sw, sh)
            } else if w * u64::from(bh) >= h * u64::from(bw) {
                // Wider than the box: height is exact, width spills over.
                let ow = div_round(w * u64::from(bh), h);
                scaled(clamp_u32(ow, bw, sw), bh)
            } else {
                let oh = div_round(h * u64::from(bw), w);
                scaled(bw, clamp_u32(oh, bh, sh))
            }
        }
        (Some(bw), Some(bh), Fit::Force) => scaled(bw.min(sw), bh.min(sh)),
    }
}

#[cfg(test)]
mod tests;
