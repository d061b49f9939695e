//! Pipeline benchmark: times the `thumbnailer` crate against vipsthumbnail
//! and Pillow on the same photos, in the same run, and prints per-photo rows,
//! median ratios and whether the targets are met.
//!
//! Every measurement is a fresh process timed from spawn to exit (whole
//! process wall time, the only figure the other two tools allow), so our
//! side pays for its own process start, file read and file write exactly as
//! they do. The tools run interleaved run by run so that a slow moment of a
//! noisy machine hurts all three alike. Peak RSS comes from one extra run of
//! each tool under `/usr/bin/time -f %M` (the kernel's ru_maxrss of that
//! process), which also serves as the warm-up that brings the photo into the
//! page cache.
//!
//! Usage:
//!   pipeline run [--photos DIR] [--out DIR] [--runs N] [--size N] [--quality Q]
//!                [--pillow-script PATH]
//!   pipeline one PHOTO fit|crop SIZE QUALITY OUT   (the child measured above)
//!   pipeline inproc SIZE jpeg|webp QUALITY [--out DIR] FILE...
//!       `make bench-peers`' in-process figure: every FILE read into memory
//!       first, then `make_thumbnail` (fit into SIZExSIZE) timed on each in
//!       turn, one thread; prints images, median and mean wall ms, CPU ms per
//!       image (this thread's) and output bytes. With --out, the thumbnails
//!       are written there (after the timing) under the FILE's name.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use thumbnailer::{Fit, Job, OutputFormat};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("one") => one(&args[1..]),
        Some("run") => run(&args[1..]),
        Some("inproc") => inproc(&args[1..]),
        _ => Err(
            "usage: pipeline run [--photos DIR] [--out DIR] [--runs N] [--size N] [--quality Q] \
             [--pillow-script PATH] | pipeline one PHOTO fit|crop SIZE QUALITY OUT"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pipeline: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fit,
    Crop,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Fit => "fit",
            Mode::Crop => "crop",
        }
    }

    fn parse(s: &str) -> Result<Mode, String> {
        match s {
            "fit" => Ok(Mode::Fit),
            "crop" => Ok(Mode::Crop),
            _ => Err(format!("mode must be fit or crop, not {s:?}")),
        }
    }
}

/// The measured child: the work one nginx worker does for a cold thumbnail
/// (read the original, make the thumbnail, write it out), once.
fn one(args: &[String]) -> Result<(), String> {
    let [photo, mode, size, quality, out] = args else {
        return Err("one PHOTO fit|crop SIZE QUALITY OUT".to_owned());
    };
    let size: u32 = size.parse().map_err(|_| format!("bad size {size:?}"))?;
    let quality: u8 = quality
        .parse()
        .map_err(|_| format!("bad quality {quality:?}"))?;
    let fit = match Mode::parse(mode)? {
        Mode::Fit => Fit::Fit,
        Mode::Crop => Fit::Crop,
    };
    // Crop keeps the centre, as vipsthumbnail --smartcrop centre.
    let mut job = Job::sized(Some(size), Some(size), fit, OutputFormat::Original);
    job.encode.jpeg_quality = quality;
    let start = Instant::now();
    let bytes = std::fs::read(photo).map_err(|e| format!("{photo}: {e}"))?;
    let thumb = thumbnailer::make_thumbnail(&bytes, &job).map_err(|e| format!("{photo}: {e}"))?;
    std::fs::write(out, &thumb.bytes).map_err(|e| format!("{out}: {e}"))?;
    // The in-process time, for the README's "how much is process start"
    // question; the parent's wall time is what gets compared.
    println!("{}", start.elapsed().as_micros());
    Ok(())
}

/// CPU time of the calling thread, in nanoseconds.
fn thread_cpu_ns() -> u64 {
    // /proc/thread-self/schedstat: on-CPU ns, wait ns, timeslices.
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn inproc(args: &[String]) -> Result<(), String> {
    let usage = "inproc SIZE jpeg|webp|avif QUALITY [--out DIR] FILE...";
    let [size, format, quality, rest @ ..] = args else {
        return Err(usage.to_owned());
    };
    let size: u32 = size.parse().map_err(|_| format!("bad size {size:?}"))?;
    let quality: u8 = quality
        .parse()
        .map_err(|_| format!("bad quality {quality:?}"))?;
    let mut job = match format.as_str() {
        "jpeg" => Job::sized(Some(size), Some(size), Fit::Fit, OutputFormat::Jpeg),
        "webp" => Job::sized(Some(size), Some(size), Fit::Fit, OutputFormat::Webp),
        "avif" => Job::sized(Some(size), Some(size), Fit::Fit, OutputFormat::Avif),
        _ => return Err(usage.to_owned()),
    };
    job.encode.jpeg_quality = quality;
    job.encode.webp_quality = quality;
    job.encode.avif_quality = quality;
    let (out, files) = match rest {
        [flag, dir, files @ ..] if flag == "--out" => (Some(PathBuf::from(dir)), files),
        files => (None, files),
    };
    if files.is_empty() {
        return Err(usage.to_owned());
    }
    let inputs = files
        .iter()
        .map(|f| std::fs::read(f).map_err(|e| format!("{f}: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut wall_ms = Vec::with_capacity(inputs.len());
    let mut outputs = Vec::with_capacity(inputs.len());
    let cpu_start = thread_cpu_ns();
    for (bytes, name) in inputs.iter().zip(files) {
        let start = Instant::now();
        let thumb = thumbnailer::make_thumbnail(bytes, &job).map_err(|e| format!("{name}: {e}"))?;
        wall_ms.push(start.elapsed().as_secs_f64() * 1e3);
        outputs.push(thumb.bytes);
    }
    let cpu_ms = (thread_cpu_ns() - cpu_start) as f64 / 1e6 / inputs.len() as f64;
    let total_bytes: usize = outputs.iter().map(Vec::len).sum();
    if let Some(dir) = out {
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        for (bytes, name) in outputs.iter().zip(files) {
            let stem = Path::new(name)
                .file_stem()
                .unwrap_or_default()
                .to_string_lossy();
            let path = dir.join(format!("{stem}.{format}"));
            std::fs::write(&path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        }
    }
    let mean = wall_ms.iter().sum::<f64>() / wall_ms.len() as f64;
    println!(
        "images={} median_ms={:.3} mean_ms={:.3} cpu_ms={:.3} bytes={}",
        wall_ms.len(),
        median(&wall_ms),
        mean,
        cpu_ms,
        total_bytes / inputs.len()
    );
    Ok(())
}

/// The three contestants.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    Ours,
    Vips,
    Pillow,
}

const TOOLS: [Tool; 3] = [Tool::Ours, Tool::Vips, Tool::Pillow];

struct Settings {
    photos: PathBuf,
    out: PathBuf,
    runs: usize,
    size: u32,
    quality: u8,
    pillow_script: PathBuf,
    me: PathBuf,
}

impl Settings {
    fn parse(args: &[String]) -> Result<Settings, String> {
        let mut s = Settings {
            photos: PathBuf::from("../shared/photos"),
            out: PathBuf::from("build/bench/pipeline"),
            runs: 5,
            size: 350,
            quality: 82,
            pillow_script: PathBuf::from("bench/pillow_thumb.py"),
            me: std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?,
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let bad = || format!("bad value {value:?} for {flag}");
            match flag.as_str() {
                "--photos" => s.photos = PathBuf::from(value),
                "--out" => s.out = PathBuf::from(value),
                "--runs" => s.runs = value.parse().map_err(|_| bad())?,
                "--size" => s.size = value.parse().map_err(|_| bad())?,
                "--quality" => s.quality = value.parse().map_err(|_| bad())?,
                "--pillow-script" => s.pillow_script = PathBuf::from(value),
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        // Bounded: a typo must not turn into an hour-long run.
        if !(1..=50).contains(&s.runs) {
            return Err("--runs must be 1..=50".to_owned());
        }
        if !(1..=65535).contains(&s.size) || !(1..=100).contains(&s.quality) {
            return Err("--size must be 1..=65535 and --quality 1..=100".to_owned());
        }
        // vipsthumbnail resolves a relative -o against the input's
        // directory, so every path handed to a tool is made absolute.
        s.out = absolute(&s.out)?;
        s.photos = absolute(&s.photos)?;
        s.pillow_script = absolute(&s.pillow_script)?;
        Ok(s)
    }

    fn command(&self, tool: Tool, photo: &Path, mode: Mode, out: &Path) -> Command {
        let size = self.size.to_string();
        let quality = self.quality.to_string();
        match tool {
            Tool::Ours => {
                let mut c = Command::new(&self.me);
                c.arg("one").arg(photo).arg(mode.name());
                c.arg(&size).arg(&quality).arg(out);
                c
            }
            Tool::Vips => {
                let mut c = Command::new("vipsthumbnail");
                c.arg(photo).arg("-s").arg(format!("{size}x{size}"));
                if mode == Mode::Crop {
                    c.arg("--smartcrop").arg("centre");
                }
                // strip: our thumbnails carry no EXIF/XMP/ICC, so vips must
                // not be charged for copying the original's metadata.
                let opts = if is_png(out) {
                    "[strip]".to_owned()
                } else {
                    format!("[Q={quality},strip]")
                };
                c.arg("-o").arg(format!("{}{opts}", out.display()));
                c
            }
            Tool::Pillow => {
                let mut c = Command::new("python3");
                c.arg(&self.pillow_script).arg(photo).arg(mode.name());
                c.arg(&size).arg(&quality).arg(out);
                c
            }
        }
    }
}

fn absolute(p: &Path) -> Result<PathBuf, String> {
    if p.is_absolute() {
        return Ok(p.to_owned());
    }
    let cwd = std::env::current_dir().map_err(|e| format!("current_dir: {e}"))?;
    Ok(cwd.join(p))
}

fn is_png(p: &Path) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case("png"))
}

/// What one tool did with one photo in one mode.
#[derive(Default, Clone)]
struct Measured {
    wall_ms: Vec<f64>,
    in_process_ms: Vec<f64>,
    rss_kb: u64,
    bytes: u64,
    dims: Option<(u32, u32)>,
}

struct Row {
    photo: String,
    jpeg: bool,
    mode: Mode,
    m: [Measured; 3],
}

impl Row {
    fn time(&self, t: Tool) -> f64 {
        median(&self.m[t as usize].wall_ms)
    }
    fn ratio(&self, a: Tool, b: Tool) -> f64 {
        self.time(a) / self.time(b)
    }
    fn bytes_ratio(&self) -> f64 {
        self.m[Tool::Ours as usize].bytes as f64 / self.m[Tool::Vips as usize].bytes as f64
    }
    fn rss_ratio(&self) -> f64 {
        self.m[Tool::Ours as usize].rss_kb as f64 / self.m[Tool::Vips as usize].rss_kb as f64
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let s = Settings::parse(args)?;
    std::fs::create_dir_all(&s.out).map_err(|e| format!("{}: {e}", s.out.display()))?;
    let photos = list_photos(&s.photos)?;
    if photos.is_empty() {
        return Err(format!(
            "no .jpg/.jpeg/.png files in {}",
            s.photos.display()
        ));
    }
    println!(
        "pipeline benchmark: {} photos from {}, {}x{} fit and crop, JPEG quality {}, \
         median of {} runs per tool (fresh process each, whole-process wall time, \
         tools interleaved); peak RSS from one extra run under /usr/bin/time -f %M",
        photos.len(),
        s.photos.display(),
        s.size,
        s.size,
        s.quality,
        s.runs
    );
    println!(
        "vipsthumbnail: {}",
        tool_version("vipsthumbnail", &["--vips-version"])
    );
    println!(
        "Pillow: {}",
        tool_version(
            "python3",
            &[
                "-c",
                "import PIL, sys; print(PIL.__version__, 'on Python', sys.version.split()[0])"
            ]
        )
    );
    println!();

    let started = Instant::now();
    let mut rows = Vec::new();
    for photo in &photos {
        let name = photo
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let jpeg = sniff_jpeg(photo)?;
        for mode in [Mode::Fit, Mode::Crop] {
            let row = measure(&s, photo, &name, jpeg, mode)?;
            print_row_progress(&row);
            rows.push(row);
        }
    }
    println!("(measured in {:.0} s)\n", started.elapsed().as_secs_f64());
    print_table(&rows);
    print_summary(&rows);
    Ok(())
}

fn tool_version(program: &str, args: &[&str]) -> String {
    match Command::new(program).args(args).output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        Ok(o) => format!("failed: {}", String::from_utf8_lossy(&o.stderr).trim()),
        Err(e) => format!("not runnable: {e}"),
    }
}

fn list_photos(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut photos: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension().is_some_and(|e| {
                let e = e.to_string_lossy().to_ascii_lowercase();
                e == "jpg" || e == "jpeg" || e == "png"
            })
        })
        .collect();
    photos.sort();
    Ok(photos)
}

fn sniff_jpeg(photo: &Path) -> Result<bool, String> {
    use std::io::Read;
    let mut magic = [0u8; 3];
    std::fs::File::open(photo)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| format!("{}: {e}", photo.display()))?;
    Ok(magic == [0xff, 0xd8, 0xff])
}

fn measure(s: &Settings, photo: &Path, name: &str, jpeg: bool, mode: Mode) -> Result<Row, String> {
    let ext = if jpeg { "jpg" } else { "png" };
    let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
    let outs: Vec<PathBuf> = ["ours", "vips", "pillow"]
        .iter()
        .map(|t| s.out.join(format!("{stem}.{}.{t}.{ext}", mode.name())))
        .collect();
    let mut m: [Measured; 3] = Default::default();

    // Warm-up and peak RSS: one run of each under GNU time.
    for tool in TOOLS {
        let out = &outs[tool as usize];
        let _ = std::fs::remove_file(out);
        let rss_file = s.out.join("rss.txt");
        let inner = s.command(tool, photo, mode, out);
        let mut c = Command::new("/usr/bin/time");
        c.arg("-f").arg("%M").arg("-o").arg(&rss_file);
        c.arg(inner.get_program()).args(inner.get_args());
        let (_, _) = spawn_timed(c, tool_label(tool))?;
        let rss = std::fs::read_to_string(&rss_file).map_err(|e| format!("rss: {e}"))?;
        m[tool as usize].rss_kb = rss
            .lines()
            .last()
            .and_then(|l| l.trim().parse().ok())
            .ok_or_else(|| format!("cannot read /usr/bin/time output {rss:?}"))?;
        let meta = std::fs::metadata(out)
            .map_err(|e| format!("{} made no output {}: {e}", tool_label(tool), out.display()))?;
        m[tool as usize].bytes = meta.len();
        m[tool as usize].dims = image_dims(out);
    }

    // Timed runs, rotating which tool goes first.
    for run in 0..s.runs {
        for k in 0..TOOLS.len() {
            let tool = TOOLS[(run + k) % TOOLS.len()];
            let c = s.command(tool, photo, mode, &outs[tool as usize]);
            let (wall, stdout) = spawn_timed(c, tool_label(tool))?;
            let mm = &mut m[tool as usize];
            mm.wall_ms.push(wall.as_secs_f64() * 1e3);
            if tool == Tool::Ours {
                if let Ok(us) = stdout.trim().parse::<f64>() {
                    mm.in_process_ms.push(us / 1e3);
                }
            }
        }
    }
    Ok(Row {
        photo: name.to_owned(),
        jpeg,
        mode,
        m,
    })
}

fn tool_label(t: Tool) -> &'static str {
    match t {
        Tool::Ours => "ours",
        Tool::Vips => "vipsthumbnail",
        Tool::Pillow => "Pillow",
    }
}

/// Runs a command to completion; its wall time from spawn to exit, and its
/// stdout. A child slower than a minute is a broken benchmark: kill it.
fn spawn_timed(mut c: Command, label: &str) -> Result<(Duration, String), String> {
    c.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = c
        .spawn()
        .map_err(|e| format!("{label}: cannot start: {e}"))?;
    let limit = Duration::from_secs(60);
    // Read stdout/stderr on helper threads so a chatty child cannot block.
    let mut out_pipe = child.stdout.take();
    let mut err_pipe = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_all(out_pipe.as_mut()));
    let err_reader = std::thread::spawn(move || read_all(err_pipe.as_mut()));
    let status = loop {
        if let Some(st) = child
            .try_wait()
            .map_err(|e| format!("{label}: wait: {e}"))?
        {
            break st;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("{label}: still running after {limit:?}, killed"));
        }
        // A short poll keeps the timing resolution far below the
        // tens-of-milliseconds differences being measured.
        std::thread::sleep(Duration::from_micros(200));
    };
    let wall = start.elapsed();
    let stdout = out_reader.join().unwrap_or_default();
    let stderr = err_reader.join().unwrap_or_default();
    if !status.success() {
        return Err(format!("{label} failed ({status}): {}", stderr.trim()));
    }
    Ok((wall, stdout))
}

fn read_all<R: std::io::Read>(r: Option<&mut R>) -> String {
    let mut s = String::new();
    if let Some(r) = r {
        let _ = r.read_to_string(&mut s);
    }
    s
}

/// Width and height from a JPEG SOF or PNG IHDR, to show that all three
/// tools made the same geometry.
fn image_dims(path: &Path) -> Option<(u32, u32)> {
    let b = std::fs::read(path).ok()?;
    if b.len() > 24 && b.starts_with(b"\x89PNG\r\n\x1a\n") {
        let w = u32::from_be_bytes(b[16..20].try_into().ok()?);
        let h = u32::from_be_bytes(b[20..24].try_into().ok()?);
        return Some((w, h));
    }
    let mut i = 2;
    while i + 9 < b.len() {
        if b[i] != 0xff {
            return None;
        }
        let marker = b[i + 1];
        if marker == 0xff {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([b[i + 2], b[i + 3]]));
        let sof = (0xc0..=0xcf).contains(&marker) && ![0xc4, 0xc8, 0xcc].contains(&marker);
        if sof {
            let h = u32::from(u16::from_be_bytes([b[i + 5], b[i + 6]]));
            let w = u32::from(u16::from_be_bytes([b[i + 7], b[i + 8]]));
            return Some((w, h));
        }
        i += 2 + len;
    }
    None
}

fn median(v: &[f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn print_row_progress(r: &Row) {
    eprintln!(
        "  measured {:<16} {:<4}  ours {:7.1} ms  vips {:7.1} ms  Pillow {:7.1} ms",
        r.photo,
        r.mode.name(),
        r.time(Tool::Ours),
        r.time(Tool::Vips),
        r.time(Tool::Pillow)
    );
}

fn dims(d: Option<(u32, u32)>) -> String {
    d.map_or_else(|| "?".to_owned(), |(w, h)| format!("{w}x{h}"))
}

fn print_table(rows: &[Row]) {
    println!(
        "{:<15} {:<4} | {:>8} {:>8} {:>8} {:>8} | {:>6} {:>6} | {:>7} {:>7} {:>7} {:>5} | {:>6} {:>6} {:>6} {:>5} | out size ours/vips/PIL",
        "photo", "mode", "ours ms", "in-proc", "vips ms", "PIL ms", "/vips", "/PIL",
        "ours B", "vips B", "PIL B", "/vips", "ours M", "vips M", "PIL M", "/vips",
    );
    println!("{}", "-".repeat(172));
    for r in rows {
        let o = &r.m[Tool::Ours as usize];
        let v = &r.m[Tool::Vips as usize];
        let p = &r.m[Tool::Pillow as usize];
        println!(
            "{:<15} {:<4} | {:>8.1} {:>8.1} {:>8.1} {:>8.1} | {:>6.2} {:>6.2} | {:>7} {:>7} {:>7} {:>5.2} | {:>6.1} {:>6.1} {:>6.1} {:>5.2} | {}/{}/{}",
            r.photo,
            r.mode.name(),
            r.time(Tool::Ours),
            median(&o.in_process_ms),
            r.time(Tool::Vips),
            r.time(Tool::Pillow),
            r.ratio(Tool::Ours, Tool::Vips),
            r.ratio(Tool::Ours, Tool::Pillow),
            o.bytes,
            v.bytes,
            p.bytes,
            r.bytes_ratio(),
            o.rss_kb as f64 / 1024.0,
            v.rss_kb as f64 / 1024.0,
            p.rss_kb as f64 / 1024.0,
            r.rss_ratio(),
            dims(o.dims),
            dims(v.dims),
            dims(p.dims),
        );
    }
    println!(
        "(ms: median whole-process wall time; in-proc: ours' read+thumbnail+write inside the \
         process; B: output bytes; M: peak RSS MiB; /vips, /PIL: ours divided by theirs)\n"
    );
}

fn print_summary(rows: &[Row]) {
    println!("median ratios over photos (ours / reference; < 1 means ours is smaller or faster):");
    println!(
        "{:<22} {:<4} | {:>3} | {:>11} {:>11} | {:>11} | {:>11}",
        "set", "mode", "n", "time /vips", "time /PIL", "bytes /vips", "RSS /vips"
    );
    println!("{}", "-".repeat(88));
    for (set, jpeg_only) in [("JPEG photos", true), ("all photos", false)] {
        for mode in [Mode::Fit, Mode::Crop] {
            let sel: Vec<&Row> = rows
                .iter()
                .filter(|r| r.mode == mode && (r.jpeg || !jpeg_only))
                .collect();
            let col =
                |f: &dyn Fn(&Row) -> f64| median(&sel.iter().map(|r| f(r)).collect::<Vec<_>>());
            println!(
                "{:<22} {:<4} | {:>3} | {:>11.2} {:>11.2} | {:>11.2} | {:>11.2}",
                set,
                mode.name(),
                sel.len(),
                col(&|r| r.ratio(Tool::Ours, Tool::Vips)),
                col(&|r| r.ratio(Tool::Ours, Tool::Pillow)),
                col(&|r| r.bytes_ratio()),
                col(&|r| r.rss_ratio()),
            );
        }
    }
    println!();

    // The targets, judged on the JPEG photos (the bytes target
    // speaks of "the same quality", which only JPEG has).
    println!("targets (JPEG photos, fit and crop):");
    let jpegs: Vec<&Row> = rows.iter().filter(|r| r.jpeg).collect();
    let mut report = String::new();
    let mut all_met = true;
    for mode in [Mode::Fit, Mode::Crop] {
        let sel: Vec<&Row> = jpegs.iter().copied().filter(|r| r.mode == mode).collect();
        let ratios: Vec<f64> = sel
            .iter()
            .map(|r| r.ratio(Tool::Ours, Tool::Vips))
            .collect();
        let med = median(&ratios);
        let met = med <= 0.7;
        all_met &= met;
        let _ = writeln!(
            report,
            "  [{}] median time ours/vipsthumbnail <= 0.70 ({}): {:.2}",
            verdict(met),
            mode.name(),
            med
        );
    }
    for mode in [Mode::Fit, Mode::Crop] {
        let sel: Vec<&Row> = jpegs.iter().copied().filter(|r| r.mode == mode).collect();
        let off: Vec<String> = sel
            .iter()
            .filter(|r| !(0.9..=1.1).contains(&r.bytes_ratio()))
            .map(|r| format!("{} {:.2}", r.photo, r.bytes_ratio()))
            .collect();
        let met = off.is_empty();
        all_met &= met;
        let _ = writeln!(
            report,
            "  [{}] output bytes within +-10% of vipsthumbnail at the same quality ({}): {}/{} photos{}",
            verdict(met),
            mode.name(),
            sel.len() - off.len(),
            sel.len(),
            if off.is_empty() {
                String::new()
            } else {
                format!("; outside: {}", off.join(", "))
            }
        );
    }
    for mode in [Mode::Fit, Mode::Crop] {
        let sel: Vec<&Row> = jpegs.iter().copied().filter(|r| r.mode == mode).collect();
        let over: Vec<String> = sel
            .iter()
            .filter(|r| r.rss_ratio() > 1.0)
            .map(|r| format!("{} {:.2}", r.photo, r.rss_ratio()))
            .collect();
        let met = over.is_empty();
        all_met &= met;
        let _ = writeln!(
            report,
            "  [{}] peak RSS <= vipsthumbnail ({}): {}/{} photos{}",
            verdict(met),
            mode.name(),
            sel.len() - over.len(),
            sel.len(),
            if over.is_empty() {
                String::new()
            } else {
                format!("; above: {}", over.join(", "))
            }
        );
    }
    print!("{report}");
    println!(
        "  => {}",
        if all_met {
            "all targets met"
        } else {
            "some targets NOT met"
        }
    );
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}
