//! The plan a planner returns, and the integer arithmetic both planners
//! (`geometry::plan` and `geometry::enlarge`) share: rounding, clamping and
//! placing a window by gravity or focal point.

use crate::job::{Focal, Geometry, Gravity};

/// A rectangle of source pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Region {
    pub left: u32,
    pub top: u32,
    pub width: u32,
    pub height: u32,
}

/// Where the scaled image sits on a larger canvas (`Fit::Pad`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Canvas {
    pub width: u32,
    pub height: u32,
    /// Offset of the scaled image inside the canvas.
    pub left: u32,
    pub top: u32,
}

/// What to cut from the (upright) source and what size to scale it to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plan {
    pub source_width: u32,
    pub source_height: u32,
    pub region: Region,
    pub out_width: u32,
    pub out_height: u32,
    /// Padding around the scaled image, when it must fill a larger box.
    pub canvas: Option<Canvas>,
    /// The region's position is a placeholder (centred) to be chosen from the
    /// pixels once they are decoded (`Gravity::Smart`).
    pub smart: bool,
}

impl Plan {
    /// Largest DCT-domain reduction (1, 2, 4 or 8) that still covers the
    /// output (the region reduced is at least the output size on both
    /// sides), as libvips and Pillow's `draft` choose; the Lanczos pass then
    /// scales down by 1 to 2 times. Against a full decode scaled by the same
    /// Lanczos3 this costs a DSSIM of at most 0.0052 (median 0.0012) on the
    /// project's photos and 2 MP originals, under the 0.006 taken as
    /// invisible, for about a third less decode and resize time than keeping
    /// twice the output (bench/README.md, "Shrink-on-load rule").
    pub fn shrink_on_load(&self) -> u32 {
        let w = u64::from(self.region.width);
        let h = u64::from(self.region.height);
        let ow = u64::from(self.out_width);
        let oh = u64::from(self.out_height);
        [8u64, 4, 2]
            .into_iter()
            .find(|&d| w >= ow * d && h >= oh * d)
            .unwrap_or(1) as u32
    }

    /// The size of the finished image: the canvas when padding, else the
    /// scaled size.
    pub fn final_size(&self) -> (u32, u32) {
        self.canvas
            .map_or((self.out_width, self.out_height), |c| (c.width, c.height))
    }
}

/// Where along one axis a gravity puts things.
#[derive(Clone, Copy)]
pub(super) enum Anchor {
    Start,
    Middle,
    End,
}

/// (horizontal, vertical) anchors of a gravity; `Smart` starts centred.
pub(super) fn anchors(gravity: Gravity) -> (Anchor, Anchor) {
    use Anchor::{End, Middle, Start};
    match gravity {
        Gravity::Center | Gravity::Smart => (Middle, Middle),
        Gravity::North => (Middle, Start),
        Gravity::NorthEast => (End, Start),
        Gravity::East => (End, Middle),
        Gravity::SouthEast => (End, End),
        Gravity::South => (Middle, End),
        Gravity::SouthWest => (Start, End),
        Gravity::West => (Start, Middle),
        Gravity::NorthWest => (Start, Start),
    }
}

/// Offset of a span of `inner` inside `outer` (`inner <= outer`).
pub(super) fn anchored(outer: u32, inner: u32, anchor: Anchor) -> u32 {
    let slack = outer - inner;
    match anchor {
        Anchor::Start => 0,
        Anchor::Middle => slack / 2,
        Anchor::End => slack,
    }
}

/// Offset of a cut of `cut` source pixels centred on `milli` thousandths of
/// `src`, pushed back inside the image where the centre is too near an edge.
fn centred_on(src: u32, cut: u32, milli: u16) -> u32 {
    // In half-pixels: 2 * (src * milli / 1000) - cut, then halved, rounded.
    let twice = 2 * u64::from(src) * u64::from(milli.min(1000));
    let num = twice.saturating_sub(1000 * u64::from(cut));
    clamp_u32(div_round(num, 2000), 0, src - cut)
}

/// round(a / b) with halves rounded up; `b` must be non-zero.
pub(crate) fn div_round(a: u64, b: u64) -> u64 {
    (2 * a + b) / (2 * b)
}

/// `value` forced into `lo..=hi` and narrowed; callers guarantee `hi` fits u32.
pub(crate) fn clamp_u32(value: u64, lo: u32, hi: u32) -> u32 {
    value.clamp(u64::from(lo), u64::from(hi)) as u32
}

/// The plan that cuts a `cut` window of source pixels, placed by the focal
/// point or the gravity, and scales it to `out`.
pub(crate) fn window(
    sw: u32,
    sh: u32,
    cut: (u32, u32),
    out: (u32, u32),
    geometry: &Geometry,
) -> Plan {
    let (cw, ch) = cut;
    let (left, top) = match geometry.focal {
        Some(Focal { x_milli, y_milli }) => {
            (centred_on(sw, cw, x_milli), centred_on(sh, ch, y_milli))
        }
        None => {
            let (ax, ay) = anchors(geometry.gravity);
            (anchored(sw, cw, ax), anchored(sh, ch, ay))
        }
    };
    Plan {
        source_width: sw,
        source_height: sh,
        region: Region {
            left,
            top,
            width: cw,
            height: ch,
        },
        out_width: out.0,
        out_height: out.1,
        canvas: None,
        // Nothing to choose when nothing is cut.
        smart: geometry.focal.is_none()
            && geometry.gravity == Gravity::Smart
            && (cw, ch) != (sw, sh),
    }
}
