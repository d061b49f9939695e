//! What the module tells about itself: `$image_filter_rs_cache_status` (what
//! the cache did for this request, in the words of nginx's
//! `$upstream_cache_status`), and the `image_filter_rs_status` page with each
//! cache zone's figures as JSON.

use core::fmt::Write;
use core::ptr;

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_request_t, ngx_int_t, ngx_str_t, ngx_uint_t, ngx_variable_value_t, NGX_HTTP_GET,
    NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_ALLOWED, NGX_HTTP_VAR_NOCACHEABLE,
};
use ngx::http::HttpModuleMainConf;
use ngx::ngx_string;

use crate::handler::request_ctx;
use crate::index::SourceFetch;
use crate::response::{self, Body, Meta};
use crate::ImageFilterRsModule;

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
}

impl CacheStatus {
    fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Miss => "MISS",
            CacheStatus::Hit => "HIT",
            CacheStatus::Expired => "EXPIRED",
            CacheStatus::Updating => "UPDATING",
            CacheStatus::Bypass => "BYPASS",
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
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let body = report(r);
        let meta = Meta::generated("application/json", body.len());
        response::send(r, &meta, Body::Memory(body.as_bytes()))
    }))
    .unwrap_or(NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
}

fn report(r: &ngx_http_request_t) -> String {
    let mut out = String::from("{\"caches\":{");
    let caches = ImageFilterRsModule::main_conf(r).map_or(&[][..], |m| &m.caches[..]);
    for (i, cache) in caches.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\":{{", escape(&cache.zone_name));
        if let Some(index) = cache.index() {
            let mut locked = index.lock();
            let c = *locked.counters();
            let _ = write!(
                out,
                "\"entries\":{},\"capacity\":{},\"size\":{},\"max_size\":{},\"loaded\":{},\
                 \"hits\":{},\"misses\":{},\"expired\":{},\"waits\":{},\"generated\":{},\
                 \"generation_failures\":{},\"store_failures\":{},\"evictions\":{},\
                 \"inactive_removals\":{},\"lock_timeouts\":{},\"stale_locks\":{},\
                 \"damaged_files\":{},\"loaded_files\":{},\"claim_races\":{},\"purges\":{},\"purged_files\":{},\"discarded\":{},\"originals_checked\":{},\"originals_gone\":{}",
                locked.used(),
                locked.capacity(),
                locked.total_size(),
                cache.max_size.map_or("null".to_string(), |m| m.to_string()),
                locked.loaded(),
                c.hits,
                c.misses,
                c.expired,
                c.waits,
                c.generated,
                c.generation_failures,
                c.store_failures,
                c.evictions,
                c.inactive_removals,
                c.lock_timeouts,
                c.stale_locks,
                c.damaged_files,
                c.loaded_files,
                c.claim_races,
                c.purges,
                c.purged_files,
                c.discarded,
                c.originals_checked,
                c.originals_gone,
            );
            for class in SourceFetch::ALL {
                let _ = write!(
                    out,
                    ",\"source_fetches_{}\":{}",
                    class.label(),
                    c.source_fetches(class)
                );
            }
        }
        out.push('}');
    }
    out.push_str("}}\n");
    out
}

fn escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}
