//! `image_filter_rs_status` in Prometheus's text format: after misses, hits,
//! 404s and 400s served by two workers, the output passes `promtool check
//! metrics`, each counter equals the JSON page's figure, the generation
//! time histogram counts every generation with cumulative buckets; the
//! format is chosen by `?format=` or `Accept` (then with `Vary: Accept`);
//! and the budget's gauges show jobs queued in and run by the thread pool
//! and jobs waiting for a generation slot while they do.

use std::collections::BTreeSet;
use std::time::Duration;

use image_filter_rs_tests::http::{self, Request};
use image_filter_rs_tests::images;
use image_filter_rs_tests::presets::{thumb_location, SAMPLES};
use image_filter_rs_tests::prometheus::{promtool_check, Exposition, Sample};
use image_filter_rs_tests::status::{parse_json, Json};
use image_filter_rs_tests::{wait_until, Nginx, Response};

const PROMETHEUS_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// What Prometheus 2.x and 3.x send when scraping.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,\
    application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Each zone metric and the JSON member of `caches.<zone>` it shows.
const ZONE_METRICS: &[(&str, &str)] = &[
    ("image_filter_rs_cache_entries", "entries"),
    ("image_filter_rs_cache_capacity_entries", "capacity"),
    ("image_filter_rs_cache_size_bytes", "size"),
    ("image_filter_rs_cache_max_size_bytes", "max_size"),
    ("image_filter_rs_cache_loaded", "loaded"),
    ("image_filter_rs_cache_hits_total", "hits"),
    ("image_filter_rs_cache_misses_total", "misses"),
    ("image_filter_rs_cache_expired_total", "expired"),
    ("image_filter_rs_cache_waits_total", "waits"),
    ("image_filter_rs_generations_total", "generated"),
    (
        "image_filter_rs_generation_failures_total",
        "generation_failures",
    ),
    ("image_filter_rs_store_failures_total", "store_failures"),
    ("image_filter_rs_cache_evictions_total", "evictions"),
    (
        "image_filter_rs_cache_inactive_removals_total",
        "inactive_removals",
    ),
    ("image_filter_rs_cache_lock_timeouts_total", "lock_timeouts"),
    ("image_filter_rs_cache_stale_locks_total", "stale_locks"),
    ("image_filter_rs_cache_damaged_files_total", "damaged_files"),
    ("image_filter_rs_cache_loaded_files_total", "loaded_files"),
    ("image_filter_rs_cache_claim_races_total", "claim_races"),
    ("image_filter_rs_purges_total", "purges"),
    ("image_filter_rs_purged_files_total", "purged_files"),
    ("image_filter_rs_generations_discarded_total", "discarded"),
    (
        "image_filter_rs_cache_originals_checked_total",
        "originals_checked",
    ),
    (
        "image_filter_rs_cache_originals_gone_total",
        "originals_gone",
    ),
];

/// Each machine-wide metric and the JSON member of `memory` it shows.
const BUDGET_METRICS: &[(&str, &str)] = &[
    ("image_filter_rs_memory_limit_bytes", "limit"),
    ("image_filter_rs_memory_reserved_bytes", "reserved"),
    ("image_filter_rs_generation_slots", "slots"),
    ("image_filter_rs_generation_slots_taken", "slots_taken"),
    ("image_filter_rs_generation_slot_waiters", "slot_waiters"),
    ("image_filter_rs_jobs_waiting", "jobs_waiting"),
    (
        "image_filter_rs_thread_pool_queued_tasks",
        "pool_tasks_queued",
    ),
    (
        "image_filter_rs_thread_pool_running_tasks",
        "pool_tasks_running",
    ),
];

const SOURCE_CLASSES: [&str; 5] = ["2xx", "304", "4xx", "5xx", "error"];

/// A JSON figure as a number: whole numbers, `true`/`false` as 1/0.
fn number(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) => n.parse().ok(),
        Json::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn member<'a>(json: &'a Json, path: &[&str]) -> &'a Json {
    path.iter().fold(json, |j, name| {
        j.get(name)
            .unwrap_or_else(|| panic!("the status JSON has no {path:?} ({name} missing)"))
    })
}

fn get_metrics(nginx: &Nginx, path: &str, accept: Option<&str>) -> Response {
    nginx.request(&Request::get(path).optional_header("Accept", accept))
}

fn prometheus(nginx: &Nginx) -> Exposition {
    let resp = get_metrics(nginx, "/status?format=prometheus", None);
    resp.assert_status(200);
    assert_eq!(
        resp.headers_named("Content-Type"),
        [PROMETHEUS_TYPE],
        "{}",
        resp.describe()
    );
    Exposition::parse(&String::from_utf8(resp.body).expect("UTF-8 exposition"))
}

fn json(nginx: &Nginx) -> Json {
    let resp = get_metrics(nginx, "/status?format=json", None);
    resp.assert_status(200);
    assert_eq!(
        resp.headers_named("Content-Type"),
        ["application/json"],
        "{}",
        resp.describe()
    );
    let text = String::from_utf8(resp.body).expect("UTF-8 JSON");
    parse_json(&text).unwrap_or_else(|e| panic!("bad status JSON ({e}):\n{text}"))
}

/// Distinct originals for `two_workers`, each a first request's miss.
const ORIGINALS: usize = 200;

/// Two workers, each taking connections from its own `reuseport` socket so
/// both serve; two cache zones (`spare` stays unused); each response names
/// its worker in `X-Worker`.
fn two_workers() -> Nginx {
    let mut builder = Nginx::builder()
        .http(
            "image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m levels=1:2 max_size=50m;\n\
             image_filter_rs_cache_path @PREFIX@/spare keys_zone=spare:1m;",
        )
        .server(&thumb_location(
            "/thumb/",
            "",
            "120x120",
            Some("thumbs"),
            "add_header X-Worker $pid always;",
        ))
        .server(&thumb_location(
            "/q/",
            "",
            "query",
            Some("thumbs"),
            "image_filter_rs_sizes 64x64 96x96;",
        ))
        .server("location = /status { image_filter_rs_status; }")
        .worker_processes(2)
        .sample_media(SAMPLES);
    for i in 0..ORIGINALS {
        builder = builder.file(
            &format!("media/g{i}.jpg"),
            images::jpeg(160, 120, [i as u8, 100, 200]),
        );
    }
    let config = builder.config_template().replace(
        "listen 127.0.0.1:@PORT@;",
        "listen 127.0.0.1:@PORT@ reuseport;",
    );
    builder.start_config_text(&config)
}

#[test]
fn prometheus_counters_equal_the_json_figures_after_two_workers_served() {
    let nginx = two_workers();
    // Fresh originals are misses (one generation each) until both workers
    // have made some: the histogram must count every worker's generations.
    let mut makers = BTreeSet::new();
    let mut misses = 0;
    while makers.len() < 2 || misses < 8 {
        assert!(
            misses < ORIGINALS,
            "{ORIGINALS} generations were all made by the workers {makers:?}:\n{}",
            nginx.report()
        );
        let batch: Vec<Request> = (misses..misses + 4)
            .map(|i| Request::get(&format!("/thumb/g{i}.jpg")))
            .collect();
        for resp in http::concurrent_complete(nginx.port(), &batch) {
            resp.assert_status(200);
            assert_eq!(resp.cache_status(), Some("MISS"), "{}", resp.describe());
            makers.insert(resp.expect_header("X-Worker").to_string());
            misses += 1;
        }
    }
    let mut hits = 0;
    for name in &SAMPLES[..3] {
        assert_eq!(
            nginx.get(&format!("/thumb/{name}")).cache_status(),
            Some("MISS")
        );
        misses += 1;
        for _ in 0..2 {
            let resp = nginx.get(&format!("/thumb/{name}"));
            assert_eq!(resp.cache_status(), Some("HIT"), "{}", resp.describe());
            hits += 1;
        }
    }
    nginx.get("/thumb/absent.jpg").assert_status(404);
    nginx.get("/q/absent.jpg?w=64&h=64").assert_status(404);
    nginx.get("/q/seeding.jpg?w=abc").assert_status(400);

    // The cache manager adds to originals_checked every second: a JSON page
    // fetched between two identical expositions saw the same figures.
    let (prom, json) = wait_until(
        "two identical expositions around a JSON page",
        Duration::from_secs(10),
        || {
            let before = prometheus(&nginx);
            let json = json(&nginx);
            let after = prometheus(&nginx);
            (before.text == after.text).then_some((after, json))
        },
    );

    if let Some((ok, said)) = promtool_check(&prom.text) {
        assert!(
            ok,
            "promtool check metrics failed:\n{said}\n---\n{}",
            prom.text
        );
        assert!(said.trim().is_empty(), "promtool has remarks:\n{said}");
    }
    for (name, kind) in &prom.types {
        assert_eq!(
            kind == "counter",
            name.ends_with("_total"),
            "{name} is a {kind}: counters, and only they, end in _total"
        );
    }

    let thumbs = member(&json, &["caches", "thumbs"]);
    assert_eq!(number(member(thumbs, &["generated"])), Some(misses as f64));
    assert_eq!(number(member(thumbs, &["misses"])), Some(misses as f64));
    assert_eq!(number(member(thumbs, &["hits"])), Some(hits as f64));

    // Every figure of every zone, in both formats.
    for zone in ["thumbs", "spare"] {
        let fields = member(&json, &["caches", zone]);
        let Json::Object(members) = fields else {
            panic!("caches.{zone} is not an object")
        };
        for (field, value) in members {
            if field == "generation_seconds" {
                continue;
            }
            if field == "max_size" && *value == Json::Null {
                assert!(
                    !prom.samples.iter().any(
                        |s| s.name.ends_with("max_size_bytes") && s.label("zone") == Some(zone)
                    ),
                    "no max_size, no sample for {zone}"
                );
                continue;
            }
            let want = number(value).unwrap_or_else(|| panic!("caches.{zone}.{field} = {value:?}"));
            let got = match field.strip_prefix("source_fetches_") {
                Some(class) => prom.value(
                    "image_filter_rs_source_fetches_total",
                    &[("zone", zone), ("class", class)],
                ),
                None => {
                    let (metric, _) = ZONE_METRICS
                        .iter()
                        .find(|(_, j)| j == field)
                        .unwrap_or_else(|| panic!("caches.{zone}.{field} has no metric"));
                    prom.value(metric, &[("zone", zone)])
                }
            };
            assert_eq!(got, want, "{zone}.{field}: Prometheus {got}, JSON {want}");
        }
        for class in SOURCE_CLASSES {
            assert_eq!(
                prom.value(
                    "image_filter_rs_source_fetches_total",
                    &[("zone", zone), ("class", class)]
                ),
                0.0,
                "no upstream source here"
            );
        }
        check_histogram(&prom, &json, zone);
    }
    assert_eq!(
        prom.value(
            "image_filter_rs_generation_seconds_count",
            &[("zone", "thumbs")]
        ),
        misses as f64,
        "the histogram counts every generation"
    );
    assert_eq!(
        prom.value(
            "image_filter_rs_generation_seconds_count",
            &[("zone", "spare")]
        ),
        0.0
    );
    // Every zone sample the module wrote has a JSON counterpart.
    for sample in &prom.samples {
        let known = ZONE_METRICS.iter().any(|(m, _)| *m == sample.name)
            || BUDGET_METRICS.iter().any(|(m, _)| *m == sample.name)
            || sample.name == "image_filter_rs_source_fetches_total"
            || sample
                .name
                .starts_with("image_filter_rs_generation_seconds_");
        assert!(known, "{} has no JSON counterpart", sample.name);
    }
    for (metric, field) in BUDGET_METRICS {
        let want = number(member(&json, &["memory", field])).expect("a number");
        assert_eq!(prom.value(metric, &[]), want, "{metric} vs memory.{field}");
    }
    assert_eq!(
        prom.value("image_filter_rs_memory_limit_bytes", &[]),
        256.0 * 1024.0 * 1024.0,
        "the default image_filter_rs_memory"
    );
    for idle in [
        "image_filter_rs_memory_reserved_bytes",
        "image_filter_rs_jobs_waiting",
        "image_filter_rs_thread_pool_queued_tasks",
        "image_filter_rs_thread_pool_running_tasks",
    ] {
        assert_eq!(
            prom.value(idle, &[]),
            0.0,
            "{idle} once every request is answered"
        );
    }
    nginx.stop_and_check();
}

/// Buckets cumulative and ending at +Inf with the count, as in the JSON.
fn check_histogram(prom: &Exposition, json: &Json, zone: &str) {
    let name = "image_filter_rs_generation_seconds_bucket";
    let buckets: Vec<&Sample> = prom
        .samples
        .iter()
        .filter(|s| s.name == name && s.label("zone") == Some(zone))
        .collect();
    let bounds: Vec<&str> = buckets.iter().map(|s| s.label("le").unwrap()).collect();
    assert_eq!(
        bounds,
        ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"],
        "{zone}'s buckets"
    );
    for pair in buckets.windows(2) {
        assert!(
            pair[0].value <= pair[1].value,
            "{zone}: buckets not cumulative: {buckets:?}"
        );
    }
    let count = prom.value(
        "image_filter_rs_generation_seconds_count",
        &[("zone", zone)],
    );
    assert_eq!(
        buckets.last().unwrap().value,
        count,
        "+Inf bucket is the count"
    );
    let sum = prom.value("image_filter_rs_generation_seconds_sum", &[("zone", zone)]);
    assert_eq!(
        sum > 0.0,
        count > 0.0,
        "{zone}: sum {sum} for {count} generations"
    );
    let histogram = member(json, &["caches", zone, "generation_seconds"]);
    assert_eq!(number(member(histogram, &["count"])), Some(count));
    assert_eq!(number(member(histogram, &["sum"])), Some(sum));
    for bucket in &buckets {
        let le = bucket.label("le").unwrap();
        assert_eq!(
            number(member(histogram, &["buckets", le])),
            Some(bucket.value),
            "{zone} bucket le={le}"
        );
    }
    assert_eq!(
        number(member(json, &["caches", zone, "generated"])),
        Some(count),
        "{zone}: generated and the histogram's count are one figure"
    );
}

#[test]
fn the_format_follows_the_parameter_or_accept_and_says_vary() {
    let nginx = Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m;")
        .server("location = /status { image_filter_rs_status; }")
        .start();
    let is_prometheus = |r: &Response| {
        r.assert_status(200);
        let types = r.headers_named("Content-Type");
        match types[..] {
            [PROMETHEUS_TYPE] => true,
            ["application/json"] => false,
            _ => panic!("one known Content-Type expected:\n{}", r.describe()),
        }
    };
    let cases: [(&str, Option<&str>, bool, bool); 8] = [
        ("/status", None, false, true),
        ("/status", Some("*/*"), false, true),
        ("/status", Some(PROMETHEUS_ACCEPT), true, true),
        ("/status", Some("text/plain;version=0.0.4"), true, true),
        (
            "/status",
            Some("text/plain;q=0.5, application/json"),
            false,
            true,
        ),
        (
            "/status?format=prometheus",
            Some("application/json"),
            true,
            false,
        ),
        ("/status?format=json", Some(PROMETHEUS_ACCEPT), false, false),
        ("/status?x=1&format=prometheus", None, true, false),
    ];
    for (path, accept, want_prometheus, want_vary) in cases {
        let resp = get_metrics(&nginx, path, accept);
        assert_eq!(
            is_prometheus(&resp),
            want_prometheus,
            "{path} with Accept {accept:?}:\n{}",
            resp.describe()
        );
        let vary = resp.headers_named("Vary");
        assert_eq!(
            vary,
            if want_vary { vec!["Accept"] } else { vec![] },
            "{path} with Accept {accept:?}:\n{}",
            resp.describe()
        );
        if want_prometheus {
            let text = String::from_utf8_lossy(&resp.body);
            assert!(
                text.contains("image_filter_rs_cache_hits_total{zone=\"thumbs\"} 0\n"),
                "{text}"
            );
        }
    }
    let bad = nginx.get("/status?format=xml");
    bad.assert_status(400);
    let lines = nginx.error_log_lines_with(&["image_filter_rs_status: unknown format \"xml\""]);
    assert_eq!(
        lines.len(),
        1,
        "one error-log line for the bad format: {lines:?}"
    );
    nginx.stop_and_check();
}

/// Polls the Prometheus output until `cond` holds, with a deadline.
fn wait_for_gauges(nginx: &Nginx, what: &str, cond: impl Fn(&Exposition) -> bool) -> Exposition {
    wait_until(what, Duration::from_secs(15), || {
        let prom = prometheus(nginx);
        cond(&prom).then_some(prom)
    })
}

#[test]
fn gauges_show_tasks_queued_and_running_in_the_pool_and_jobs_waiting_for_a_slot() {
    // One worker, one pool thread: of three slow generations posted at
    // once, one runs and two wait in the pool's queue.
    let mut builder = Nginx::builder()
        .main("thread_pool one threads=1 max_queue=8;")
        .server(&thumb_location(
            "/slow/",
            "",
            "64x64",
            None,
            "image_filter_rs_thread_pool one; image_filter_rs_debug_delay 1500ms;",
        ))
        .server(&thumb_location(
            "/slot/",
            "",
            "48x48",
            None,
            "image_filter_rs_debug_delay 2500ms;",
        ))
        .http("image_filter_rs_concurrency 1; image_filter_rs_memory_timeout 20s;")
        .server("location = /status { image_filter_rs_status; }");
    for i in 0..3 {
        builder = builder.file(
            &format!("media/g{i}.jpg"),
            images::jpeg(160, 120, [60 * i as u8, 120, 200]),
        );
    }
    let nginx = builder.start();
    let port = nginx.port();
    let gauge = |p: &Exposition, name: &str| p.value(name, &[]);

    let slow: Vec<Request> = (0..3)
        .map(|i| Request::get(&format!("/slow/g{i}.jpg")))
        .collect();
    let clients = std::thread::spawn(move || http::concurrent_complete(port, &slow));
    let busy = wait_for_gauges(&nginx, "one task running and two queued", |p| {
        gauge(p, "image_filter_rs_thread_pool_running_tasks") == 1.0
            && gauge(p, "image_filter_rs_thread_pool_queued_tasks") == 2.0
    });
    assert_eq!(gauge(&busy, "image_filter_rs_generation_slots"), 1.0);
    for resp in clients.join().expect("clients") {
        resp.assert_status(200);
        assert_eq!(images::decode(&resp.body).dims(), (64, 48));
    }
    wait_for_gauges(&nginx, "the pool idle again", |p| {
        gauge(p, "image_filter_rs_thread_pool_running_tasks") == 0.0
            && gauge(p, "image_filter_rs_thread_pool_queued_tasks") == 0.0
    });

    // One generation slot: the second of two generations sleeps for it in
    // its pool thread (a slot waiter), then waits on a timer (a job waiting)
    // until the first is done.
    let two: Vec<Request> = (0..2)
        .map(|i| Request::get(&format!("/slot/g{i}.jpg")))
        .collect();
    let clients = std::thread::spawn(move || http::concurrent_complete(port, &two));
    let asleep = wait_for_gauges(&nginx, "a pool thread asleep for the slot", |p| {
        gauge(p, "image_filter_rs_generation_slot_waiters") == 1.0
    });
    assert_eq!(
        gauge(&asleep, "image_filter_rs_generation_slots_taken"),
        1.0
    );
    wait_for_gauges(&nginx, "a job waiting for room", |p| {
        gauge(p, "image_filter_rs_jobs_waiting") == 1.0
    });
    for resp in clients.join().expect("clients") {
        resp.assert_status(200);
        assert_eq!(images::decode(&resp.body).dims(), (48, 36));
    }
    let idle = wait_for_gauges(&nginx, "nothing waiting or running", |p| {
        gauge(p, "image_filter_rs_jobs_waiting") == 0.0
            && gauge(p, "image_filter_rs_generation_slots_taken") == 0.0
            && gauge(p, "image_filter_rs_generation_slot_waiters") == 0.0
            && gauge(p, "image_filter_rs_memory_reserved_bytes") == 0.0
    });
    if let Some((ok, said)) = promtool_check(&idle.text) {
        assert!(ok, "promtool check metrics failed:\n{said}");
    }
    nginx.stop_and_check();
}
