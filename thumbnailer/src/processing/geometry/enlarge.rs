//! Plans that may scale the source up ([`Geometry::enlarge`]): the same
//! boxes as [`crate::processing::geometry::plan`], without its rule that a source
//! smaller than the box keeps its size. Kept apart because only the
//! library-name modes (easy-thumbnails' `upscale`, django-versatileimagefield's
//! crop) ask for it, and the default plans stay as they were.

use crate::job::{Fit, Geometry};
use crate::processing::geometry::region::{clamp_u32, div_round, window, Plan, Region};

/// Largest output side, the largest JPEG/WebP side: a free side scaled up
/// from a thin source could otherwise overflow. The pixel limit
/// ([`crate::processing::place::check_canvas`]) then refuses such a plan.
const MAX_SIDE: u64 = 65535;

/// The plan for an enlarging geometry, or `None` where enlarging changes
/// nothing (no box, or `Pad`, whose content is planned as a fit and comes
/// back here through that).
pub(crate) fn plan(
    sw: u32,
    sh: u32,
    box_w: Option<u32>,
    box_h: Option<u32>,
    geometry: &Geometry,
) -> Option<Plan> {
    let (w, h) = (u64::from(sw), u64::from(sh));
    let scaled = |out_width: u64, out_height: u64| Plan {
        source_width: sw,
        source_height: sh,
        region: Region {
            left: 0,
            top: 0,
            width: sw,
            height: sh,
        },
        out_width: out_width.clamp(1, MAX_SIDE) as u32,
        out_height: out_height.clamp(1, MAX_SIDE) as u32,
        canvas: None,
        smart: false,
    };
    Some(match (box_w, box_h, geometry.fit) {
        (None, None, _) | (_, _, Fit::Pad) => return None,
        // One side given: every fit scales to it, as without enlarging.
        (Some(bw), None, _) => scaled(u64::from(bw), div_round(h * u64::from(bw), w)),
        (None, Some(bh), _) => scaled(div_round(w * u64::from(bh), h), u64::from(bh)),
        (Some(bw), Some(bh), Fit::Fit) => {
            let (bw, bh) = (u64::from(bw), u64::from(bh));
            if w * bh >= h * bw {
                scaled(bw, div_round(h * bw, w).min(bh))
            } else {
                scaled(div_round(w * bh, h).min(bw), bh)
            }
        }
        (Some(bw), Some(bh), Fit::Fill) => {
            let (bw, bh) = (u64::from(bw), u64::from(bh));
            if w * bh >= h * bw {
                scaled(div_round(w * bh, h).max(bw), bh)
            } else {
                scaled(bw, div_round(h * bw, w).max(bh))
            }
        }
        (Some(bw), Some(bh), Fit::Force) => scaled(u64::from(bw), u64::from(bh)),
        (Some(bw), Some(bh), Fit::Crop) => {
            // The largest window of the box's shape, scaled to the box.
            let (cw, ch) = if w * u64::from(bh) >= h * u64::from(bw) {
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
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)] // the tables read better inline
    use crate::job::{Fit, Focal, Geometry, Rotation};
    use crate::processing::geometry::plan;

    fn up(width: Option<u32>, height: Option<u32>, fit: Fit) -> Geometry {
        Geometry {
            width,
            height,
            fit,
            enlarge: true,
            ..Geometry::default()
        }
    }

    #[test]
    fn sizes_with_and_without_enlarging() {
        // (source, box, fit, output enlarged, output by default)
        let table: &[(
            (u32, u32),
            (Option<u32>, Option<u32>),
            Fit,
            (u32, u32),
            (u32, u32),
        )] = &[
            (
                (100, 50),
                (Some(350), Some(350)),
                Fit::Fit,
                (350, 175),
                (100, 50),
            ),
            (
                (50, 100),
                (Some(350), Some(350)),
                Fit::Fit,
                (175, 350),
                (50, 100),
            ),
            (
                (100, 50),
                (Some(350), None),
                Fit::Fit,
                (350, 175),
                (100, 50),
            ),
            (
                (100, 50),
                (None, Some(350)),
                Fit::Fit,
                (700, 350),
                (100, 50),
            ),
            (
                (100, 50),
                (Some(350), Some(350)),
                Fit::Crop,
                (350, 350),
                (100, 50),
            ),
            (
                (1000, 200),
                (Some(350), Some(350)),
                Fit::Crop,
                (350, 350),
                (350, 200),
            ),
            (
                (100, 50),
                (Some(350), Some(350)),
                Fit::Fill,
                (700, 350),
                (100, 50),
            ),
            (
                (100, 50),
                (Some(350), Some(350)),
                Fit::Force,
                (350, 350),
                (100, 50),
            ),
            // Larger sources: the same as without enlarging.
            (
                (4224, 3168),
                (Some(350), Some(350)),
                Fit::Fit,
                (350, 263),
                (350, 263),
            ),
            (
                (4224, 3168),
                (Some(350), Some(350)),
                Fit::Crop,
                (350, 350),
                (350, 350),
            ),
            (
                (4224, 3168),
                (Some(200), None),
                Fit::Fit,
                (200, 150),
                (200, 150),
            ),
            // A thin source on a free side is capped, never zero.
            (
                (1, 65535),
                (Some(4096), None),
                Fit::Fit,
                (4096, 65535),
                (1, 65535),
            ),
            ((65535, 1), (Some(1), Some(1)), Fit::Fit, (1, 1), (1, 1)),
        ];
        for &((sw, sh), (bw, bh), fit, enlarged, default) in table {
            let p = plan(sw, sh, &up(bw, bh, fit));
            assert_eq!(
                (p.out_width, p.out_height),
                enlarged,
                "{sw}x{sh} {bw:?}x{bh:?} {fit:?}"
            );
            let g = Geometry {
                enlarge: false,
                ..up(bw, bh, fit)
            };
            let p = plan(sw, sh, &g);
            assert_eq!(
                (p.out_width, p.out_height),
                default,
                "{sw}x{sh} {bw:?}x{bh:?} {fit:?}"
            );
        }
    }

    #[test]
    fn enlarged_crop_keeps_the_box_shape_around_the_focal_point() {
        // 200x100 to 350x350: a 100x100 window, centred on x = 0.25 (50).
        let g = Geometry {
            focal: Some(Focal {
                x_milli: 250,
                y_milli: 500,
            }),
            ..up(Some(350), Some(350), Fit::Crop)
        };
        let p = plan(200, 100, &g);
        assert_eq!((p.region.left, p.region.top), (0, 0));
        assert_eq!((p.region.width, p.region.height), (100, 100));
        let g = Geometry {
            focal: Some(Focal {
                x_milli: 750,
                y_milli: 500,
            }),
            ..g
        };
        let p = plan(200, 100, &g);
        assert_eq!(p.region.left, 100);
        assert_eq!((p.out_width, p.out_height), (350, 350));
    }

    #[test]
    fn pad_and_turns_enlarge_their_content() {
        let p = plan(100, 50, &up(Some(350), Some(350), Fit::Pad));
        assert_eq!((p.out_width, p.out_height), (350, 175));
        assert_eq!(p.final_size(), (350, 350));
        let g = Geometry {
            rotate: Rotation::Ccw90,
            ..up(Some(300), Some(200), Fit::Crop)
        };
        let p = plan(60, 60, &g);
        // Covered at 300x300, turned, cut to the box: 200x300 before the turn.
        assert_eq!((p.out_width, p.out_height), (200, 300));
    }

    #[test]
    fn enlarging_is_its_own_cache_entry() {
        let a = crate::Job::sized(Some(10), None, Fit::Fit, crate::OutputFormat::Original);
        let mut b = a;
        b.geometry.enlarge = true;
        assert_ne!(a.canonical(), b.canonical());
        assert!(b.canonical().ends_with(":up"));
    }

    #[test]
    fn the_pipeline_makes_and_budgets_an_enlarged_thumbnail() {
        use crate::job::{Job, OutputFormat};
        // A 20x10 PNG, left half red, right half blue, to a 40x40 crop.
        let mut pixels = Vec::new();
        for _ in 0..10 {
            for x in 0..20 {
                pixels.extend_from_slice(if x < 10 { &[255, 0, 0] } else { &[0, 0, 255] });
            }
        }
        let mut png = Vec::new();
        image::ImageEncoder::write_image(
            image::codecs::png::PngEncoder::new(&mut png),
            &pixels,
            20,
            10,
            image::ExtendedColorType::Rgb8,
        )
        .unwrap();
        let mut job = Job::sized(Some(40), Some(40), Fit::Crop, OutputFormat::Png);
        job.geometry.enlarge = true;
        // Centred on x = 0.25: the window is the red 10x10 half.
        job.geometry.focal = Some(Focal {
            x_milli: 250,
            y_milli: 500,
        });
        let thumb = crate::make_thumbnail(&png, &job).unwrap();
        assert_eq!((thumb.width, thumb.height), (40, 40));
        let out = image::load_from_memory(&thumb.bytes).unwrap().to_rgb8();
        assert_eq!(out.get_pixel(20, 20).0, [255, 0, 0]);
        // The budget counts the enlarged output, not the small source.
        let plain = Job::sized(Some(40), Some(40), Fit::Crop, OutputFormat::Png);
        let small = crate::estimate_peak_memory(&png, png.len() as u64, &plain, &[]).unwrap();
        let big = crate::estimate_peak_memory(&png, png.len() as u64, &job, &[]).unwrap();
        assert!(big >= small + 40 * 40 * 3, "{small} {big}");
        // An enlargement over the pixel limit is refused before decoding.
        job.geometry.width = Some(65535);
        job.geometry.height = Some(65535);
        let err = crate::make_thumbnail(&png, &job).unwrap_err();
        assert_eq!(err.class(), crate::ErrorClass::TooLarge);
    }
}
