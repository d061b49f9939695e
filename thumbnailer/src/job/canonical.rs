//! The canonical text of a job: everything that changes the output bytes,
//! one spelling per result. Its hash is the cache key.

use crate::cache::key::hex_pair;
use crate::job::adjustments::{clamp_factor, BLUR_MAX, BLUR_MIN, FACTOR_ONE, SHARPEN_MAX};
use crate::job::{
    clamp_quality, FallbackFormat, Fit, Flip, Gravity, Job, OutputFormat, Rgb, Rotation,
    Transparency, DEFAULT_MAX_FRAMES, DEFAULT_WEBP_EFFORT,
};

impl Job {
    /// Canonical text of everything that changes the output bytes (geometry,
    /// fit, gravity, focal point, format, qualities, interlace, background,
    /// adjustments, and the frame limit) — NOT the other limits. Stable
    /// across runs; used in the cache key.
    ///
    /// Requests that produce identical bytes map to the same text: a crop,
    /// fill or force with a free side is a fit, gravity and focal point only
    /// appear where they move pixels, an adjustment of exactly 1 is none, and
    /// qualities are clamped as the encoder will. Fields added after the first
    /// release are suffixes present only when they do something, so jobs that
    /// do not use them keep their old text and their cache entries.
    pub fn canonical(&self) -> String {
        // Built by pushing, not `format!`: it is hashed on every request,
        // cache hits included.
        fn push_number(text: &mut String, n: impl Into<u64>) {
            let mut digits = [0u8; 20];
            let mut at = digits.len();
            let mut n: u64 = n.into();
            loop {
                at -= 1;
                digits[at] = b'0' + (n % 10) as u8;
                n /= 10;
                if n == 0 {
                    break;
                }
            }
            text.extend(digits[at..].iter().map(|&d| char::from(d)));
        }
        fn push_side(text: &mut String, side: Option<u32>) {
            match side {
                Some(v) => push_number(text, v),
                None => text.push('-'),
            }
        }
        let g = &self.geometry;
        let both_sides = g.width.is_some() && g.height.is_some();
        let fit = match g.fit {
            Fit::Crop if both_sides => "crop",
            Fit::Fill if both_sides => "fill",
            Fit::Force if both_sides => "force",
            Fit::Pad => "pad",
            _ => "fit",
        };
        let e = &self.encode;
        let placeholder_name;
        let format = match e.format {
            OutputFormat::Original => "original",
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
            OutputFormat::Webp => "webp",
            OutputFormat::Gif => "gif",
            OutputFormat::Avif => "avif",
            OutputFormat::Placeholder(kind) => {
                placeholder_name = kind.name();
                &placeholder_name
            }
        };
        let Rgb(r, gr, b) = e.background;
        let mut text = String::with_capacity(64);
        push_side(&mut text, g.width);
        text.push('x');
        push_side(&mut text, g.height);
        for part in [":", fit, ":", format, ":jq"] {
            text.push_str(part);
        }
        push_number(&mut text, clamp_quality(e.jpeg_quality));
        text.push_str(":wq");
        push_number(&mut text, clamp_quality(e.webp_quality));
        // Added with the effort setting, absent at the default so existing
        // keys stay: a rendition made at another effort is the same image
        // at the same quality, as after a libwebp upgrade.
        if e.webp_effort.min(6) != DEFAULT_WEBP_EFFORT {
            text.push_str(":we");
            push_number(&mut text, e.webp_effort.min(6));
        }
        text.push_str(if e.interlace { ":i1:bg" } else { ":i0:bg" });
        for channel in [r, gr, b] {
            text.extend(hex_pair(channel).map(char::from));
        }
        // Each suffix has its own "name=" prefix and a fixed position, so
        // the text stays unambiguous.
        match (fit, g.focal, g.gravity) {
            ("crop", Some(f), _) => text.push_str(&format!(
                ":fp={},{}",
                f.x_milli.min(1000),
                f.y_milli.min(1000)
            )),
            ("crop", None, gravity) | ("pad", _, gravity)
                if gravity != Gravity::Center && !(fit == "pad" && gravity == Gravity::Smart) =>
            {
                text.push_str(":g=");
                text.push_str(gravity.name());
            }
            _ => {}
        }
        let a = &self.adjust;
        for (name, factor) in [
            ("ct", a.contrast),
            ("br", a.brightness),
            ("sa", a.saturation),
            ("sh", a.sharpness),
        ] {
            match factor.map(clamp_factor) {
                Some(f) if f != FACTOR_ONE => text.push_str(&format!(":{name}={f}")),
                _ => {}
            }
        }
        if a.grayscale {
            text.push_str(":gray");
        }
        // Added with rotation: each present only when it changes pixels.
        let sharpen = a.sharpen.min(SHARPEN_MAX);
        if sharpen != 0 {
            text.push_str(":sharpen=");
            push_number(&mut text, sharpen);
        }
        if let Some(sigma) = a.blur {
            text.push_str(":blur=");
            let sigma = sigma.clamp(BLUR_MIN, BLUR_MAX);
            push_number(&mut text, sigma);
        }
        // A vertical flip is a horizontal one after a half turn more, so
        // each of the eight results has one spelling.
        let (rotate, flip) = match g.flip {
            Flip::Vertical => (
                Rotation::from_degrees((g.rotate.degrees() + 180) % 360).unwrap_or_default(),
                true,
            ),
            Flip::Horizontal => (g.rotate, true),
            Flip::None => (g.rotate, false),
        };
        if rotate != Rotation::None {
            text.push_str(":r=");
            push_number(&mut text, rotate.degrees());
        }
        if flip {
            text.push_str(":flip=h");
        }
        // Added with the library-name modes; absent (old keys kept) unless set.
        if g.enlarge {
            text.push_str(":up");
        }
        // Flattening cannot change a JPEG, which never has alpha.
        if e.transparency == Transparency::Flatten && e.format != OutputFormat::Jpeg {
            text.push_str(":flat");
        }
        // Added with AVIF output, and only on AVIF jobs: the other formats
        // never read these settings.
        if e.format == OutputFormat::Avif {
            text.push_str(":aq");
            push_number(&mut text, e.avif_quality.min(100));
            text.push_str(":as");
            push_number(&mut text, e.avif_speed.min(10));
            if let Some(fallback) = e.avif_fallback {
                text.push_str(":afb=");
                push_number(&mut text, fallback.max_pixels);
                text.push_str(match fallback.to {
                    FallbackFormat::Webp => ">webp",
                    FallbackFormat::Original => ">original",
                });
            }
        }
        // Added with animations: how many frames may be kept decides between
        // an animation and a still (or, when strict, a refusal), so this
        // limit is in.
        if self.limits.max_frames != DEFAULT_MAX_FRAMES || self.limits.frames_strict {
            text.push_str(":mf=");
            push_number(&mut text, self.limits.max_frames.max(1));
            if self.limits.frames_strict {
                text.push('s');
            }
        }
        text
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::type_complexity)] // the tables read better inline
    use crate::job::{
        Adjustments, Fit, Flip, Focal, Gravity, Job, OutputFormat, Rgb, Rotation, Transparency,
    };

    fn job(w: Option<u32>, h: Option<u32>, fit: Fit) -> Job {
        Job::sized(w, h, fit, OutputFormat::Original)
    }

    #[test]
    fn canonical_text_is_stable_and_ignores_limits() {
        let a = job(Some(350), Some(350), Fit::Fit);
        assert_eq!(a.canonical(), "350x350:fit:original:jq82:wq80:i0:bgffffff");
        let mut b = a;
        b.limits.max_pixels = 1;
        b.limits.max_source_size = 1;
        assert_eq!(a.canonical(), b.canonical());
    }

    #[test]
    fn canonical_text_changes_with_every_output_field() {
        let base = job(Some(350), Some(350), Fit::Fit);
        let mut variants = vec![base];
        let mut v = base;
        v.geometry.fit = Fit::Crop;
        variants.push(v);
        let mut v = base;
        v.geometry.width = None;
        variants.push(v);
        let mut v = base;
        v.geometry.height = Some(351);
        variants.push(v);
        for f in [OutputFormat::Jpeg, OutputFormat::Png, OutputFormat::Webp] {
            let mut v = base;
            v.encode.format = f;
            variants.push(v);
        }
        let mut v = base;
        v.encode.jpeg_quality = 90;
        variants.push(v);
        let mut v = base;
        v.encode.webp_quality = 90;
        variants.push(v);
        let mut v = base;
        v.encode.interlace = true;
        variants.push(v);
        let mut v = base;
        v.encode.background = Rgb(0, 0, 0);
        variants.push(v);
        for fit in [Fit::Fill, Fit::Pad, Fit::Force] {
            let mut v = base;
            v.geometry.fit = fit;
            variants.push(v);
        }
        let crop = job(Some(350), Some(350), Fit::Crop);
        for gravity in [
            Gravity::North,
            Gravity::NorthEast,
            Gravity::East,
            Gravity::SouthEast,
            Gravity::South,
            Gravity::SouthWest,
            Gravity::West,
            Gravity::NorthWest,
            Gravity::Smart,
        ] {
            let mut v = crop;
            v.geometry.gravity = gravity;
            variants.push(v);
            v.geometry.fit = Fit::Pad;
            if gravity != Gravity::Smart {
                variants.push(v);
            }
        }
        for (x_milli, y_milli) in [(0, 0), (250, 750), (750, 250), (1000, 1000)] {
            let mut v = crop;
            v.geometry.focal = Some(Focal { x_milli, y_milli });
            variants.push(v);
        }
        for field in 0..4 {
            for value in [0, 999, 1001, 10000] {
                let mut v = base;
                let a = &mut v.adjust;
                *[
                    &mut a.contrast,
                    &mut a.brightness,
                    &mut a.saturation,
                    &mut a.sharpness,
                ][field] = Some(value);
                variants.push(v);
            }
        }
        let mut v = base;
        v.adjust.grayscale = true;
        variants.push(v);
        let texts: std::collections::HashSet<String> =
            variants.iter().map(Job::canonical).collect();
        assert_eq!(texts.len(), variants.len());
    }

    #[test]
    fn canonical_text_merges_equivalent_requests() {
        // A crop with a free side cannot cut anything: it is a fit.
        assert_eq!(
            job(None, Some(200), Fit::Crop).canonical(),
            job(None, Some(200), Fit::Fit).canonical()
        );
        let mut a = job(Some(10), Some(10), Fit::Fit);
        let mut b = a;
        a.encode.jpeg_quality = 0;
        b.encode.jpeg_quality = 1;
        assert_eq!(a.canonical(), b.canonical());
        // Each pair below makes the same bytes, so it must share one entry.
        let pairs: Vec<(Job, Job)> = vec![
            (
                job(Some(200), None, Fit::Fill),
                job(Some(200), None, Fit::Fit),
            ),
            (
                job(None, Some(200), Fit::Force),
                job(None, Some(200), Fit::Fit),
            ),
            // Gravity and focal point only matter where they move pixels.
            (
                with(job(Some(9), Some(9), Fit::Fit), |j| {
                    j.geometry.gravity = Gravity::North;
                    j.geometry.focal = Some(Focal {
                        x_milli: 1,
                        y_milli: 2,
                    });
                }),
                job(Some(9), Some(9), Fit::Fit),
            ),
            (
                with(job(Some(9), Some(9), Fit::Crop), |j| {
                    j.geometry.gravity = Gravity::North;
                    j.geometry.focal = Some(Focal {
                        x_milli: 1,
                        y_milli: 2,
                    });
                }),
                with(job(Some(9), Some(9), Fit::Crop), |j| {
                    j.geometry.focal = Some(Focal {
                        x_milli: 1,
                        y_milli: 2,
                    });
                }),
            ),
            (
                with(job(Some(9), Some(9), Fit::Crop), |j| {
                    j.geometry.focal = Some(Focal {
                        x_milli: 5000,
                        y_milli: 2,
                    });
                }),
                with(job(Some(9), Some(9), Fit::Crop), |j| {
                    j.geometry.focal = Some(Focal {
                        x_milli: 1000,
                        y_milli: 2,
                    });
                }),
            ),
            (
                with(job(Some(9), Some(9), Fit::Pad), |j| {
                    j.geometry.gravity = Gravity::Smart;
                }),
                job(Some(9), Some(9), Fit::Pad),
            ),
            (
                with(job(Some(9), Some(9), Fit::Fit), |j| {
                    j.adjust.contrast = Some(1000);
                    j.adjust.sharpness = Some(1000);
                }),
                job(Some(9), Some(9), Fit::Fit),
            ),
            (
                with(job(Some(9), Some(9), Fit::Fit), |j| {
                    j.adjust.brightness = Some(60000);
                }),
                with(job(Some(9), Some(9), Fit::Fit), |j| {
                    j.adjust.brightness = Some(10000);
                }),
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(a.canonical(), b.canonical(), "{a:?} vs {b:?}");
        }
    }

    fn with(mut j: Job, f: impl Fn(&mut Job)) -> Job {
        f(&mut j);
        j
    }

    #[test]
    fn canonical_text_of_rotation_flip_filters_and_transparency() {
        let base = job(Some(350), Some(200), Fit::Crop);
        let table: Vec<(Job, &str)> = vec![
            (base, "350x200:crop:original:jq82:wq80:i0:bgffffff"),
            (
                with(base, |j| j.geometry.rotate = Rotation::Ccw90),
                "350x200:crop:original:jq82:wq80:i0:bgffffff:r=90",
            ),
            (
                with(base, |j| j.geometry.flip = Flip::Horizontal),
                "350x200:crop:original:jq82:wq80:i0:bgffffff:flip=h",
            ),
            (
                with(base, |j| {
                    j.geometry.rotate = Rotation::Ccw270;
                    j.geometry.flip = Flip::Horizontal;
                }),
                "350x200:crop:original:jq82:wq80:i0:bgffffff:r=270:flip=h",
            ),
            (
                with(base, |j| {
                    j.adjust.sharpen = 100;
                    j.adjust.blur = Some(15);
                    j.encode.transparency = Transparency::Flatten;
                }),
                "350x200:crop:original:jq82:wq80:i0:bgffffff:sharpen=100:blur=15:flat",
            ),
            (
                with(base, |j| j.encode.format = OutputFormat::Gif),
                "350x200:crop:gif:jq82:wq80:i0:bgffffff",
            ),
            (
                with(base, |j| j.encode.webp_effort = 4),
                "350x200:crop:original:jq82:wq80:we4:i0:bgffffff",
            ),
            (
                with(base, |j| j.encode.webp_effort = 9),
                "350x200:crop:original:jq82:wq80:we6:i0:bgffffff",
            ),
        ];
        for (j, want) in table {
            assert_eq!(j.canonical(), want);
        }
        // Every distinct value, a distinct text.
        let mut variants = vec![base];
        for degrees in [90, 180, 270] {
            for flip in [Flip::None, Flip::Horizontal] {
                variants.push(with(base, |j| {
                    j.geometry.rotate = Rotation::from_degrees(degrees).unwrap();
                    j.geometry.flip = flip;
                }));
            }
        }
        variants.push(with(base, |j| j.geometry.flip = Flip::Horizontal));
        for sharpen in [1, 100, 101, 1000] {
            variants.push(with(base, |j| j.adjust.sharpen = sharpen));
        }
        for blur in [3, 4, 10, 1000] {
            variants.push(with(base, |j| j.adjust.blur = Some(blur)));
        }
        variants.push(with(base, |j| {
            j.encode.transparency = Transparency::Flatten
        }));
        variants.push(with(base, |j| j.encode.format = OutputFormat::Gif));
        let texts: std::collections::HashSet<String> =
            variants.iter().map(Job::canonical).collect();
        assert_eq!(texts.len(), variants.len());
    }

    #[test]
    fn canonical_text_merges_equal_turns_and_no_op_fields() {
        let base = job(Some(350), Some(200), Fit::Fit);
        let turn = |degrees: u32, flip: Flip| {
            with(base, move |j| {
                j.geometry.rotate = Rotation::from_degrees(degrees).unwrap();
                j.geometry.flip = flip;
            })
        };
        let pairs = [
            // A half turn and a vertical flip is a horizontal flip.
            (turn(180, Flip::Vertical), turn(0, Flip::Horizontal)),
            (turn(0, Flip::Vertical), turn(180, Flip::Horizontal)),
            (turn(90, Flip::Vertical), turn(270, Flip::Horizontal)),
            (turn(270, Flip::Vertical), turn(90, Flip::Horizontal)),
            (turn(0, Flip::None), base),
            (with(base, |j| j.adjust.sharpen = 0), base),
            (
                with(base, |j| j.adjust.sharpen = 5000),
                with(base, |j| j.adjust.sharpen = 1000),
            ),
            (
                with(base, |j| {
                    j.encode.format = OutputFormat::Jpeg;
                    j.encode.transparency = Transparency::Flatten;
                }),
                with(base, |j| j.encode.format = OutputFormat::Jpeg),
            ),
        ];
        for (a, b) in pairs {
            assert_eq!(a.canonical(), b.canonical(), "{a:?} vs {b:?}");
        }
        // Same pixels, same text, whatever the spelling; every other
        // orientation differs.
        let all: std::collections::HashSet<String> = [0, 90, 180, 270]
            .into_iter()
            .flat_map(|d| [Flip::None, Flip::Horizontal, Flip::Vertical].map(|f| turn(d, f)))
            .map(|j| j.canonical())
            .collect();
        assert_eq!(all.len(), 8);
    }

    #[test]
    fn canonical_text_of_new_fields() {
        let table: Vec<(Job, &str)> = vec![
            (
                with(job(Some(3), Some(4), Fit::Crop), |j| {
                    j.geometry.gravity = Gravity::SouthWest
                }),
                "3x4:crop:original:jq82:wq80:i0:bgffffff:g=sw",
            ),
            (
                with(job(Some(3), Some(4), Fit::Crop), |j| {
                    j.geometry.focal = Some(Focal {
                        x_milli: 250,
                        y_milli: 1000,
                    })
                }),
                "3x4:crop:original:jq82:wq80:i0:bgffffff:fp=250,1000",
            ),
            (
                with(job(Some(3), None, Fit::Pad), |j| {
                    j.geometry.gravity = Gravity::East
                }),
                "3x-:pad:original:jq82:wq80:i0:bgffffff:g=e",
            ),
            (
                job(Some(3), Some(4), Fit::Force),
                "3x4:force:original:jq82:wq80:i0:bgffffff",
            ),
            (
                with(job(Some(3), Some(4), Fit::Fill), |j| {
                    j.adjust = Adjustments {
                        contrast: Some(1200),
                        brightness: Some(0),
                        saturation: Some(10000),
                        sharpness: Some(500),
                        grayscale: true,
                        ..Adjustments::default()
                    }
                }),
                "3x4:fill:original:jq82:wq80:i0:bgffffff:ct=1200:br=0:sa=10000:sh=500:gray",
            ),
        ];
        for (j, want) in table {
            assert_eq!(j.canonical(), want);
        }
    }

    #[test]
    fn canonical_text_of_avif_jobs() {
        use crate::job::{AvifFallback, FallbackFormat};
        let avif = job(Some(350), None, Fit::Fit);
        let avif = with(avif, |j| j.encode.format = OutputFormat::Avif);
        assert_eq!(
            avif.canonical(),
            "350x-:fit:avif:jq82:wq80:i0:bgffffff:aq63:as8"
        );
        let tuned = with(avif, |j| {
            j.encode.avif_quality = 200;
            j.encode.avif_speed = 4;
        });
        assert_eq!(
            tuned.canonical(),
            "350x-:fit:avif:jq82:wq80:i0:bgffffff:aq100:as4"
        );
        let negotiated = with(avif, |j| {
            j.encode.avif_fallback = Some(AvifFallback {
                max_pixels: 1_500_000,
                to: FallbackFormat::Webp,
            })
        });
        assert_eq!(
            negotiated.canonical(),
            "350x-:fit:avif:jq82:wq80:i0:bgffffff:aq63:as8:afb=1500000>webp"
        );
        let to_original = with(negotiated, |j| {
            j.encode.avif_fallback = Some(AvifFallback {
                max_pixels: 1_500_000,
                to: FallbackFormat::Original,
            })
        });
        assert_ne!(to_original.canonical(), negotiated.canonical());
        // Other formats never read the AVIF settings, so their keys stay.
        let webp = with(tuned, |j| j.encode.format = OutputFormat::Webp);
        assert_eq!(webp.canonical(), "350x-:fit:webp:jq82:wq80:i0:bgffffff");
    }
}
