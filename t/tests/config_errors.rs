//! Configuration errors, as `nginx -t` reports them: each bad directive is
//! refused with a message naming the value, the directive and the place in
//! the configuration, and a valid configuration passes.

use image_filter_rs_tests::{presets, Nginx};

#[test]
fn bad_geometry_names_value_directive_file_and_line() {
    let check = Nginx::builder()
        .server("location /t/ { alias @MEDIA@/; image_filter_rs 12q; }")
        .check();
    let place = check.location_of("image_filter_rs 12q;");
    check.assert_fails_with(&[
        r#"invalid value "12q" in "image_filter_rs" directive"#,
        &place,
    ]);
}

#[test]
fn unknown_mode_is_refused() {
    let check = Nginx::builder()
        .server("location /t/ { alias @MEDIA@/; image_filter_rs 350x350 stretch; }")
        .check();
    let place = check.location_of("stretch");
    check.assert_fails_with(&["\"stretch\"", "image_filter_rs", &place]);
}

/// `nginx -t` refuses each of `values` for `directive` in a thumbnail
/// location, naming the value and the place.
fn assert_values_refused(directive: &str, values: &[&str]) {
    for bad in values {
        let line = format!("{directive} {bad};");
        let check = Nginx::builder()
            .server(&format!(
                "location /t/ {{ alias @MEDIA@/; image_filter_rs 350x350; {line} }}"
            ))
            .check();
        let place = check.location_of(&line);
        check.assert_fails_with(&[&format!("invalid value \"{bad}\""), &place]);
    }
}

/// `nginx -t` accepts each of `values` for `directive`.
fn assert_values_accepted(directive: &str, values: &[&str]) {
    for ok in values {
        Nginx::builder()
            .server(&format!(
                "location /t/ {{ alias @MEDIA@/; image_filter_rs 350x350; {directive} {ok}; }}"
            ))
            .check()
            .assert_ok();
    }
}

#[test]
fn jpeg_quality_out_of_range_is_refused() {
    assert_values_refused("image_filter_rs_jpeg_quality", &["101", "0"]);
}

#[test]
fn jpeg_quality_bounds_are_accepted() {
    assert_values_accepted("image_filter_rs_jpeg_quality", &["1", "100"]);
}

#[test]
fn webp_effort_takes_zero_to_six() {
    assert_values_refused("image_filter_rs_webp_effort", &["7", "-1", "fast"]);
    assert_values_accepted("image_filter_rs_webp_effort", &["0", "6"]);
}

#[test]
fn avif_settings_take_their_ranges() {
    assert_values_refused("image_filter_rs_avif_quality", &["0", "101", "high"]);
    assert_values_accepted("image_filter_rs_avif_quality", &["1", "100"]);
    assert_values_refused("image_filter_rs_avif_speed", &["11", "-1", "fast"]);
    assert_values_accepted("image_filter_rs_avif_speed", &["0", "10"]);
    assert_values_refused(
        "image_filter_rs_avif_max_pixels",
        &["0", "-5", "1.5m", "on"],
    );
    assert_values_accepted(
        "image_filter_rs_avif_max_pixels",
        &["off", "1500000", "2m", "800k"],
    );
}

#[test]
fn cache_path_without_keys_zone_is_refused() {
    let check = Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache levels=1:2;")
        .check();
    check.assert_fails_with(&["keys_zone", "image_filter_rs_cache_path"]);
}

#[test]
fn cache_path_is_http_only() {
    let check = Nginx::builder()
        .server("image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m;")
        .check();
    check.assert_fails_with(&[r#""image_filter_rs_cache_path" directive is not allowed here"#]);
}

#[test]
fn cache_with_unknown_zone_is_refused() {
    let check = Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m;")
        .server(
            "location /t/ { alias @MEDIA@/; image_filter_rs 350x350; image_filter_rs_cache nosuch; }",
        )
        .check();
    check.assert_fails_with(&["nosuch"]);
}

#[test]
fn valid_configuration_passes() {
    // The shared test configuration plus every directive and its options.
    let check = presets::standard()
        .http("image_filter_rs_jpeg_quality 90;")
        .http(
            "image_filter_rs_cache_path @PREFIX@/cache2 keys_zone=other:2m levels=2 \
             max_size=10m inactive=1h;",
        )
        .server(
            "location /full/ { alias @MEDIA@/; image_filter_rs -x120 fit; image_filter_rs_cache other; }\n\
             location /none/ { alias @MEDIA@/; image_filter_rs 300x200 crop; image_filter_rs_cache off; }\n\
             location /plain/ { alias @MEDIA@/; image_filter_rs off; }",
        )
        .check();
    check.assert_ok();
}

#[test]
fn unknown_directive_fails_so_the_checks_above_mean_something() {
    // Guards the harness: nginx -t must really parse the server snippet.
    let check = Nginx::builder()
        .server("location /t/ { image_filter_rs_no_such_directive 1; }")
        .check();
    let place = check.location_of("image_filter_rs_no_such_directive");
    check.assert_fails_with(&["unknown directive", &place]);
}

#[test]
fn decode_cache_takes_a_size_or_off_once_at_http_level() {
    for ok in ["64m", "off", "512k"] {
        Nginx::builder()
            .http(&format!("image_filter_rs_decode_cache {ok};"))
            .check()
            .assert_ok();
    }
    let check = Nginx::builder()
        .http("image_filter_rs_decode_cache lots;")
        .check();
    let place = check.location_of("image_filter_rs_decode_cache lots;");
    check.assert_fails_with(&[r#"invalid value "lots""#, &place]);
    let check = Nginx::builder()
        .http("image_filter_rs_decode_cache 8m; image_filter_rs_decode_cache 16m;")
        .check();
    check.assert_fails_with(&["is duplicate", "image_filter_rs_decode_cache"]);
    let check = Nginx::builder()
        .server("location /t/ { image_filter_rs_decode_cache 8m; }")
        .check();
    check.assert_fails_with(&["is not allowed here", "image_filter_rs_decode_cache"]);
}

#[test]
fn concurrency_takes_a_positive_count_or_off_once_at_http_level() {
    for ok in ["1", "4", "off"] {
        Nginx::builder()
            .http(&format!("image_filter_rs_concurrency {ok};"))
            .check()
            .assert_ok();
    }
    for bad in ["0", "-1", "two", "1k"] {
        let line = format!("image_filter_rs_concurrency {bad};");
        let check = Nginx::builder().http(&line).check();
        let place = check.location_of(&line);
        check.assert_fails_with(&[&format!(r#"invalid value "{bad}""#), &place]);
    }
    let check = Nginx::builder()
        .http("image_filter_rs_concurrency 1; image_filter_rs_concurrency 2;")
        .check();
    check.assert_fails_with(&["is duplicate", "image_filter_rs_concurrency"]);
    let check = Nginx::builder()
        .server("location /t/ { image_filter_rs_concurrency 1; }")
        .check();
    check.assert_fails_with(&["is not allowed here", "image_filter_rs_concurrency"]);
}

/// `image_filter_rs` written beside another content handler would be
/// silently ignored (nginx runs the other one): `nginx -t` says so instead.
#[test]
fn image_filter_rs_beside_another_content_handler_is_refused() {
    for other in [
        "proxy_pass http://127.0.0.1:9;",
        "return 204;",
        "fastcgi_pass 127.0.0.1:9;",
        "image_filter_rs_status;",
    ] {
        for filter in [
            "image_filter_rs 350x350;",
            "image_filter_rs query; image_filter_rs_sizes 100x100;",
        ] {
            let check = Nginx::builder()
                .server(&format!(
                    "location /t/ {{ alias @MEDIA@/; {filter} {other} }}"
                ))
                .check();
            if other.starts_with("return") {
                // `return` is a rewrite, not a content handler: it answers
                // before content, which nginx users know; nothing to refuse.
                check.assert_ok();
                continue;
            }
            check.assert_fails_with(&[
                "\"image_filter_rs\" cannot be used in a location that has another content handler",
                "location \"/t/\" would serve the original unchanged",
            ]);
        }
    }
    // Inherited, the other handler keeps its location, as before; and
    // `image_filter_rs off` beside it is no conflict.
    Nginx::builder()
        .server(
            "image_filter_rs 350x350; \
             location /t/ { alias @MEDIA@/; } \
             location /p/ { proxy_pass http://127.0.0.1:9; } \
             location /o/ { image_filter_rs off; proxy_pass http://127.0.0.1:9; }",
        )
        .check()
        .assert_ok();
}

#[test]
fn originals_check_takes_a_positive_time() {
    for bad in [
        "originals_check=0",
        "originals_check=soon",
        "originals_check=",
    ] {
        let line = format!("image_filter_rs_cache_path @PREFIX@/c keys_zone=c:1m {bad};");
        let check = Nginx::builder().http(&line).check();
        // The prefix placeholder is replaced in the file: find the line by
        // what follows it.
        let place = check.location_of(&format!("keys_zone=c:1m {bad};"));
        check.assert_fails_with(&[&format!("invalid value \"{bad}\""), &place]);
    }
    Nginx::builder()
        .http("image_filter_rs_cache_path @PREFIX@/c keys_zone=c:1m originals_check=30s;")
        .check()
        .assert_ok();
}
