//! Tables of plans: every fit, gravity, focal point and turn.

#![allow(clippy::type_complexity)] // the tables read better inline
use super::*;
use crate::job::{Focal, Gravity};

fn g(width: Option<u32>, height: Option<u32>, fit: Fit) -> Geometry {
    Geometry {
        width,
        height,
        fit,
        ..Geometry::default()
    }
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
fn turns_follow_image_filter_sizes() {
    use Fit::{Crop, Fit as F};
    let turned = |fit: Fit, bw: u32, bh: u32, rotate: Rotation| Geometry {
        rotate,
        ..g(Some(bw), Some(bh), fit)
    };
    // (source, geometry, planned size before the turn)
    let table: &[((u32, u32), Geometry, (u32, u32))] = &[
        // nginx-tests image_filter.t: 100x120, resize 5 6 rotate 90 is
        // 6x5 after the turn; crop 5 6 rotate 90 is 5x5.
        ((100, 120), turned(F, 5, 6, Rotation::Ccw90), (5, 6)),
        ((100, 120), turned(Crop, 5, 6, Rotation::Ccw90), (5, 5)),
        ((100, 120), turned(Crop, 5, 6, Rotation::Ccw270), (5, 5)),
        ((100, 120), turned(Crop, 5, 6, Rotation::Ccw180), (5, 6)),
        ((100, 120), turned(Crop, 60, 80, Rotation::None), (60, 80)),
        // 400x200, crop 200x100, turned: covered at 200x100, turned to
        // 100x200, cut to 100x100.
        (
            (400, 200),
            turned(Crop, 200, 100, Rotation::Ccw90),
            (100, 100),
        ),
        // A square box turns as a plain crop does.
        (
            (400, 200),
            turned(Crop, 100, 100, Rotation::Ccw90),
            (100, 100),
        ),
        // Smaller than the box: not scaled, only the excess is cut.
        ((30, 50), turned(Crop, 40, 60, Rotation::Ccw90), (30, 40)),
        ((30, 50), turned(Crop, 100, 100, Rotation::Ccw90), (30, 50)),
    ];
    for &((sw, sh), geometry, want) in table {
        let p = plan(sw, sh, &geometry);
        assert_eq!((p.out_width, p.out_height), want, "{sw}x{sh} {geometry:?}");
        assert!(p.region.width <= sw && p.region.height <= sh);
    }
    // The window keeps the cover's scale: 100x120 at 5x6 is 1/20, so
    // the 5x5 cut is a centred 100x100 of the source.
    let p = plan(100, 120, &turned(Crop, 5, 6, Rotation::Ccw90));
    assert_eq!(
        p.region,
        Region {
            left: 0,
            top: 10,
            width: 100,
            height: 100
        }
    );
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

fn gg(w: u32, h: u32, fit: Fit, gravity: Gravity, focal: Option<(u16, u16)>) -> Geometry {
    Geometry {
        width: Some(w),
        height: Some(h),
        fit,
        gravity,
        focal: focal.map(|(x_milli, y_milli)| Focal { x_milli, y_milli }),
        ..Geometry::default()
    }
}

#[test]
fn crop_gravity_and_focal_table() {
    use Gravity::*;
    // 1000x500 into 100x100 keeps a 500x500 window: slack 500 horizontally.
    // 500x1000 keeps 500x500 with slack 500 vertically.
    // (source, gravity, focal, expected (left, top))
    let table: &[((u32, u32), Gravity, Option<(u16, u16)>, (u32, u32))] = &[
        ((1000, 500), Center, None, (250, 0)),
        ((1000, 500), North, None, (250, 0)),
        ((1000, 500), South, None, (250, 0)),
        ((1000, 500), West, None, (0, 0)),
        ((1000, 500), NorthWest, None, (0, 0)),
        ((1000, 500), SouthWest, None, (0, 0)),
        ((1000, 500), East, None, (500, 0)),
        ((1000, 500), NorthEast, None, (500, 0)),
        ((1000, 500), SouthEast, None, (500, 0)),
        ((500, 1000), North, None, (0, 0)),
        ((500, 1000), NorthEast, None, (0, 0)),
        ((500, 1000), Center, None, (0, 250)),
        ((500, 1000), West, None, (0, 250)),
        ((500, 1000), South, None, (0, 500)),
        ((500, 1000), SouthWest, None, (0, 500)),
        // Smart starts centred; the pixels decide later.
        ((1000, 500), Smart, None, (250, 0)),
        // Focal point: centred on it, pushed back inside near the edges.
        ((1000, 500), Center, Some((500, 500)), (250, 0)),
        ((1000, 500), Center, Some((600, 0)), (350, 0)),
        ((1000, 500), Center, Some((0, 0)), (0, 0)),
        ((1000, 500), Center, Some((100, 900)), (0, 0)),
        ((1000, 500), Center, Some((1000, 1000)), (500, 0)),
        ((1000, 500), Center, Some((999, 0)), (500, 0)),
        ((1000, 500), Center, Some((65535, 65535)), (500, 0)), // clamped
        // Focal beats gravity.
        ((1000, 500), West, Some((700, 500)), (450, 0)),
        ((500, 1000), North, Some((500, 300)), (0, 50)),
        ((500, 1000), Center, Some((0, 1)), (0, 0)),
        // Extreme aspect ratios.
        ((65500, 1), East, None, (65400, 0)),
        ((65500, 1), Center, Some((500, 500)), (32700, 0)),
        ((1, 65500), South, None, (0, 65400)),
        ((1, 65500), Center, Some((0, 1000)), (0, 65400)),
    ];
    for &((sw, sh), gravity, focal, (l, t)) in table {
        let p = plan(sw, sh, &gg(100, 100, Fit::Crop, gravity, focal));
        assert_eq!(
            (p.region.left, p.region.top),
            (l, t),
            "{sw}x{sh} {gravity:?} {focal:?}"
        );
        assert!(p.region.left + p.region.width <= p.source_width);
        assert!(p.region.top + p.region.height <= p.source_height);
        assert_eq!(p.smart, gravity == Smart && focal.is_none());
        assert_eq!((p.out_width, p.out_height), (100.min(sw), 100.min(sh)));
    }
}

#[test]
fn smart_is_off_when_nothing_is_cut() {
    let p = plan(50, 50, &gg(100, 100, Fit::Crop, Gravity::Smart, None));
    assert!(!p.smart);
    let p = plan(500, 500, &gg(100, 100, Fit::Crop, Gravity::Smart, None));
    assert!(!p.smart);
    let p = plan(500, 500, &gg(100, 100, Fit::Fit, Gravity::Smart, None));
    assert!(!p.smart);
}

#[test]
fn fill_force_pad_table() {
    // (source, box, fit, expected output, expected canvas (w, h, l, t))
    type Row = (
        (u32, u32),
        (Option<u32>, Option<u32>),
        Fit,
        (u32, u32),
        Option<(u32, u32, u32, u32)>,
    );
    let table: &[Row] = &[
        // fill: exact on one side, at least the box on the other
        (
            (4224, 3168),
            (Some(350), Some(350)),
            Fit::Fill,
            (467, 350),
            None,
        ),
        (
            (3168, 4224),
            (Some(350), Some(350)),
            Fit::Fill,
            (350, 467),
            None,
        ),
        (
            (1000, 1000),
            (Some(350), Some(200)),
            Fit::Fill,
            (350, 350),
            None,
        ),
        (
            (1000, 500),
            (Some(100), Some(100)),
            Fit::Fill,
            (200, 100),
            None,
        ),
        // smaller than the box on either side: covering would enlarge
        (
            (300, 200),
            (Some(350), Some(350)),
            Fit::Fill,
            (300, 200),
            None,
        ),
        (
            (1000, 200),
            (Some(350), Some(350)),
            Fit::Fill,
            (1000, 200),
            None,
        ),
        (
            (65500, 1),
            (Some(350), Some(350)),
            Fit::Fill,
            (65500, 1),
            None,
        ),
        (
            (65500, 400),
            (Some(350), Some(350)),
            Fit::Fill,
            (57313, 350),
            None,
        ),
        ((1, 65500), (Some(1), Some(1)), Fit::Fill, (1, 65500), None),
        ((3, 65535), (Some(2), Some(2)), Fit::Fill, (2, 43690), None),
        ((4224, 3168), (None, Some(200)), Fit::Fill, (267, 200), None),
        // force: exactly the box, clamped to the source per side
        (
            (4224, 3168),
            (Some(350), Some(100)),
            Fit::Force,
            (350, 100),
            None,
        ),
        (
            (100, 3168),
            (Some(350), Some(100)),
            Fit::Force,
            (100, 100),
            None,
        ),
        (
            (100, 50),
            (Some(350), Some(350)),
            Fit::Force,
            (100, 50),
            None,
        ),
        ((65500, 1), (Some(1), Some(350)), Fit::Force, (1, 1), None),
        (
            (4224, 3168),
            (Some(200), None),
            Fit::Force,
            (200, 150),
            None,
        ),
        // pad: contain, then a canvas of exactly the box
        (
            (4224, 3168),
            (Some(350), Some(350)),
            Fit::Pad,
            (350, 263),
            Some((350, 350, 0, 43)),
        ),
        (
            (3168, 4224),
            (Some(350), Some(350)),
            Fit::Pad,
            (263, 350),
            Some((350, 350, 43, 0)),
        ),
        (
            (1000, 1000),
            (Some(350), Some(350)),
            Fit::Pad,
            (350, 350),
            None,
        ),
        // a small source is not enlarged, only padded
        (
            (100, 50),
            (Some(350), Some(350)),
            Fit::Pad,
            (100, 50),
            Some((350, 350, 125, 150)),
        ),
        (
            (65500, 1),
            (Some(350), Some(350)),
            Fit::Pad,
            (350, 1),
            Some((350, 350, 0, 174)),
        ),
        (
            (1, 65500),
            (Some(350), Some(350)),
            Fit::Pad,
            (1, 350),
            Some((350, 350, 174, 0)),
        ),
        // a free side is not padded
        (
            (100, 50),
            (Some(350), None),
            Fit::Pad,
            (100, 50),
            Some((350, 50, 125, 0)),
        ),
        ((4224, 3168), (Some(350), None), Fit::Pad, (350, 263), None),
    ];
    for &((sw, sh), (bw, bh), fit, out, canvas) in table {
        let p = plan(sw, sh, &g(bw, bh, fit));
        let what = format!("{sw}x{sh} {fit:?} {bw:?}x{bh:?}");
        assert_eq!((p.out_width, p.out_height), out, "{what}");
        assert_eq!(
            p.canvas.map(|c| (c.width, c.height, c.left, c.top)),
            canvas,
            "{what}"
        );
        // No mode cuts except crop, none enlarges, none is empty.
        assert_eq!((p.region.width, p.region.height), (sw, sh), "{what}");
        assert!(p.out_width <= sw && p.out_height <= sh, "{what}");
        assert!(p.out_width >= 1 && p.out_height >= 1, "{what}");
        if let Some(c) = p.canvas {
            assert!(c.left + p.out_width <= c.width && c.top + p.out_height <= c.height);
        }
        if let (Fit::Fill, Some(bw), Some(bh), true) = (fit, bw, bh, (sw, sh) != out) {
            assert!(out.0 >= bw && out.1 >= bh, "{what}");
            assert!(out.0 == bw || out.1 == bh, "{what}");
        }
    }
}

#[test]
fn pad_gravity_places_the_image() {
    use Gravity::*;
    // 100x50 on a 300x150 canvas: slack 200 x 100.
    let table = [
        (Center, (100, 50)),
        (Smart, (100, 50)),
        (North, (100, 0)),
        (NorthEast, (200, 0)),
        (East, (200, 50)),
        (SouthEast, (200, 100)),
        (South, (100, 100)),
        (SouthWest, (0, 100)),
        (West, (0, 50)),
        (NorthWest, (0, 0)),
    ];
    for (gravity, want) in table {
        let p = plan(100, 50, &gg(300, 150, Fit::Pad, gravity, Some((0, 0))));
        let c = p.canvas.unwrap();
        assert_eq!((c.left, c.top), want, "{gravity:?}");
        assert!(!p.smart);
    }
}

#[test]
fn every_mode_is_sane_on_extreme_shapes() {
    let sizes = [1u32, 2, 3, 7, 350, 65535];
    let fits = [Fit::Fit, Fit::Crop, Fit::Fill, Fit::Pad, Fit::Force];
    for &sw in &sizes {
        for &sh in &sizes {
            for &bw in &sizes {
                for &bh in &sizes {
                    for fit in fits {
                        let p = plan(sw, sh, &gg(bw, bh, fit, Gravity::SouthEast, None));
                        let what = format!("{sw}x{sh} {fit:?} {bw}x{bh}");
                        assert!(p.out_width >= 1 && p.out_height >= 1, "{what}");
                        assert!(p.out_width <= sw && p.out_height <= sh, "{what}");
                        assert!(p.region.width >= 1 && p.region.height >= 1, "{what}");
                        assert!(p.region.left + p.region.width <= sw, "{what}");
                        assert!(p.region.top + p.region.height <= sh, "{what}");
                        let (fw, fh) = p.final_size();
                        if fit == Fit::Pad {
                            assert_eq!((fw, fh), (bw.max(p.out_width), bh.max(p.out_height)));
                        } else {
                            assert!(fw <= sw && fh <= sh, "{what}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn crop_with_a_free_side_is_a_fit() {
    let a = plan(4224, 3168, &g(None, Some(200), Fit::Crop));
    let b = plan(4224, 3168, &g(None, Some(200), Fit::Fit));
    assert_eq!(a, b);
}

#[test]
fn shrink_on_load_covers_the_output() {
    let table: &[((u32, u32), (u32, u32), Fit, u32)] = &[
        ((4224, 3168), (350, 350), Fit::Fit, 8), // 528x396 >= 350x263
        ((6000, 4000), (350, 350), Fit::Fit, 8), // 750x500 >= 350x233
        ((2040, 1356), (512, 512), Fit::Fit, 2), // 1020x678 >= 512x340 (issue 18)
        ((2047, 1361), (512, 512), Fit::Fit, 2), // 4 would leave 511 < 512
        ((2048, 1364), (512, 512), Fit::Fit, 4), // 512x341 exactly
        ((1400, 1052), (350, 350), Fit::Fit, 4), // 350x263 exactly
        ((1399, 1049), (350, 350), Fit::Fit, 2),
        ((699, 525), (350, 350), Fit::Fit, 1), // half would be 349 wide
        ((100, 100), (350, 350), Fit::Fit, 1),
        ((4224, 3168), (350, 350), Fit::Crop, 8), // 396x396 >= 350x350
        ((2800, 2800), (350, 350), Fit::Crop, 8), // 350x350 exactly
        ((2799, 2799), (350, 350), Fit::Crop, 4),
        ((65500, 1), (350, 350), Fit::Fit, 1),
    ];
    for &((sw, sh), (bw, bh), fit, want) in table {
        let p = plan(sw, sh, &g(Some(bw), Some(bh), fit));
        assert_eq!(p.shrink_on_load(), want, "{sw}x{sh} -> {bw}x{bh} {fit:?}");
    }
}
