//! What the module tells about itself: `$image_filter_rs_cache_status` (what
//! the cache did for this request, in the words of nginx's
//! `$upstream_cache_status`), and the `image_filter_rs_status` page with each
//! cache zone's figures and the shared budget's, as JSON (`json.rs`) or in
//! Prometheus's text format (`prometheus.rs`), both rendered from one
//! `Snapshot` so they cannot disagree.

use core::ptr;

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_request_t, ngx_int_t, ngx_str_t, ngx_uint_t, ngx_variable_value_t,
    NGX_HTTP_BAD_REQUEST, NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_HTTP_NOT_ALLOWED, NGX_HTTP_VAR_NOCACHEABLE, NGX_LOG_ERR,
};
use ngx::http::HttpModuleMainConf;
use ngx::ngx_string;

use crate::handler::{connection_log, log_line, request_ctx};
use crate::index::Counters;
use crate::memory::{BudgetFigures, MemoryBudget};
use crate::response::{self, Body, Meta};
use crate::ImageFilterRsModule;

mod format;
mod json;
mod prometheus;

pub use format::Format;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Made and stored.
    Miss,
    /// Served from the cache file.
    Hit,
    /// The cache file was made from an older version of the original (or
    /// was damaged); made again.
    Expired,
    /// Another request was making it when this one arrived: this one waited
    /// and was served that result (or, past the lock timeout, made its own).
    Updating,
    /// No cache for this location.
    Bypass,
    /// Served from the cache file after the upstream original's
    /// validators were confirmed (304, or the same ETag/Last-Modified).
    Revalidated,
    /// Served from the cache file because the upstream original could not
    /// be fetched (`image_filter_rs_source_stale on`).
    Stale,
}

impl CacheStatus {
    fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Miss => "MISS",
            CacheStatus::Hit => "HIT",
            CacheStatus::Expired => "EXPIRED",
            CacheStatus::Updating => "UPDATING",
            CacheStatus::Bypass => "BYPASS",
            CacheStatus::Revalidated => "REVALIDATED",
            CacheStatus::Stale => "STALE",
        }
    }
}

pub struct VariableSpec {
    pub name: ngx_str_t,
    pub flags: ngx_uint_t,
    pub get_handler: ngx::ffi::ngx_http_get_variable_pt,
}

pub const VARIABLES: [VariableSpec; 1] = [VariableSpec {
    name: ngx_string!("image_filter_rs_cache_status"),
    flags: NGX_HTTP_VAR_NOCACHEABLE as ngx_uint_t,
    get_handler: Some(cache_status_variable),
}];

unsafe extern "C" fn cache_status_variable(
    r: *mut ngx_http_request_t,
    v: *mut ngx_variable_value_t,
    _data: usize,
) -> ngx_int_t {
    // SAFETY: nginx passes a valid request and value.
    let (r, v) = unsafe { (&*r, &mut *v) };
    match request_ctx(r).and_then(|ctx| ctx.cache_status) {
        Some(status) => {
            let text = status.as_str();
            v.set_len(text.len() as u32);
            v.set_valid(1);
            v.set_no_cacheable(0);
            v.set_not_found(0);
            v.data = text.as_ptr().cast_mut();
        }
        None => {
            v.set_not_found(1);
            v.data = ptr::null_mut();
        }
    }
    Status::NGX_OK.into()
}

/// The content handler of `image_filter_rs_status`.
pub extern "C" fn status_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls content handlers with the current, valid request.
    let r = unsafe { &mut *r };
    if r.method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as ngx_uint_t == 0 {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    // No panic may unwind into nginx: the report and the sending both run
    // inside the guard.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| answer(r)))
        .unwrap_or(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
}

fn answer(r: &mut ngx_http_request_t) -> ngx_int_t {
    let args = r.args.as_bytes().to_vec();
    // SAFETY: `accept` is null or a header element of this request.
    let accept = unsafe { r.headers_in.accept.as_ref() }.map(|h| h.value.as_bytes().to_vec());
    let choice = match format::choose(&args, accept.as_deref()) {
        Ok(choice) => choice,
        Err(bad) => {
            let message = format!(
                "image_filter_rs_status: unknown format \"{}\" (json or prometheus)",
                String::from_utf8_lossy(&bad)
            );
            log_line(connection_log(r), NGX_LOG_ERR, 0, &message);
            return response::send_text(r, NGX_HTTP_BAD_REQUEST as usize, &(message + "\n"));
        }
    };
    let snapshot = Snapshot::take(r);
    let body = match choice.format {
        Format::Json => json::render(&snapshot),
        Format::Prometheus => prometheus::render(&snapshot),
    };
    let meta = Meta {
        vary_accept: choice.by_accept,
        ..Meta::generated(choice.format.content_type(), body.len())
    };
    response::send(r, &meta, Body::Memory(body.as_bytes()))
}

/// Everything the page shows, read once: each zone's under its lock, the
/// budget's from its atomics.
pub struct Snapshot {
    pub zones: Vec<ZoneFigures>,
    /// None until nginx has mapped the budget zone.
    pub budget: Option<BudgetFigures>,
}

pub struct ZoneFigures {
    pub name: String,
    /// None when the zone's index is not mapped (never, once workers run).
    pub index: Option<IndexFigures>,
}

pub struct IndexFigures {
    pub entries: u64,
    pub capacity: u64,
    pub size: u64,
    pub max_size: Option<u64>,
    pub loaded: bool,
    pub counters: Counters,
}

impl Snapshot {
    fn take(r: &ngx_http_request_t) -> Snapshot {
        let caches = ImageFilterRsModule::main_conf(r).map_or(&[][..], |m| &m.caches[..]);
        let zones = caches
            .iter()
            .map(|cache| ZoneFigures {
                name: cache.zone_name.to_string(),
                index: cache.index().map(|index| {
                    let mut locked = index.lock();
                    IndexFigures {
                        entries: locked.used(),
                        capacity: locked.capacity(),
                        size: locked.total_size(),
                        max_size: cache.max_size,
                        loaded: locked.loaded(),
                        counters: *locked.counters(),
                    }
                }),
            })
            .collect();
        Snapshot {
            zones,
            budget: MemoryBudget::of_request(r).map(|b| b.figures()),
        }
    }
}

/// One counter of a zone: its JSON name, its Prometheus name and help.
pub struct CounterField {
    pub json: &'static str,
    pub metric: &'static str,
    pub help: &'static str,
    pub get: fn(&Counters) -> u64,
}

macro_rules! counter {
    ($field:ident, $metric:literal, $help:literal) => {
        CounterField {
            json: stringify!($field),
            metric: $metric,
            help: $help,
            get: |c| c.$field,
        }
    };
}

/// The zone counters in the JSON's order. Source fetches and generation
/// times, which have labels or buckets, are written by each format itself.
pub const COUNTERS: [CounterField; 19] = [
    counter!(
        hits,
        "image_filter_rs_cache_hits_total",
        "Requests served from a cache file."
    ),
    counter!(
        misses,
        "image_filter_rs_cache_misses_total",
        "Requests that made a rendition absent from the cache."
    ),
    counter!(
        expired,
        "image_filter_rs_cache_expired_total",
        "Renditions made again because their original changed or their file was damaged."
    ),
    counter!(
        waits,
        "image_filter_rs_cache_waits_total",
        "Requests that waited for another request making the same rendition."
    ),
    counter!(
        generated,
        "image_filter_rs_generations_total",
        "Renditions made (the generation time histogram counts the same)."
    ),
    counter!(
        generation_failures,
        "image_filter_rs_generation_failures_total",
        "Generations refused or failed (bad, missing or oversized originals)."
    ),
    counter!(
        store_failures,
        "image_filter_rs_store_failures_total",
        "Renditions made but not written to the cache."
    ),
    counter!(
        evictions,
        "image_filter_rs_cache_evictions_total",
        "Entries removed to stay within max_size or the keys zone."
    ),
    counter!(
        inactive_removals,
        "image_filter_rs_cache_inactive_removals_total",
        "Entries removed for not being used within inactive."
    ),
    counter!(
        lock_timeouts,
        "image_filter_rs_cache_lock_timeouts_total",
        "Waits for another request's generation that ran past the lock timeout."
    ),
    counter!(
        stale_locks,
        "image_filter_rs_cache_stale_locks_total",
        "Generation claims taken over from a dead or timed-out maker."
    ),
    counter!(
        damaged_files,
        "image_filter_rs_cache_damaged_files_total",
        "Cache files found damaged and made again."
    ),
    counter!(
        loaded_files,
        "image_filter_rs_cache_loaded_files_total",
        "Cache files indexed by the cache loader at start."
    ),
    counter!(
        claim_races,
        "image_filter_rs_cache_claim_races_total",
        "Generation claims lost to a request that claimed the key first."
    ),
    counter!(purges, "image_filter_rs_purges_total", "Purge requests."),
    counter!(
        purged_files,
        "image_filter_rs_purged_files_total",
        "Cache files removed by purges."
    ),
    counter!(
        discarded,
        "image_filter_rs_generations_discarded_total",
        "Renditions served but not kept because their original was purged or deleted meanwhile."
    ),
    counter!(
        originals_checked,
        "image_filter_rs_cache_originals_checked_total",
        "Index entries whose original the cache manager looked at."
    ),
    counter!(
        originals_gone,
        "image_filter_rs_cache_originals_gone_total",
        "Entries removed because their original was gone."
    ),
];
