//! The files the handler reaches through nginx, as the static module does:
//! the original's path mapped from the URI with `root`/`alias` and stat-ed
//! through the open-file cache (with `disable_symlinks` and the static
//! module's statuses for failures), and cache files opened for sending.

use core::ptr;

use ngx::ffi::{
    ngx_http_map_uri_to_path, ngx_http_request_t, ngx_http_set_disable_symlinks, ngx_int_t,
    ngx_open_cached_file, ngx_open_file_info_t, ngx_str_t, NGX_HTTP_INTERNAL_SERVER_ERROR,
    NGX_LOG_ERR, NGX_OK,
};
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule};
use thumbnailer::key::CacheKey;
use thumbnailer::ErrorClass;

use crate::cache::CachePath;
use crate::errors::{Class, Refusal};
use crate::handler::{connection_log, log_line, refuse, SERVER_ERROR};

/// A cache file opened for sending.
pub(crate) struct OpenFile {
    pub fd: i32,
    pub name: ngx_str_t,
    pub directio: bool,
}

/// The location's settings for opening a file, as the static module uses
/// them.
fn open_file_info(clcf: &ngx::ffi::ngx_http_core_loc_conf_t) -> ngx_open_file_info_t {
    // SAFETY: ngx_open_file_info_t is a C structure valid when zeroed.
    let mut of: ngx_open_file_info_t = unsafe { core::mem::zeroed() };
    of.read_ahead = clcf.read_ahead;
    of.directio = clcf.directio;
    of.valid = clcf.open_file_cache_valid;
    of.min_uses = clcf.open_file_cache_min_uses;
    of.set_events(clcf.open_file_cache_events as u32);
    of
}

/// Opens the key's cache file with nginx (through `open_file_cache` when set) and
/// checks its size against the index.
pub(crate) fn open_cache_file(
    r: &mut ngx_http_request_t,
    cache: &CachePath,
    key: &CacheKey,
    expected_size: u64,
) -> Option<OpenFile> {
    let mut bytes =
        std::os::unix::ffi::OsStringExt::into_vec(cache.file_path(key).into_os_string());
    bytes.push(0);
    // SAFETY: the request pool outlives the response that uses this name.
    let mut name = unsafe { ngx_str_t::from_bytes(r.pool, &bytes) }?;
    name.len -= 1;
    let clcf = NgxHttpCoreModule::location_conf(r)?;
    // Through the location's `open_file_cache` when there is one, so a hit
    // keeps its descriptor as a static file does. A cached descriptor may be
    // of a file replaced since (a new version of the original makes the
    // same key): when its size is not the index's, open afresh.
    let caches = [clcf.open_file_cache, ptr::null_mut()];
    let attempts = if caches[0].is_null() { 1 } else { 2 };
    let mut opened = None;
    for &cache in &caches[..attempts] {
        let mut of = open_file_info(clcf);
        // SAFETY: nginx opens and fstats the NUL-terminated name; the file
        // is closed by the open-file cache or, without one, by a cleanup of
        // the request pool.
        let rc = unsafe { ngx_open_cached_file(cache, &mut name, &mut of, r.pool) };
        if rc == NGX_OK as ngx_int_t && of.is_file() != 0 && of.size as u64 == expected_size {
            opened = Some(of);
            break;
        }
    }
    let of = opened?;
    Some(OpenFile {
        fd: of.fd,
        name,
        directio: of.is_directio() != 0,
    })
}

/// The original's path as nginx maps the URI with `root`/`alias`; the string
/// is NUL-terminated in the request pool.
pub(crate) fn map_uri_to_path(r: &mut ngx_http_request_t) -> Option<ngx_str_t> {
    map_uri_to_path_and_root(r).map(|(path, _)| path)
}

/// The mapped path and the length of the `root` or `alias` it starts with.
pub(crate) fn map_uri_to_path_and_root(r: &mut ngx_http_request_t) -> Option<(ngx_str_t, usize)> {
    let mut path = ngx_str_t::empty();
    let mut root = 0usize;
    // SAFETY: `r` is valid; nginx allocates the path in the request pool and
    // returns a pointer to its terminating NUL, or null on failure.
    let last = unsafe { ngx_http_map_uri_to_path(r, &mut path, &mut root, 0) };
    if last.is_null() {
        return None;
    }
    // SAFETY: `last` points into the buffer that starts at `path.data`.
    path.len = unsafe { last.offset_from(path.data) } as usize;
    Some((path, root))
}

pub(crate) enum Original {
    File(ngx_open_file_info_t),
    Directory,
}

/// Stats the original through nginx's open-file cache, honouring
/// `disable_symlinks` and `open_file_cache`, with the static module's
/// statuses for failures.
pub(crate) fn open_original(
    r: &mut ngx_http_request_t,
    mut path: ngx_str_t,
) -> Result<Original, ngx_int_t> {
    let clcf = NgxHttpCoreModule::location_conf(r).ok_or(SERVER_ERROR)?;
    let mut of = open_file_info(clcf);
    of.set_errors(clcf.open_file_cache_errors as u32);
    // Only the stat: the original is read by the generation task, and a hit
    // must cost no more than that.
    of.set_test_only(1);
    // SAFETY: `r`, `clcf` and `path` are valid for the call; `of` is ours.
    let rc = unsafe {
        if ngx_http_set_disable_symlinks(r, ptr::from_ref(clcf).cast_mut(), &mut path, &mut of)
            != NGX_OK as ngx_int_t
        {
            return Err(SERVER_ERROR);
        }
        ngx_open_cached_file(clcf.open_file_cache, &mut path, &mut of, r.pool)
    };
    if rc != NGX_OK as ngx_int_t {
        return Err(open_failure(r, clcf.log_not_found != 0, &path, &of));
    }
    if of.is_dir() != 0 {
        return Ok(Original::Directory);
    }
    if of.is_file() == 0 {
        let refusal = Refusal::new(Class::Image(ErrorClass::NotFound), "is not a regular file");
        return Err(refuse(r, path.as_bytes(), &refusal));
    }
    Ok(Original::File(of))
}

/// The static module's mapping of open/stat errors to statuses and levels.
fn open_failure(
    r: &mut ngx_http_request_t,
    log_not_found: bool,
    path: &ngx_str_t,
    of: &ngx_open_file_info_t,
) -> ngx_int_t {
    use ngx::ffi::{
        EACCES, ELOOP, EMLINK, ENAMETOOLONG, ENOENT, ENOTDIR, NGX_HTTP_FORBIDDEN,
        NGX_HTTP_NOT_FOUND, NGX_LOG_CRIT,
    };
    let err = of.err;
    let (status, level, log) = match err as u32 {
        ENOENT | ENOTDIR | ENAMETOOLONG => (NGX_HTTP_NOT_FOUND, NGX_LOG_ERR, log_not_found),
        EACCES | EMLINK | ELOOP => (NGX_HTTP_FORBIDDEN, NGX_LOG_ERR, true),
        _ => (NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_LOG_CRIT, true),
    };
    if log {
        let failed = if of.failed.is_null() {
            String::from("stat()")
        } else {
            // SAFETY: a non-null `failed` is a static C string naming the call.
            unsafe { core::ffi::CStr::from_ptr(of.failed) }
                .to_string_lossy()
                .into_owned()
        };
        let message = format!(
            "image_filter_rs: {failed} \"{}\" failed",
            String::from_utf8_lossy(path.as_bytes())
        );
        log_line(connection_log(r), level, err, &message);
    }
    status as ngx_int_t
}
