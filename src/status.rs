//! `$image_filter_rs_cache_status`: what the cache did for this request, in
//! the words of nginx's `$upstream_cache_status`.

use core::ptr;

use ngx::core::Status;
use ngx::ffi::{
    ngx_http_request_t, ngx_int_t, ngx_pcalloc, ngx_str_t, ngx_uint_t,
    ngx_variable_value_t, NGX_HTTP_VAR_NOCACHEABLE,
};
use ngx::http::HttpModule;
use ngx::ngx_string;

use crate::ImageFilterRsModule;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheStatus {
    /// Generated and stored.
    Miss,
    /// Served from the cache file.
    Hit,
    /// The cache file was made from an older version of the original;
    /// generated again.
    Expired,
    /// No cache configured for the location.
    Bypass,
}

impl CacheStatus {
    fn as_str(self) -> &'static str {
        match self {
            CacheStatus::Miss => "MISS",
            CacheStatus::Hit => "HIT",
            CacheStatus::Expired => "EXPIRED",
            CacheStatus::Bypass => "BYPASS",
        }
    }
}

/// Per-request state of the module, in the request's module context slot.
#[derive(Clone, Copy)]
pub struct RequestCtx {
    pub cache_status: Option<CacheStatus>,
}

/// Records the status for the variable, creating the request context on
/// first use. Returns false only when the pool is out of memory.
pub fn set_cache_status(r: &mut ngx_http_request_t, status: CacheStatus) -> bool {
    let index = ImageFilterRsModule::module().ctx_index;
    // SAFETY: `r.ctx` has one slot per http module; ours holds null or a
    // RequestCtx this function allocated from the request pool.
    unsafe {
        let slot = r.ctx.add(index);
        let mut ctx = (*slot).cast::<RequestCtx>();
        if ctx.is_null() {
            ctx = ngx_pcalloc(r.pool, core::mem::size_of::<RequestCtx>()).cast();
            if ctx.is_null() {
                return false;
            }
            ctx.write(RequestCtx { cache_status: None });
            *slot = ctx.cast();
        }
        (*ctx).cache_status = Some(status);
    }
    true
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
    let index = ImageFilterRsModule::module().ctx_index;
    // SAFETY: nginx passes a valid request and value; the context slot holds
    // null or our RequestCtx (see set_cache_status).
    unsafe {
        let v = &mut *v;
        let ctx = (*(*r).ctx.add(index)).cast::<RequestCtx>();
        match ctx.as_ref().and_then(|c| c.cache_status) {
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
    }
    Status::NGX_OK.into()
}

