//! `image_filter_rs_purge`: a `PURGE` or `DELETE` of an original's URI
//! removes every rendition of it (each size, preset, format and dpr, in
//! every cache zone) from the index and the disk, and answers
//! `{"purged": N}`. The URI is mapped to the original's path with the
//! location's `root`/`alias`, as the thumbnail locations map theirs, so the
//! same layout as `/media/` works. Who may purge is nginx's `allow`/`deny`.

use ngx::ffi::{
    ngx_http_discard_request_body, ngx_http_request_t, ngx_int_t, NGX_HTTP_BAD_REQUEST,
    NGX_HTTP_DELETE, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_ALLOWED, NGX_HTTP_OK,
    NGX_LOG_ALERT, NGX_LOG_INFO, NGX_OK,
};
use ngx::http::HttpModuleMainConf;

use crate::handler::{connection_log, log_line, map_uri_to_path, origin_of};
use crate::response;
use crate::ImageFilterRsModule;

const SERVER_ERROR: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// The content handler of `image_filter_rs_purge`.
pub extern "C" fn purge_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls content handlers with the current, valid request.
    let r = unsafe { &mut *r };
    let log = connection_log(r);
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| purge(r))).unwrap_or_else(|_| {
        log_line(
            log,
            NGX_LOG_ALERT,
            0,
            "image_filter_rs: internal error (panic) in a purge",
        );
        SERVER_ERROR
    })
}

fn purge(r: &mut ngx_http_request_t) -> ngx_int_t {
    let purge_method = r.method & NGX_HTTP_DELETE as usize != 0
        || r.method_name.as_bytes().eq_ignore_ascii_case(b"PURGE");
    if !purge_method {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    // SAFETY: `r` is the request being handled.
    let rc = unsafe { ngx_http_discard_request_body(r) };
    if rc != NGX_OK as ngx_int_t {
        return rc;
    }
    if r.uri.as_bytes().last() == Some(&b'/') {
        return response::send_text(
            r,
            NGX_HTTP_BAD_REQUEST as usize,
            "purging a directory is not supported: purge each original\n",
        );
    }
    let Some(path) = map_uri_to_path(r) else {
        return SERVER_ERROR;
    };
    let path = path.as_bytes().to_vec();
    let origin = origin_of(&path);
    let caches = ImageFilterRsModule::main_conf(r).map_or(&[][..], |m| &m.caches[..]);
    let mut purged = 0u64;
    for cache in caches {
        let Some(index) = cache.index() else {
            continue;
        };
        let mut removed = Vec::new();
        {
            let mut locked = index.lock();
            locked.remove_origin(origin, &mut removed);
            let counters = locked.counters();
            counters.purges += 1;
            counters.purged_files += removed.len() as u64;
        }
        cache.remove_files(&removed);
        purged += removed.len() as u64;
    }
    log_line(
        connection_log(r),
        NGX_LOG_INFO,
        0,
        &format!(
            "image_filter_rs: purged {purged} renditions of \"{}\"",
            String::from_utf8_lossy(&path)
        ),
    );
    let body = format!("{{\"purged\": {purged}}}\n");
    response::send_small(r, NGX_HTTP_OK as usize, "application/json", &body)
}
