//! Command-line driver for measuring the pipeline on real files:
//! `thumb <input> <WxH> [fit|crop] [original|jpeg|png|webp] [repeat]`.
//! Prints the median wall time of `repeat` runs and writes nothing.

use std::time::Instant;

use thumbnailer::{make_thumbnail, Fit, Geometry, Job, OutputFormat};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: thumb <input> <WxH> [fit|crop] [original|jpeg|png|webp] [repeat]");
        std::process::exit(2);
    }
    let input = std::fs::read(&args[1]).expect("readable input");
    let (width, height) = Geometry::parse_size(&args[2]).expect("valid size");
    let fit = match args.get(3).map(String::as_str) {
        Some("crop") => Fit::Crop,
        _ => Fit::Fit,
    };
    let format = match args.get(4).map(String::as_str) {
        Some("jpeg") => OutputFormat::Jpeg,
        Some("png") => OutputFormat::Png,
        Some("webp") => OutputFormat::Webp,
        _ => OutputFormat::Original,
    };
    let repeat: usize = args.get(5).and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let job = Job::sized(width, height, fit, format);
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..repeat {
        let t = Instant::now();
        last = Some(make_thumbnail(&input, &job));
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    match last.expect("ran at least once") {
        Ok(t) => println!(
            "{}x{} {} {} bytes, median {:.1} ms, fastest {:.1} ms over {repeat} runs",
            t.width,
            t.height,
            t.format.mime_type(),
            t.bytes.len(),
            times[times.len() / 2],
            times[0]
        ),
        Err(e) => println!("error ({:?}): {e}", e.class()),
    }
}
