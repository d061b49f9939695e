//! The shared corpus of valid and hostile images (`../shared/corpus/`), fed
//! through a cached thumbnail location of one nginx: no worker may crash, no
//! answer may be a 5xx or a broken response, and each file must get the
//! answer its `expect` column in `MANIFEST.tsv` allows. All violations are
//! collected and reported together, as a list of bugs.
//!
//! `either` files (legal but exotic, or damaged) may decode or be refused;
//! the outcome each one gets is pinned in `t/data/corpus-either.tsv`, so a
//! change of behaviour shows up as a failure. After a deliberate change,
//! rerun with `IFRS_PIN_CORPUS=1` to record the new outcomes and review the
//! diff.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use image_filter_rs_tests::cache::files_under;
use image_filter_rs_tests::presets::{CACHE_DIR, CACHE_HTTP, THUMB_SERVER};
use image_filter_rs_tests::{images, paths, Nginx, Request};

/// Bombs must be refused from the header; the corpus says "well under 1 s".
/// Allow more, since tests share a small machine, but far less than a decode.
const LIMIT_DEADLINE: Duration = Duration::from_secs(2);
/// Huge frame counts must be handled in bounded time.
const BOUNDED_DEADLINE: Duration = Duration::from_secs(15);

/// Worker memory after the whole corpus, bombs included: the default
/// 256 MiB image_filter_rs_memory budget plus the worker's own footprint.
const WORKER_RSS_LIMIT_KIB: u64 = 600 * 1024;

const PINS: &str = "data/corpus-either.tsv";

struct Entry {
    path: String,
    expect: String,
    /// Width and height Pillow reported, when it decoded the file.
    size: Option<(u32, u32)>,
}

fn pillow_size(reference: &str) -> Option<(u32, u32)> {
    // "OK JPEG 512x600 RGBA frames=1"
    let mut words = reference.split_whitespace();
    (words.next()? == "OK").then_some(())?;
    let (w, h) = words.nth(1)?.split_once('x')?;
    Some((w.parse().ok()?, h.parse().ok()?))
}

fn pinned_outcomes() -> BTreeMap<String, u16> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PINS);
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (file, status) = l.split_once('\t')?;
            Some((file.to_string(), status.parse().ok()?))
        })
        .collect()
}

fn record_outcomes(outcomes: &BTreeMap<String, u16>) {
    let mut text = String::from(
        "# corpus file\tstatus its `either` outcome is pinned to (see tests/corpus.rs)\n",
    );
    for (file, status) in outcomes {
        text.push_str(&format!("{file}\t{status}\n"));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PINS);
    fs::create_dir_all(path.parent().expect("has a parent")).expect("create t/data");
    fs::write(path, text).expect("write the pinned outcomes");
}

fn manifest(corpus: &Path) -> Vec<Entry> {
    let text = fs::read_to_string(corpus.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let path = cols.next()?.to_string();
            let expect = cols.nth(2)?.to_string();
            let size = cols.nth(3).and_then(pillow_size);
            (expect != "n/a").then_some(Entry { path, expect, size })
        })
        .collect()
}

/// Formats the pipeline decodes: a valid file of these must be a 200.
fn core_format(path: &str) -> bool {
    [
        "valid/jpeg/",
        "valid/png/",
        "valid/gif/",
        "valid/webp/",
        "valid/tiff/",
        "valid/avif/",
    ]
    .iter()
    .any(|dir| path.starts_with(dir))
}

#[test]
fn corpus_gets_the_expected_answers_without_crashes() {
    let Some(shared) = paths::require_shared("corpus_gets_the_expected_answers_without_crashes")
    else {
        return;
    };
    let corpus = shared.join("corpus");
    let entries = manifest(&corpus);
    assert!(entries.len() > 500, "MANIFEST.tsv lists too few files");
    let builder = entries.iter().fold(Nginx::builder(), |b, e| {
        b.copy_file(corpus.join(&e.path), &format!("media/corpus/{}", e.path))
    });
    let nginx = builder
        .http(CACHE_HTTP)
        .server(THUMB_SERVER)
        .worker_processes(2)
        .start();

    let pins = pinned_outcomes();
    let mut outcomes = BTreeMap::new();
    let mut bugs = Vec::new();
    let mut tally: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut cached = files_under(&nginx.path(CACHE_DIR)).len();
    for e in &entries {
        let url = format!("/thumb/corpus/{}", e.path);
        let start = Instant::now();
        let resp = Request::get(&url).try_send(nginx.port());
        let took = start.elapsed();
        let resp = match resp {
            Ok(r) => r,
            Err(err) => {
                bugs.push(format!("{} [{}]: broken response: {err}", e.path, e.expect));
                *tally
                    .entry((e.expect.clone(), "broken".into()))
                    .or_default() += 1;
                continue;
            }
        };
        let status = resp.status;
        *tally
            .entry((e.expect.clone(), status.to_string()))
            .or_default() += 1;
        let now_cached = files_under(&nginx.path(CACHE_DIR)).len();
        let wrote_cache = now_cached > cached;
        cached = now_cached;
        let mut bug = |why: String| bugs.push(format!("{} [{}]: {why}", e.path, e.expect));

        if status >= 500 {
            bug(format!("{status} {}", resp.reason));
            continue;
        }
        if status == 404 {
            bug("404 for a file that exists".into());
            continue;
        }
        let ok200 = status == 200;
        let refused = (400..500).contains(&status);
        if ok200 {
            // A 200 must be a real, complete image inside the 350x350 box.
            match image::load_from_memory(&resp.body) {
                Ok(img) if img.width() <= 350 && img.height() <= 350 => {
                    // The fit of the source's size into the box, either way
                    // round (EXIF orientation may swap it), give or take a
                    // pixel of rounding.
                    if let (Some((w, h)), "decode") = (e.size, e.expect.as_str()) {
                        let got = (img.width(), img.height());
                        let close = |want: (u32, u32)| {
                            got.0.abs_diff(want.0) <= 1 && got.1.abs_diff(want.1) <= 1
                        };
                        let upright = images::fit_dims((w, h), Some(350), Some(350));
                        let turned = images::fit_dims((h, w), Some(350), Some(350));
                        if !close(upright) && !close(turned) {
                            bug(format!(
                                "{}x{} thumbnail of a {w}x{h} original, expected {}x{}",
                                got.0, got.1, upright.0, upright.1
                            ));
                        }
                    }
                }
                Ok(img) => bug(format!(
                    "200 with a {}x{} image, larger than 350x350",
                    img.width(),
                    img.height()
                )),
                Err(image::ImageError::Unsupported(_)) => {} // e.g. AVIF out
                Err(err) => bug(format!(
                    "200 whose body ({} bytes) does not decode: {err}",
                    resp.body.len()
                )),
            }
        }
        if refused && wrote_cache {
            bug(format!("{status} but a file appeared in the cache"));
        }
        match e.expect.as_str() {
            "decode" if core_format(&e.path) && !ok200 => {
                bug(format!("valid image answered {status}, not 200"))
            }
            "decode" if !ok200 && status != 415 => {
                bug(format!("valid image answered {status}, not 200 or 415"))
            }
            "reject" if !refused => bug(format!("not an image, yet answered {status}")),
            "limit" if !refused => bug(format!("bomb answered {status}, not a 4xx")),
            "limit" if took > LIMIT_DEADLINE => bug(format!("bomb refused only after {took:?}")),
            "bounded" if took > BOUNDED_DEADLINE => bug(format!("took {took:?}")),
            "either" if !ok200 && !refused => bug(format!("answered {status}")),
            "either" => {
                outcomes.insert(e.path.clone(), status);
                match pins.get(&e.path) {
                    Some(&pinned) if pinned != status => {
                        bug(format!("answered {status}, pinned to {pinned}"))
                    }
                    None if !pinning() => bug(format!(
                        "answered {status}, no pinned outcome (IFRS_PIN_CORPUS=1 records them)"
                    )),
                    _ => {}
                }
            }
            _ => {}
        }
    }
    if pinning() {
        record_outcomes(&outcomes);
    }
    for pid in nginx.worker_pids() {
        if let Some(kib) = peak_rss_kib(pid) {
            if kib > WORKER_RSS_LIMIT_KIB {
                bugs.push(format!(
                    "worker {pid} peaked at {kib} KiB, over {WORKER_RSS_LIMIT_KIB} KiB"
                ));
            }
        }
    }
    let summary: Vec<String> = tally
        .iter()
        .map(|((expect, status), n)| format!("{expect}→{status}: {n}"))
        .collect();
    println!("corpus answers: {}", summary.join(", "));
    let verdict = bugs.is_empty();
    if !verdict {
        // Shown with the failure even if the crash check below fires first.
        println!("wrong answers:\n{}", bugs.join("\n"));
    }
    // A crash while serving the corpus is the most important bug: check it
    // before reporting the wrong answers.
    nginx.stop_and_check();
    assert!(
        verdict,
        "{} corpus file(s) got a wrong answer (answers: {}):\n{}",
        bugs.len(),
        summary.join(", "),
        bugs.join("\n")
    );
}

fn pinning() -> bool {
    std::env::var_os("IFRS_PIN_CORPUS").is_some()
}

/// A process's peak resident set (VmHWM), in KiB.
fn peak_rss_kib(pid: i32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
