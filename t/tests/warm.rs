//! `image-filter-rs warm` (the `warm/` crate's binary, run as a subprocess)
//! against the real nginx and module: every original under a directory
//! times every prefix is made once and stored (the status page's
//! `generated` and the cache directory agree), a second run finds them all
//! cached, a missing original and a non-image are reported with their
//! statuses and a non-zero exit, and `--root -` takes paths from stdin.
//! File names with a space and a non-ASCII letter show that the warmer's
//! percent-encoding reaches the same file and cache entry as a browser's.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use image_filter_rs_tests::cache::cache_entries;
use image_filter_rs_tests::images;
use image_filter_rs_tests::presets::{STATUS_LOCATION, STATUS_PATH};
use image_filter_rs_tests::status;
use image_filter_rs_tests::Nginx;

/// Overrides where the binary is looked for.
const ENV_WARM: &str = "IFRS_WARM_BIN";

/// The warmer: `$IFRS_WARM_BIN`, or `image-filter-rs` in the target
/// directory this test was built into (the test runs from
/// `target/release/deps/`). It belongs to another package, so cargo does
/// not build it for `-p image-filter-rs-tests` alone.
fn warm_binary() -> PathBuf {
    if let Some(p) = std::env::var_os(ENV_WARM).filter(|v| !v.is_empty()) {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test knows its own path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the test runs from <target>/<profile>/deps");
    let bin = dir.join(format!("image-filter-rs{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.is_file(),
        "the warm command is not built at {}: run `cargo build --release` \
         (or `cargo build --release -p image-filter-rs-cli`) in the repository \
         root first, or point ${ENV_WARM} at it",
        bin.display()
    );
    bin
}

/// Runs `image-filter-rs warm ARGS` with `stdin`; stderr is a pipe, so the
/// warmer prints no progress bar, only failure lines and the summary.
fn warm(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(warm_binary())
        .arg("warm")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the warm command");
    child
        .stdin
        .take()
        .expect("piped")
        .write_all(stdin.as_bytes())
        .expect("write the path list");
    child.wait_with_output().expect("wait for the warm command")
}

/// One `name: N` line of the summary.
fn figure(out: &Output, name: &str) -> u64 {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name:?} in the summary:\n{}", show(out)))
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

const LOCATIONS: &str = "
location /thumb/ {
    alias @MEDIA@/photos/;
    image_filter_rs 100x100;
    image_filter_rs_cache thumbs;
    add_header X-Image-Filter-Cache $image_filter_rs_cache_status;
}
location /t/ {
    alias @MEDIA@/photos/;
    image_filter_rs query;
    image_filter_rs_sizes 200x200 300x300;
    image_filter_rs_cache thumbs;
    add_header X-Image-Filter-Cache $image_filter_rs_cache_status;
}
location /extra/ {
    alias @MEDIA@/extra/;
    image_filter_rs 100x100;
    image_filter_rs_cache thumbs;
    add_header X-Image-Filter-Cache $image_filter_rs_cache_status;
}
";

#[test]
fn warm_makes_every_rendition_once_and_reports_failures() {
    let nginx = Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m levels=1:2;")
        .server(LOCATIONS)
        .server(STATUS_LOCATION)
        .file("media/photos/a.jpg", images::jpeg(640, 480, [200, 30, 30]))
        .file("media/photos/é.jpg", images::jpeg(480, 640, [30, 200, 30]))
        .file(
            "media/photos/sub/b.jpg",
            images::jpeg(320, 320, [30, 30, 200]),
        )
        .file(
            "media/photos/sub/c d.jpg",
            images::jpeg(800, 200, [90, 90, 90]),
        )
        .file("media/extra/a.jpg", images::jpeg(300, 200, [200, 200, 30]))
        .file("media/extra/notes.txt", "not an image\n")
        .start();
    status::wait_for(
        &nginx,
        STATUS_PATH,
        "thumbs",
        "the index loaded",
        Duration::from_secs(10),
        |s| s.loaded(),
    );
    let base = format!("http://127.0.0.1:{}", nginx.port());
    let thumb = format!("{base}/thumb/");
    let t200 = format!("{base}/t/?w=200&h=200");
    let photos = nginx.media_dir().join("photos");
    let photos = photos.to_str().expect("a UTF-8 temporary path");
    let generated = || status::fetch(&nginx, STATUS_PATH, "thumbs").get("generated");
    let cached_files = || cache_entries(&nginx.path("cache")).len();

    // 4 photos x 2 prefixes: each made once.
    let first = warm(&["--root", photos, "--concurrency", "2", &thumb, &t200], "");
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    assert_eq!(figure(&first, "made"), 8, "{}", show(&first));
    assert_eq!(figure(&first, "already cached"), 0);
    assert_eq!(figure(&first, "failed"), 0);
    assert!(
        String::from_utf8_lossy(&first.stdout).starts_with("requests: 8 (4 files x 2 prefixes)"),
        "{}",
        show(&first)
    );
    assert_eq!(generated(), 8);
    assert_eq!(cached_files(), 8);
    // The encoded names reached the same entries a browser's URLs do.
    for url in ["/t/sub/c%20d.jpg?w=200&h=200", "/thumb/%C3%A9.jpg"] {
        let get = nginx.get(url);
        get.assert_status(200);
        assert_eq!(get.header("X-Image-Filter-Cache"), Some("HIT"), "{url}");
    }

    // Again: everything is already there, nothing is made.
    let second = warm(&["--root", photos, &thumb, &t200], "");
    assert_eq!(second.status.code(), Some(0), "{}", show(&second));
    assert_eq!(figure(&second, "already cached"), 8, "{}", show(&second));
    assert_eq!(figure(&second, "made"), 0);
    assert_eq!(generated(), 8);

    // extra/ holds a.jpg and notes.txt: /extra/ makes a.jpg and refuses the
    // text (415); /thumb/ (photos/) has a.jpg cached and no notes.txt (404).
    let extra = nginx.media_dir().join("extra");
    let third = warm(
        &[
            "--root",
            extra.to_str().unwrap(),
            &format!("{base}/extra/"),
            &thumb,
        ],
        "",
    );
    assert_eq!(third.status.code(), Some(1), "{}", show(&third));
    assert_eq!(figure(&third, "made"), 1, "{}", show(&third));
    assert_eq!(figure(&third, "already cached"), 1);
    let stdout = String::from_utf8_lossy(&third.stdout);
    assert!(
        stdout.contains("\nfailed: 2 (404: 1, 415: 1)\n"),
        "{}",
        show(&third)
    );
    let stderr = String::from_utf8_lossy(&third.stderr);
    assert!(
        stderr.contains(&format!("failed: 404 {base}/thumb/notes.txt\n")),
        "{}",
        show(&third)
    );
    assert!(
        stderr.contains(&format!("failed: 415 {base}/extra/notes.txt\n")),
        "{}",
        show(&third)
    );
    assert_eq!(generated(), 9);

    // --root -: relative paths from stdin, as `find . -type f` prints them.
    let t300 = format!("{base}/t/?w=300&h=300");
    let listed = warm(&["--root", "-", &t300], "./sub/b.jpg\na.jpg\n");
    assert_eq!(listed.status.code(), Some(0), "{}", show(&listed));
    assert_eq!(figure(&listed, "made"), 2, "{}", show(&listed));
    assert_eq!(generated(), 11);
    assert_eq!(cached_files(), 11);
    assert_eq!(
        nginx
            .get("/t/sub/b.jpg?w=300&h=300")
            .header("X-Image-Filter-Cache"),
        Some("HIT")
    );
    nginx.stop_and_check();
}
