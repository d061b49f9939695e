//! The content handler, step by step: check the request, map the URI to the
//! original, stat it, derive the cache key, serve a fresh cache file, or
//! generate the thumbnail, store it and serve it.

use core::ptr;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ngx::ffi::{
    ngx_err_t, ngx_file_t, ngx_http_discard_request_body, ngx_http_map_uri_to_path,
    ngx_http_request_t, ngx_http_set_disable_symlinks, ngx_int_t, ngx_open_cached_file,
    ngx_open_file_info_t, ngx_read_file, ngx_str_t, ngx_uint_t, NGX_DECLINED, NGX_HTTP_GET,
    NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_ALLOWED, NGX_LOG_ALERT,
    NGX_LOG_ERR, NGX_OK,
};
use ngx::http::{HttpModuleLocationConf, NgxHttpCoreModule};
use thumbnailer::key::CacheKey;
use thumbnailer::store::{CacheHeader, Validators, HEADER_MAX};
use thumbnailer::{EncodeOptions, ErrorClass, Job, Limits};

use crate::cache::{self, CachePath, SharedState};
use crate::conf::{Filter, LocationConf};
use crate::errors::{Class, Refusal};
use crate::response::{self, Body, Meta};
use crate::status::{set_cache_status, CacheStatus};
use crate::task::{GenerateTask, StoreTarget};
use crate::ImageFilterRsModule;

const SERVER_ERROR: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// The `clcf->handler` of locations with `image_filter_rs`.
pub extern "C" fn content_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls content handlers with the current, valid request.
    let r = unsafe { &mut *r };
    let log = r.connection_log();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(r))) {
        Ok(rc) => rc,
        Err(_) => {
            log_line(log, NGX_LOG_ALERT as ngx_uint_t, 0, "image_filter_rs: internal error (panic)");
            SERVER_ERROR
        }
    }
}

fn handle(r: &mut ngx_http_request_t) -> ngx_int_t {
    if r.method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as ngx_uint_t == 0 {
        return NGX_HTTP_NOT_ALLOWED as ngx_int_t;
    }
    // A URI naming a directory is the index module's, as with static files.
    if r.uri.as_bytes().last() == Some(&b'/') {
        return NGX_DECLINED as ngx_int_t;
    }
    let Some(lcf) = ImageFilterRsModule::location_conf(r) else {
        return SERVER_ERROR;
    };
    let Some(Filter::Resize(geometry)) = lcf.filter else {
        return NGX_DECLINED as ngx_int_t;
    };
    // SAFETY: `r` is the request being handled.
    let rc = unsafe { ngx_http_discard_request_body(r) };
    if rc != NGX_OK as ngx_int_t {
        return rc;
    }

    let Some(path) = map_uri_to_path(r) else {
        return SERVER_ERROR;
    };
    let original = match open_original(r, path) {
        Ok(Original::File(info)) => info,
        Ok(Original::Directory) => return NGX_DECLINED as ngx_int_t,
        Err(rc) => return rc,
    };
    let job = Job {
        geometry,
        encode: EncodeOptions {
            jpeg_quality: lcf.jpeg_quality(),
            ..EncodeOptions::default()
        },
        limits: Limits::default(),
    };
    let path_text = path.as_bytes();
    if original.size as u64 > job.limits.max_source_size {
        return refuse(
            r,
            path_text,
            &Refusal::new(
                Class::Image(ErrorClass::TooLarge),
                format!(
                    "original is over the {}-byte source size limit",
                    job.limits.max_source_size
                ),
            ),
        );
    }
    let key = CacheKey::derive(path_text, &job.canonical());
    let validators = cache::validators(&original);
    let etag = format!(
        "\"{}-{:x}-{:x}\"",
        &key.to_hex()[..16],
        original.mtime,
        original.size
    );

    let Some(cache) = lcf.cache() else {
        set_cache_status(r, CacheStatus::Bypass);
        return generate(r, lcf, path_text, job, None, original.mtime, &etag);
    };
    let status = match lookup(r, cache, &key, &validators) {
        Lookup::Fresh(hit) => {
            set_cache_status(r, CacheStatus::Hit);
            if let Some(shared) = cache.shared() {
                SharedState::count(&shared.hits);
            }
            let meta = Meta {
                content_type: &hit.header.content_type,
                length: hit.header.body_len,
                last_modified: original.mtime,
                etag: &etag,
            };
            return response::send(r, &meta, hit.body);
        }
        Lookup::Stale => CacheStatus::Expired,
        Lookup::Missing => CacheStatus::Miss,
    };
    set_cache_status(r, status);
    let target = StoreTarget {
        root: cache.root.clone(),
        relative: cache.relative_path(&key),
        key,
        original: validators,
    };
    generate(r, lcf, path_text, job, Some((cache, target)), original.mtime, &etag)
}

/// Runs the generation task and answers with its result.
fn generate(
    r: &mut ngx_http_request_t,
    _lcf: &LocationConf,
    path: &[u8],
    job: Job,
    store: Option<(&CachePath, StoreTarget)>,
    mtime: ngx::ffi::time_t,
    etag: &str,
) -> ngx_int_t {
    let (cache, target) = match store {
        Some((cache, target)) => (Some(cache), Some(target)),
        None => (None, None),
    };
    let task = GenerateTask {
        original: PathBuf::from(OsStr::from_bytes(path)),
        job,
        store: target,
    };
    let generated = match task.run() {
        Ok(generated) => generated,
        Err(refusal) => return refuse(r, path, &refusal),
    };
    if let Some(shared) = cache.and_then(CachePath::shared) {
        SharedState::count(&shared.generated);
    }
    if let Some(Err(err)) = &generated.stored {
        if let Some(shared) = cache.and_then(CachePath::shared) {
            SharedState::count(&shared.store_failures);
        }
        let message = format!(
            "image_filter_rs: storing the thumbnail of \"{}\" failed ({err}), served uncached",
            String::from_utf8_lossy(path)
        );
        log_line(r.connection_log(), NGX_LOG_ERR as ngx_uint_t, 0, &message);
    }
    let thumbnail = &generated.thumbnail;
    let meta = Meta {
        content_type: thumbnail.format.mime_type(),
        length: thumbnail.bytes.len() as u64,
        last_modified: mtime,
        etag,
    };
    response::send(r, &meta, Body::Memory(&thumbnail.bytes))
}

/// Logs the refusal once and returns its status.
fn refuse(r: &mut ngx_http_request_t, path: &[u8], refusal: &Refusal) -> ngx_int_t {
    let message = format!(
        "image_filter_rs: \"{}\": {}",
        String::from_utf8_lossy(path),
        refusal
    );
    log_line(r.connection_log(), refusal.log_level(), 0, &message);
    refusal.http_status() as ngx_int_t
}

/// The original's path as nginx maps the URI with `root`/`alias`; the string
/// is NUL-terminated in the request pool.
fn map_uri_to_path(r: &mut ngx_http_request_t) -> Option<ngx_str_t> {
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
    Some(path)
}

enum Original {
    File(ngx_open_file_info_t),
    Directory,
}

/// Stats the original through nginx's open-file cache, honouring
/// `disable_symlinks` and `open_file_cache`, with the static module's
/// statuses for failures.
fn open_original(r: &mut ngx_http_request_t, mut path: ngx_str_t) -> Result<Original, ngx_int_t> {
    let clcf = NgxHttpCoreModule::location_conf(r).ok_or(SERVER_ERROR)?;
    // SAFETY: ngx_open_file_info_t is a C structure valid when zeroed.
    let mut of: ngx_open_file_info_t = unsafe { core::mem::zeroed() };
    of.read_ahead = clcf.read_ahead;
    of.directio = clcf.directio;
    of.valid = clcf.open_file_cache_valid;
    of.min_uses = clcf.open_file_cache_min_uses;
    of.set_errors(clcf.open_file_cache_errors as u32);
    of.set_events(clcf.open_file_cache_events as u32);
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
        let refusal = Refusal::new(
            Class::Image(ErrorClass::NotFound),
            "is not a regular file",
        );
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
        // SAFETY: `failed` is null or a static C string naming the syscall.
        let failed = unsafe { of.failed.as_ref() }
            .map(|_| unsafe { core::ffi::CStr::from_ptr(of.failed) }.to_string_lossy())
            .unwrap_or_default();
        let message = format!(
            "image_filter_rs: {failed} \"{}\" failed",
            String::from_utf8_lossy(path.as_bytes())
        );
        log_line(r.connection_log(), level as ngx_uint_t, err, &message);
    }
    status as ngx_int_t
}

struct Hit<'a> {
    header: CacheHeader,
    body: Body<'a>,
}

enum Lookup<'a> {
    Fresh(Hit<'a>),
    /// A cache file for this key exists but was made from another version of
    /// the original, or is damaged.
    Stale,
    Missing,
}

/// Opens the key's cache file and checks its header against the key and the
/// original's validators.
fn lookup<'a>(
    r: &mut ngx_http_request_t,
    cache: &CachePath,
    key: &CacheKey,
    validators: &Validators,
) -> Lookup<'a> {
    let file_path = cache.file_path(key);
    let mut bytes = file_path.as_os_str().as_bytes().to_vec();
    bytes.push(0);
    // SAFETY: the request pool outlives the response that uses this name.
    let Some(mut name) = (unsafe { ngx_str_t::from_bytes(r.pool, &bytes) }) else {
        return Lookup::Missing;
    };
    name.len -= 1;
    // SAFETY: zeroed open-file info is valid input; with no cache given,
    // nginx opens and fstats the file and registers a pool cleanup that
    // closes it when the request ends.
    let mut of: ngx_open_file_info_t = unsafe { core::mem::zeroed() };
    of.directio = NgxHttpCoreModule::location_conf(r).map_or(i64::MAX, |c| c.directio);
    let rc = unsafe { ngx_open_cached_file(ptr::null_mut(), &mut name, &mut of, r.pool) };
    if rc != NGX_OK as ngx_int_t || of.is_file() == 0 {
        return Lookup::Missing;
    }
    let mut head = [0u8; HEADER_MAX];
    // SAFETY: ngx_file_t is valid when zeroed; `of.fd` is open until the
    // request pool is destroyed; `head` has HEADER_MAX writable bytes.
    let read = unsafe {
        let mut file: ngx_file_t = core::mem::zeroed();
        file.fd = of.fd;
        file.name = name;
        file.log = (*r.connection).log;
        ngx_read_file(&mut file, head.as_mut_ptr(), head.len(), 0)
    };
    if read <= 0 {
        return Lookup::Stale;
    }
    match CacheHeader::decode(&head[..read as usize], Some(of.size as u64)) {
        Ok((header, offset)) if cache::is_fresh(&header, key, validators) => Lookup::Fresh(Hit {
            header,
            body: Body::File {
                fd: of.fd,
                name,
                offset,
                directio: of.is_directio() != 0,
            },
        }),
        _ => Lookup::Stale,
    }
}

fn log_line(log: *mut ngx::ffi::ngx_log_t, level: ngx_uint_t, err: ngx_err_t, message: &str) {
    // SAFETY: `log` is the connection's log, valid while the request is.
    unsafe {
        if level <= (*log).log_level {
            ngx::log::log_error(level, log, err, message.as_bytes());
        }
    }
}

trait RequestLog {
    fn connection_log(&self) -> *mut ngx::ffi::ngx_log_t;
}

impl RequestLog for ngx_http_request_t {
    fn connection_log(&self) -> *mut ngx::ffi::ngx_log_t {
        // SAFETY: every request has a live connection with a log.
        unsafe { (*self.connection).log }
    }
}
