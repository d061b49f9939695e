//! The demo page of `make run`, opened in a real headless Chromium served by
//! the real nginx with the module, at device pixel ratio 1 and 2: every
//! image loads, each `srcset` gives the width the page expects for the
//! viewport and ratio, no console error, no request leaves 127.0.0.1, the
//! cache panel fills from the status JSON. A screenshot of each ratio is
//! written under `target/` for people to look at.
//!
//! Needs Chromium (Debian's `chromium`, installed by `make test` as root):
//! skipped with a message without it, a failure when `CI` is set.

use std::time::Duration;

use base64::Engine as _;
use image_filter_rs_tests::browser::{chromium_binary, json_string, Browser};
use image_filter_rs_tests::images::decode;
use image_filter_rs_tests::status::{parse_json, Json};
use image_filter_rs_tests::{paths, presets, Nginx};

/// The viewport: wide enough for the 300 px gallery slots.
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 900;

/// Scrolls through the page (so lazy images load), waits with a deadline
/// until every image has settled and the page's own captions and status
/// panel are filled in, and reports what each image became.
const SETTLE_AND_REPORT: &str = r##"(async () => {
  const pause = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let y = 0; y < document.body.scrollHeight; y += 300) {
    window.scrollTo(0, y);
    await pause(30);
  }
  window.scrollTo(0, 0);
  const deadline = Date.now() + 20000;
  const imgs = [...document.images];
  const ready = () =>
    imgs.every((i) => i.complete) &&
    document.querySelectorAll(".picked").length ===
      document.querySelectorAll("img[data-srcset-test]").length &&
    [...document.querySelectorAll(".format, .value")].every((s) => s.textContent !== "…") &&
    Number(document.querySelector("[data-stat=entries]").textContent) > 0;
  while (!ready() && Date.now() < deadline) await pause(50);
  return JSON.stringify({
    ready: ready(),
    entries: document.querySelector("[data-stat=entries]").textContent,
    formats: [...document.querySelectorAll(".format")].map((s) => s.textContent),
    placeholders: [...document.querySelectorAll("#placeholders .value")].map((s) => s.textContent),
    swatch: getComputedStyle(document.querySelector(".swatch")).backgroundColor,
    images: imgs.map((i) => ({
      src: i.getAttribute("src"),
      current: i.currentSrc,
      complete: i.complete,
      natural: i.naturalWidth,
      naturalHeight: i.naturalHeight,
      srcset: i.hasAttribute("data-srcset-test"),
    })),
  });
})()"##;

fn text(json: &Json, name: &str) -> String {
    match json.get(name) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.clone(),
        Some(Json::Bool(b)) => b.to_string(),
        other => panic!("{name}: {other:?}"),
    }
}

fn number(json: &Json, name: &str) -> u64 {
    text(json, name)
        .parse()
        .unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn the_demo_page_loads_every_thumbnail_at_the_width_it_expects() {
    let Some(chromium) = chromium_binary() else {
        let msg = "demo_page: no Chromium (apt-get install chromium, or set IFRS_CHROMIUM)";
        if std::env::var_os("CI").is_some() {
            panic!("{msg}; CI is set, so this is a failure, not a skip");
        }
        paths::notice(msg);
        return;
    };
    let conf = std::fs::read_to_string(paths::repo_root().join("nginx-conf/demo.conf"))
        .expect("nginx-conf/demo.conf");
    let nginx = Nginx::builder()
        .sample_media(presets::SAMPLES)
        .start_config_text(&conf);
    let origin = format!("http://127.0.0.1:{}", nginx.port());
    let out_dir = paths::repo_root().join("target");

    for dpr in [1u32, 2] {
        let mut browser = Browser::launch(&chromium);
        let target = browser.call(None, "Target.createTarget", r#"{"url":"about:blank"}"#);
        let target_id = text(&target, "targetId");
        let attached = browser.call(
            None,
            "Target.attachToTarget",
            &format!(
                "{{\"targetId\":{},\"flatten\":true}}",
                json_string(&target_id)
            ),
        );
        let session = text(&attached, "sessionId");
        let s = Some(session.as_str());
        for domain in ["Network", "Runtime", "Log", "Page"] {
            browser.call(s, &format!("{domain}.enable"), "{}");
        }
        browser.call(
            s,
            "Emulation.setDeviceMetricsOverride",
            &format!(
                "{{\"width\":{WIDTH},\"height\":{HEIGHT},\"deviceScaleFactor\":{dpr},\"mobile\":false}}"
            ),
        );
        browser.call(
            s,
            "Page.navigate",
            &format!("{{\"url\":{}}}", json_string(&format!("{origin}/"))),
        );
        browser.wait_for_event("Page.loadEventFired", Duration::from_secs(60));
        let result = browser.call(
            s,
            "Runtime.evaluate",
            &format!(
                "{{\"expression\":{},\"awaitPromise\":true,\"returnByValue\":true}}",
                json_string(SETTLE_AND_REPORT)
            ),
        );
        let value = result
            .get("result")
            .map(|r| text(r, "value"))
            .unwrap_or_else(|| panic!("dpr {dpr}: no value: {result:?}"));
        let report = parse_json(&value).unwrap_or_else(|e| panic!("{e}: {value}"));
        assert_eq!(text(&report, "ready"), "true", "dpr {dpr}: {value}");
        assert!(number(&report, "entries") > 0, "dpr {dpr}: {value}");

        let Some(Json::Array(images)) = report.get("images") else {
            panic!("dpr {dpr}: {value}");
        };
        assert!(images.len() >= 21, "dpr {dpr}: {} images", images.len());
        let want_width = 320 * dpr;
        let mut srcset_images = 0;
        for img in images {
            let current = text(img, "current");
            assert_eq!(text(img, "complete"), "true", "dpr {dpr}: {current}");
            assert!(
                number(img, "natural") > 0,
                "dpr {dpr}: {current} did not decode"
            );
            assert!(
                current.starts_with(&format!("{origin}/")),
                "dpr {dpr}: {current} is not from the test's nginx"
            );
            if text(img, "srcset") == "true" {
                srcset_images += 1;
                assert!(
                    current.ends_with(&format!("?w={want_width}")),
                    "dpr {dpr}: picked {current}, expected w={want_width}"
                );
                // (naturalWidth is in CSS pixels, scaled by the candidate's
                // density: ask nginx for the bytes themselves.)
                let path = &current[origin.len()..];
                let served = decode(&nginx.get(path).body);
                assert_eq!(served.width, want_width, "{current}");
            }
            // The fit modes have 1x and 2x candidates.
            if text(img, "src").contains("h=240") {
                assert_eq!(
                    current.ends_with("&dpr=2"),
                    dpr == 2,
                    "dpr {dpr}: {current}"
                );
            }
            // The portrait is stored on its side: shown upright.
            if current.contains("portrait.jpg") {
                assert!(
                    number(img, "naturalHeight") > number(img, "natural"),
                    "dpr {dpr}: {current} is not upright"
                );
            }
        }
        assert_eq!(srcset_images, 5, "dpr {dpr}");
        // Chromium asks for AVIF and WebP: fm=auto answers in AVIF.
        let Some(Json::Array(formats)) = report.get("formats") else {
            panic!("dpr {dpr}: {value}");
        };
        let formats: Vec<&str> = formats
            .iter()
            .map(|f| match f {
                Json::String(s) => s.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(formats.len(), 5, "dpr {dpr}: {formats:?}");
        for (i, want) in [
            "image/avif",
            "image/jpeg",
            "image/webp",
            "image/avif",
            "image/png",
        ]
        .iter()
        .enumerate()
        {
            assert!(formats[i].starts_with(want), "dpr {dpr}: {formats:?}");
        }

        // The placeholders: a colour the swatch shows, an LQIP's size, the
        // two hash strings.
        let Some(Json::Array(placeholders)) = report.get("placeholders") else {
            panic!("dpr {dpr}: {value}");
        };
        let placeholders: Vec<String> = placeholders
            .iter()
            .map(|p| match p {
                Json::String(s) => s.clone(),
                other => panic!("{other:?}"),
            })
            .collect();
        let [colour, lqip, thumbhash, blurhash] = &placeholders[..] else {
            panic!("dpr {dpr}: {placeholders:?}");
        };
        assert!(
            colour.len() == 7 && colour.starts_with('#'),
            "dpr {dpr}: {colour}"
        );
        let channel = |i: usize| u8::from_str_radix(&colour[i..i + 2], 16).unwrap();
        assert_eq!(
            text(&report, "swatch"),
            format!("rgb({}, {}, {})", channel(1), channel(3), channel(5)),
            "dpr {dpr}"
        );
        assert!(lqip.starts_with("image/webp"), "dpr {dpr}: {lqip}");
        assert!(
            thumbhash.len() >= 24
                && thumbhash
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"+/=".contains(&b)),
            "dpr {dpr}: {thumbhash}"
        );
        assert_eq!(blurhash.len(), 28, "dpr {dpr}: {blurhash}");

        // Nothing the page asked for left the machine, and nothing failed.
        for request in browser.events_named("Network.requestWillBeSent") {
            let url = request
                .get("params")
                .and_then(|p| p.get("request"))
                .map(|r| text(r, "url"))
                .unwrap_or_default();
            assert!(
                url.starts_with(&format!("{origin}/")) || url.starts_with("data:"),
                "dpr {dpr}: the page requested {url}"
            );
        }
        let url_of = |id: &str| {
            browser
                .events_named("Network.requestWillBeSent")
                .into_iter()
                .filter_map(|e| e.get("params"))
                .find(|p| text(p, "requestId") == id)
                .and_then(|p| p.get("request").map(|r| text(r, "url")))
                .unwrap_or_default()
        };
        if let Some(failed) = browser.events_named("Network.loadingFailed").first() {
            let params = failed.get("params").expect("params");
            panic!(
                "dpr {dpr}: a request failed: {} {:?}",
                url_of(&text(params, "requestId")),
                params
            );
        }
        for call in browser.events_named("Runtime.consoleAPICalled") {
            let kind = call
                .get("params")
                .map(|p| text(p, "type"))
                .unwrap_or_default();
            assert_ne!(kind, "error", "dpr {dpr}: console error: {call:?}");
        }
        let thrown = browser.events_named("Runtime.exceptionThrown");
        assert!(thrown.is_empty(), "dpr {dpr}: {thrown:?}");
        for entry in browser.events_named("Log.entryAdded") {
            let level = entry
                .get("params")
                .and_then(|p| p.get("entry"))
                .map(|e| text(e, "level"))
                .unwrap_or_default();
            assert_ne!(level, "error", "dpr {dpr}: {entry:?}");
        }

        // The whole page, for people to look at.
        let metrics = browser.call(s, "Page.getLayoutMetrics", "{}");
        let height = metrics
            .get("cssContentSize")
            .map(|c| text(c, "height"))
            .and_then(|h| h.parse::<f64>().ok())
            .unwrap_or(f64::from(HEIGHT));
        let shot = browser.call(
            s,
            "Page.captureScreenshot",
            &format!(
                "{{\"format\":\"png\",\"captureBeyondViewport\":true,\"clip\":{{\"x\":0,\"y\":0,\"width\":{WIDTH},\"height\":{height},\"scale\":1}}}}"
            ),
        );
        let png = base64::engine::general_purpose::STANDARD
            .decode(text(&shot, "data"))
            .expect("base64 screenshot");
        let decoded = image::load_from_memory(&png).expect("the screenshot is a PNG");
        assert_eq!(decoded.width(), WIDTH * dpr);
        std::fs::create_dir_all(&out_dir).unwrap();
        let file = out_dir.join(format!("demo-page-dpr{dpr}.png"));
        std::fs::write(&file, &png).unwrap();
        println!("screenshot: {}", file.display());
        if dpr == 1 {
            // The top of the page, small enough for the README
            // (demo/screenshot.png is a copy of this file).
            let top = browser.call(
                s,
                "Page.captureScreenshot",
                &format!(
                    "{{\"format\":\"png\",\"clip\":{{\"x\":0,\"y\":0,\"width\":{WIDTH},\"height\":{HEIGHT},\"scale\":0.6}}}}"
                ),
            );
            let png = base64::engine::general_purpose::STANDARD
                .decode(text(&top, "data"))
                .expect("base64 screenshot");
            let file = out_dir.join("demo-page-top.png");
            std::fs::write(&file, &png).unwrap();
            println!("screenshot: {}", file.display());
        }
    }
    nginx.stop_and_check();
}
