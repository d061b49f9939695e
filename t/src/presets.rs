//! The configuration most tests share, written once: a cache zone, plain
//! originals on `/media/`, cached 350x350 fit thumbnails on `/thumb/`, cached
//! 200x200 crops on `/crop/`, and uncached fit thumbnails on `/nocache/`.
//! Every thumbnail location exposes `$image_filter_rs_cache_status` as
//! `X-Cache-Status`.

use crate::nginx::{Builder, Nginx};

/// The sample media every foundation test may use (in `sample-media/`).
pub const SAMPLES: &[&str] = &[
    "seeding.jpg",
    "sunset.jpg",
    "wine.jpg",
    "gulp.png",
    "portrait.jpg",
];

/// The cache zone declaration, at http level.
pub const CACHE_HTTP: &str =
    "image_filter_rs_cache_path @PREFIX@/cache keys_zone=thumbs:1m levels=1:2;";

/// The `levels=` of [`CACHE_HTTP`], for [`crate::cache::check_layout`].
pub const CACHE_LEVELS: &[usize] = &[1, 2];

/// The cache directory of [`CACHE_HTTP`], relative to the prefix.
pub const CACHE_DIR: &str = "cache";

/// The shared locations, in the server block.
pub const THUMB_SERVER: &str = r#"
location /media/ {
    alias @MEDIA@/;
}
location /thumb/ {
    alias @MEDIA@/;
    image_filter_rs 350x350;
    image_filter_rs_cache thumbs;
    add_header X-Cache-Status $image_filter_rs_cache_status always;
}
location /crop/ {
    alias @MEDIA@/;
    image_filter_rs 200x200 crop;
    image_filter_rs_cache thumbs;
    add_header X-Cache-Status $image_filter_rs_cache_status always;
}
location /nocache/ {
    alias @MEDIA@/;
    image_filter_rs 350x350;
    add_header X-Cache-Status $image_filter_rs_cache_status always;
}
"#;

/// A builder with the shared configuration and all sample media staged;
/// tests add files or directives before `.start()`.
pub fn standard() -> Builder {
    Nginx::builder()
        .http(CACHE_HTTP)
        .server(THUMB_SERVER)
        .sample_media(SAMPLES)
}

/// Where tests that read the cache's counters put `image_filter_rs_status`.
pub const STATUS_PATH: &str = "/status";

/// The status page location (in the server block), at [`STATUS_PATH`].
pub const STATUS_LOCATION: &str = "location = /status { image_filter_rs_status; }";

/// A thumbnail location: originals from `@MEDIA@/<media_sub>`, `op` (as
/// `image_filter_rs` takes it), the cache zone `zone` (or none), the cache
/// status in `X-Cache-Status`, and `extra` directives (debug delay, pool,
/// lock timeout...).
pub fn thumb_location(
    prefix: &str,
    media_sub: &str,
    op: &str,
    zone: Option<&str>,
    extra: &str,
) -> String {
    let cache = zone.map_or(String::new(), |z| {
        format!("image_filter_rs_cache {z};\n    ")
    });
    format!(
        "location {prefix} {{\n    alias @MEDIA@/{media_sub};\n    image_filter_rs {op};\n    \
         {cache}add_header X-Cache-Status $image_filter_rs_cache_status always;\n    {extra}\n}}"
    )
}
