//! Every example configuration in `nginx-conf/*.conf` must pass `nginx -t`
//! with the real module, and those that can be started by the harness must
//! start, serve a thumbnail from each thumbnail location, and stop cleanly.
//!
//! The examples use placeholders (`@PREFIX@`, `@PORT@`, `@MODULE@`,
//! `@MEDIA@`) that are filled in for a temporary prefix. A file with its own
//! `http { }` block is a whole configuration (`load_module @MODULE@;` is
//! added if it lacks one); anything else is taken as directives for the
//! `http` block of the harness's own configuration.

use std::fs;
use std::path::{Path, PathBuf};

use image_filter_rs_tests::images::decode;
use image_filter_rs_tests::{paths, presets, Builder, ConfigCheck, Nginx};

fn example_configs() -> Vec<PathBuf> {
    let dir = paths::repo_root().join("nginx-conf");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

fn uncommented(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or_default().trim())
}

/// Whether the text opens an `http` block of its own.
fn has_http_block(text: &str) -> bool {
    uncommented(text).any(|l| l == "http" || l.starts_with("http {") || l.starts_with("http{"))
}

/// A whole configuration: the text itself, with the module loaded.
fn as_full_config(text: &str) -> String {
    if uncommented(text).any(|l| l.starts_with("load_module")) {
        text.to_string()
    } else {
        format!("load_module @MODULE@;\n{text}")
    }
}

/// Stages the sample media the examples point `@MEDIA@` at, if present
/// (`nginx -t` does not need them; serving does).
fn with_media(builder: Builder) -> Builder {
    presets::SAMPLES
        .iter()
        .filter(|name| paths::sample_media_dir().join(name).is_file())
        .fold(builder, |b, name| b.sample_media(&[name]))
}

fn read(file: &Path) -> String {
    fs::read_to_string(file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()))
}

fn check(file: &Path) -> ConfigCheck {
    let text = read(file);
    if has_http_block(&text) {
        with_media(Nginx::builder()).check_config_text(&as_full_config(&text))
    } else {
        with_media(Nginx::builder().http(&text)).check()
    }
}

/// Prefix locations (`location /x/ { … }`) whose block turns thumbnailing
/// on with a size of its own, found by a plain scan: enough for the
/// project's own examples. Locations sized by the request (`query`,
/// variables) are left out: a bare GET of them is rightly a 400 or 403, and
/// `t/tests/url_api.rs` exercises them with the parameters they need.
fn thumbnail_locations(text: &str) -> Vec<String> {
    let lines: Vec<&str> = uncommented(text).collect();
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let ["location", path, "{", ..] = tokens.as_slice() else {
            continue;
        };
        if !path.starts_with('/') || !path.ends_with('/') {
            continue;
        }
        // The block's text: from the opening brace to the matching one.
        let mut block = String::new();
        let mut depth = 0i32;
        'lines: for l in &lines[i..] {
            for c in l.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    _ => {}
                }
                block.push(c);
                if depth == 0 && c == '}' {
                    break 'lines;
                }
            }
            block.push('\n');
        }
        let thumbnails = block
            .split([';', '{', '}'])
            .map(|stmt| stmt.split_whitespace().collect::<Vec<_>>())
            .any(|t| {
                t.first() == Some(&"image_filter_rs")
                    && t.get(1).is_some_and(|a| {
                        !["off", "query", "easy_thumbnails", "versatileimagefield"].contains(a)
                            && !a.contains('$')
                    })
            });
        if thumbnails {
            found.push(path.to_string());
        }
    }
    found
}

#[test]
fn every_example_config_passes_nginx_t() {
    let files = example_configs();
    if files.is_empty() {
        paths::notice(
            "example_configs: nginx-conf/ holds no *.conf yet; nothing to check (passes vacuously)",
        );
        return;
    }
    let mut failures = Vec::new();
    for file in &files {
        let check = check(file);
        let ok = check.success && check.output.contains("test is successful");
        println!("{}: {}", file.display(), if ok { "ok" } else { "FAILED" });
        if !ok {
            failures.push(format!("{}:\n{}", file.display(), check.describe()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} example config(s) fail nginx -t:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n\n")
    );
}

#[test]
fn example_configs_start_serve_thumbnails_and_stop_cleanly() {
    let files = example_configs();
    if files.is_empty() {
        paths::notice("example_configs: nginx-conf/ holds no *.conf yet; nothing to start");
        return;
    }
    let mut started = 0;
    for file in &files {
        let text = read(file);
        // The harness recognises readiness by the pid file and the port.
        let startable = has_http_block(&text)
            && text.contains("pid @PREFIX@/logs/nginx.pid;")
            && text.contains("listen 127.0.0.1:@PORT@");
        if !startable {
            paths::notice(&format!(
                "example_configs: {} is checked with nginx -t only (it does not write \
                 its pid to @PREFIX@/logs/nginx.pid and listen on 127.0.0.1:@PORT@)",
                file.display()
            ));
            continue;
        }
        let nginx = with_media(Nginx::builder()).start_config_text(&as_full_config(&text));
        for location in thumbnail_locations(&text) {
            for name in presets::SAMPLES {
                let url = format!("{location}{name}");
                let resp = nginx.get(&url);
                assert_eq!(
                    resp.status,
                    200,
                    "{}: GET {url}:\n{}",
                    file.display(),
                    resp.describe()
                );
                let img = decode(&resp.body);
                let (w, h) =
                    image_filter_rs_tests::images::file_dims(&nginx.media_dir().join(name));
                assert!(
                    img.width <= w && img.height <= h,
                    "{}: {url} enlarged the image",
                    file.display()
                );
            }
        }
        nginx.stop_and_check();
        started += 1;
    }
    println!("started {started} of {} example config(s)", files.len());
}

#[test]
fn location_scan_finds_thumbnail_locations() {
    let text = "server {\n  location /media/ { alias x; }\n  location /t/ {\n    image_filter_rs 1x1;\n  }\n  location /o/ { image_filter_rs off; }\n  location /one/ { alias x; image_filter_rs 5x5 crop; }\n  location /q/ { image_filter_rs query; }\n  location /v/ { image_filter_rs ${arg_w}x${arg_h}; }\n  location /p/ { image_filter_rs thumbnail; }\n}\n";
    assert_eq!(thumbnail_locations(text), vec!["/t/", "/one/", "/p/"]);
}
