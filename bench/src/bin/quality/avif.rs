//! `quality avif SIZE FILE...`: calibrates the AVIF defaults. Qualities do
//! not carry across encoders, so AVIF is compared with WebP at equal DSSIM:
//! for each libaom speed, the AVIF quality whose median DSSIM matches the
//! thumbnailer's WebP default (q80, method 4) and the JPEG q80 line of
//! `encoders`, with the bytes and encode time AVIF needs there.

use super::{at_dssim, measure_settings, Setting};

const SPEEDS: [u8; 4] = [6, 7, 8, 9];
/// Wide enough that every speed brackets both targets on photographs.
const QUALITIES: [u8; 12] = [36, 40, 44, 48, 52, 56, 60, 64, 68, 72, 76, 80];

pub(super) fn cmd_avif(args: &[String]) -> Result<(), String> {
    let [size, files @ ..] = args else {
        return Err("avif SIZE FILE...".to_owned());
    };
    let size: u32 = size.parse().map_err(|_| format!("bad size {size:?}"))?;
    let mut settings = vec![
        Setting::Webp {
            method: 4,
            quality: 80.0,
        },
        Setting::Jpeg {
            optimize: true,
            progressive: false,
        },
    ];
    for speed in SPEEDS {
        settings.extend(
            QUALITIES
                .iter()
                .map(|&quality| Setting::Avif { speed, quality }),
        );
    }
    let t = measure_settings(size, files, &settings)?;
    println!(
        "{} thumbnails fit into {size}; reference WebP q80 m4: DSSIM {:.6}, {:.0} bytes, {:.2} ms; \
         JPEG q80: DSSIM {:.6}, {:.0} bytes, {:.2} ms",
        t.images, t.dssim[0], t.bytes[0], t.ms[0], t.dssim[1], t.bytes[1], t.ms[1]
    );
    let grid: Vec<f64> = QUALITIES.iter().map(|&q| f64::from(q)).collect();
    for (target, name) in [(0usize, "WebP q80"), (1, "JPEG q80")] {
        println!("AVIF at the DSSIM of {name} ({:.6}):", t.dssim[target]);
        println!("speed quality bytes:mean encode-ms:median bytes/webp ms/webp");
        for (s, speed) in SPEEDS.iter().enumerate() {
            let row = 2 + s * QUALITIES.len();
            match at_dssim(&t, row, &grid, t.dssim[target]) {
                Some((q, bytes, ms)) => println!(
                    "{speed} {q:.1} {bytes:.0} {ms:.2} {:.3} {:.3}",
                    bytes / t.bytes[0],
                    ms / t.ms[0]
                ),
                None => println!("{speed} - (no quality in 36-80 reaches it)"),
            }
        }
    }
    Ok(())
}
