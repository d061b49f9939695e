//! The shared corpus of valid and hostile images (`../shared/corpus/`), fed
//! through a cached thumbnail location of one nginx: no worker may crash, no
//! answer may be a 5xx or a broken response, and each file must get the
//! answer its `expect` column in `MANIFEST.tsv` allows. All violations are
//! collected and reported together, as a list of bugs.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use image_filter_rs_tests::cache::files_under;
use image_filter_rs_tests::presets::{CACHE_DIR, CACHE_HTTP, THUMB_SERVER};
use image_filter_rs_tests::{paths, Nginx, Request};

/// Bombs must be refused from the header; the corpus says "well under 1 s".
/// Allow more, since tests share a small machine, but far less than a decode.
const LIMIT_DEADLINE: Duration = Duration::from_secs(2);
/// Huge frame counts must be handled in bounded time.
const BOUNDED_DEADLINE: Duration = Duration::from_secs(15);

struct Entry {
    path: String,
    expect: String,
}

fn manifest(corpus: &Path) -> Vec<Entry> {
    let text = fs::read_to_string(corpus.join("MANIFEST.tsv")).expect("read MANIFEST.tsv");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut cols = line.split('\t');
            let path = cols.next()?.to_string();
            let expect = cols.nth(2)?.to_string();
            (expect != "n/a").then_some(Entry { path, expect })
        })
        .collect()
}

/// JPEG and PNG are the formats the module must handle; for the others a
/// clean 415 is as acceptable as a thumbnail.
fn core_format(path: &str) -> bool {
    path.starts_with("valid/jpeg/") || path.starts_with("valid/png/")
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
                Ok(img) if img.width() <= 350 && img.height() <= 350 => {}
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
                bug(format!("valid JPEG/PNG answered {status}, not 200"))
            }
            "decode" if !ok200 && status != 415 => {
                bug(format!("valid image answered {status}, not 200 or 415"))
            }
            "reject" if !refused => bug(format!("not an image, yet answered {status}")),
            "limit" if !refused => bug(format!("bomb answered {status}, not a 4xx")),
            "limit" if took > LIMIT_DEADLINE => bug(format!("bomb refused only after {took:?}")),
            "bounded" if took > BOUNDED_DEADLINE => bug(format!("took {took:?}")),
            "either" if !ok200 && !refused => bug(format!("answered {status}")),
            _ => {}
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
