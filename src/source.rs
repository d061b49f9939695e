//! Originals fetched from an upstream (`image_filter_rs_source URI`): an
//! nginx subrequest to a URI of this server, usually an `internal` location
//! that proxies to object storage or another HTTP origin, whose body is
//! collected into memory and handed to the same generation as a file's.
//!
//! Why a body filter and not `NGX_HTTP_SUBREQUEST_IN_MEMORY`: in memory,
//! the upstream module reads the whole body into one buffer of
//! `subrequest_output_buffer_size` (4k or 8k unless raised, and then raised
//! for every subrequest of the location) and fails past it with a vague
//! 502; the module could neither refuse a large `Content-Length` before the
//! body is read nor tell "too large" from "origin down". The filters here
//! see only this module's own subrequests (recognised by their parent's
//! context), check the length against `image_filter_rs_max_source_size`
//! from the headers, collect the body as it streams, and pass nothing on,
//! so no byte of the original reaches the client.
//!
//! Freshness: the upstream's ETag, Last-Modified and length play the role
//! of a file's inode, mtime and size. They are kept in the index entry's
//! validators (see `upstream_validators`) together with when they were last
//! confirmed; within `image_filter_rs_source_valid` of that a hit asks no
//! one, after it one request revalidates with `If-None-Match` /
//! `If-Modified-Since` while the others wait on its claim.

use core::ffi::{c_char, c_void};
use core::ptr::{self, NonNull};
use std::sync::Arc;

use ngx::core::NGX_CONF_OK;
use ngx::ffi::{
    ngx_chain_t, ngx_command_t, ngx_conf_t, ngx_hash_key, ngx_http_complex_value_t,
    ngx_http_finalize_request, ngx_http_output_body_filter_pt, ngx_http_output_header_filter_pt,
    ngx_http_post_subrequest_t, ngx_http_request_empty_handler, ngx_http_request_t,
    ngx_http_subrequest, ngx_http_time, ngx_int_t, ngx_list_part_t, ngx_msec_t, ngx_palloc,
    ngx_pnalloc, ngx_str_t, ngx_table_elt_t, ngx_uint_t, time_t, NGX_ERROR, NGX_HTTP_BAD_GATEWAY,
    NGX_HTTP_GATEWAY_TIME_OUT, NGX_HTTP_NOT_FOUND, NGX_HTTP_NOT_MODIFIED, NGX_HTTP_OK,
    NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, NGX_HTTP_SPECIAL_RESPONSE, NGX_HTTP_SUBREQUEST_WAITED,
    NGX_LOG_ERR, NGX_OK,
};
use thumbnailer::store::Validators;
use thumbnailer::ErrorClass;

use crate::cache::{self, wall_clock_ms, CachePath};
use crate::conf::{directive_handler, guarded, Directive, Filter, LocationConf, DUPLICATE};
use crate::errors::{Class, Refusal};
use crate::handler::{self, connection_log, current_pid, log_line, origin_of, request_ctx, Next};
use crate::index::{self, Claimed, Found, ReadyEntry, SharedValidators, Slot, SourceFetch};
use crate::status::CacheStatus;

const SERVER_ERROR: ngx_int_t = ngx::ffi::NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// `image_filter_rs_source` of a location.
#[derive(Clone, Copy, Debug)]
pub enum SourceSetting {
    /// `off`: originals are files again, below an inherited setting.
    Off,
    Uri(NonNull<ngx_http_complex_value_t>),
}

/// How long a fetched original's validators are trusted without asking
/// the upstream, unless `image_filter_rs_source_valid` says otherwise.
pub const DEFAULT_VALID_MS: ngx_msec_t = 60_000;

/// The `dev` of validators that came from an upstream: a file's are 0 (see
/// `cache::validators`), so an index entry or cache file header tells its
/// kind of original by this alone.
pub const UPSTREAM_DEV: u64 = u64::from_le_bytes(*b"upstream");

directive_handler!(pub(crate) cmd_source, LocationConf, |d, lcf| || {
    if lcf.source.is_some() {
        return DUPLICATE;
    }
    let value = d.args[0];
    if value.as_bytes() == b"off" {
        lcf.source = Some(SourceSetting::Off);
        return NGX_CONF_OK;
    }
    // A URI of this server: a host or scheme here would be a fetch the
    // module makes on its own, which it never does.
    if value.as_bytes().first() != Some(&b'/') && value.as_bytes().first() != Some(&b'$') {
        return d.invalid(&value);
    }
    match crate::conf::compile_complex_value(&mut d, value).and_then(NonNull::new) {
        Some(cv) => {
            lcf.source = Some(SourceSetting::Uri(cv));
            NGX_CONF_OK
        }
        None => ngx::core::NGX_CONF_ERROR,
    }
});

directive_handler!(pub(crate) cmd_source_valid, LocationConf, |d, lcf| || {
    crate::conf::set_msec(&mut d, &mut lcf.source_valid)
});

directive_handler!(pub(crate) cmd_source_stale, LocationConf, |d, lcf| || {
    if lcf.source_stale.is_some() {
        return DUPLICATE;
    }
    let value = d.args[0];
    match crate::conf::parse_on_off(value.as_bytes()) {
        Some(on) => {
            lcf.source_stale = Some(on);
            NGX_CONF_OK
        }
        None => d.invalid(&value),
    }
});

/// The source URI of this request, when the location fetches originals:
/// evaluated, and refused when it does not name a path of this server.
pub fn evaluate_uri(
    r: &mut ngx_http_request_t,
    lcf: &LocationConf,
) -> Result<Option<Vec<u8>>, Refusal> {
    let Some(SourceSetting::Uri(cv)) = lcf.source else {
        return Ok(None);
    };
    let uri = crate::values::evaluate(r, cv.as_ptr())?.into_bytes();
    let path = uri.split(|&b| b == b'?').next().unwrap_or(&[]);
    let bad = path.first() != Some(&b'/')
        || path.windows(4).any(|w| w == b"/../")
        || path.ends_with(b"/..")
        || uri.iter().any(|&b| b < 0x20 || b == 0x7f);
    if bad {
        return Err(Refusal::new(
            Class::Image(ErrorClass::BadRequest),
            format!(
                "image_filter_rs_source evaluated to \"{}\", not a path of this server",
                crate::values::printable(&String::from_utf8_lossy(&uri))
            ),
        ));
    }
    Ok(Some(uri))
}

/// What the location says about fetching, for one request.
#[derive(Clone, Copy)]
pub struct SourcePolicy {
    pub valid_ms: u64,
    pub stale: bool,
}

impl SourcePolicy {
    pub fn of(lcf: &LocationConf) -> Self {
        SourcePolicy {
            valid_ms: lcf.source_valid.unwrap_or(DEFAULT_VALID_MS) as u64,
            stale: lcf.source_stale.unwrap_or(false),
        }
    }
}

/// A request's original from an upstream: the URI, the fetch in flight,
/// and what it brought.
pub struct Fetch {
    pub uri: Vec<u8>,
    policy: SourcePolicy,
    /// The ready entry this request is revalidating (it holds the key's
    /// claim meanwhile), with the ETag its cache file recorded.
    revalidating: Option<(Slot, Vec<u8>)>,
    /// The fetched original, shared with the generation task (which may be
    /// posted again after a wait for memory).
    pub body: Option<Arc<Vec<u8>>>,
    /// What the cache file header records as the original: the URI, a NUL
    /// (which no URI holds) and the ETag, for the next revalidation.
    pub header_path: Vec<u8>,
    subrequest: *mut ngx_http_request_t,
    /// Handed to nginx with the subrequest; its `data` points at `received`.
    post: ngx_http_post_subrequest_t,
    received: Received,
    /// The last fetch's status class, until it is counted.
    class: Option<SourceFetch>,
}

/// What the filters and the post-subrequest handler saw of a fetch.
#[derive(Default)]
struct Received {
    /// The upstream's status; 0 until a header was seen.
    status: usize,
    etag: Vec<u8>,
    last_modified: Option<time_t>,
    content_length: Option<u64>,
    body: Vec<u8>,
    limit: u64,
    /// The last buffer arrived: the body is whole.
    complete: bool,
    /// Refused by length: from `Content-Length`, or cut off while growing.
    too_large: bool,
    /// The body filter failed the subrequest on purpose, which makes
    /// nginx mark the client connection as failed; the post handler
    /// undoes that mark.
    cut_off: bool,
    /// The code nginx finalized the subrequest with, when an error: what
    /// the upstream module answers for a refused connection or a timeout.
    failure: Option<ngx_int_t>,
}

impl Fetch {
    pub fn new(uri: Vec<u8>, policy: SourcePolicy) -> Box<Fetch> {
        Box::new(Fetch {
            header_path: uri.clone(),
            uri,
            policy,
            revalidating: None,
            body: None,
            subrequest: ptr::null_mut(),
            post: ngx_http_post_subrequest_t {
                handler: None,
                data: ptr::null_mut(),
            },
            received: Received::default(),
            class: None,
        })
    }
}

/// Validators of an upstream original: the ETag's hash stands for the
/// inode, Last-Modified for the mtime, the length for the size; the
/// nanoseconds field, never compared for upstream originals, holds when
/// they were last confirmed (Unix seconds).
fn upstream_validators(
    etag: &[u8],
    last_modified: Option<time_t>,
    size: u64,
    confirmed: u64,
) -> Validators {
    Validators {
        dev: UPSTREAM_DEV,
        ino: if etag.is_empty() { 0 } else { origin_of(etag) },
        mtime_sec: last_modified.unwrap_or(0),
        mtime_nsec: u32::try_from(confirmed).unwrap_or(u32::MAX),
        size,
    }
}

fn confirmed_at(v: &SharedValidators) -> u64 {
    u64::from(v.mtime_nsec)
}

/// Whether two upstream validators name the same version of the original:
/// only when there is something to compare, an ETag or a Last-Modified.
fn same_version(a: &SharedValidators, b: &SharedValidators) -> bool {
    a.dev == UPSTREAM_DEV
        && b.dev == UPSTREAM_DEV
        && (a.ino != 0 || a.mtime_sec != 0)
        && a.ino == b.ino
        && a.mtime_sec == b.mtime_sec
        && a.size == b.size
}

pub fn is_upstream(v: &Validators) -> bool {
    v.dev == UPSTREAM_DEV
}

/// The response's ETag for a rendition of an upstream original.
fn rendition_etag(key: &thumbnailer::key::CacheKey, v: &SharedValidators) -> String {
    format!(
        "\"{}-{:x}{:x}-{:x}\"",
        &key.to_hex()[..16],
        v.ino,
        v.mtime_sec,
        v.size
    )
}

/// The source counterpart of `handler::advance`: serve a rendition whose
/// original was confirmed within `source_valid`, wait for a request that is
/// fetching or making it, or claim the key and fetch (conditionally, when
/// a rendition is there to keep).
pub fn advance(r: &mut ngx_http_request_t) -> Next {
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    let Some(cache) = ctx.cache else {
        if ctx.mode == crate::request::Mode::Thumbnail {
            ctx.cache_status = Some(CacheStatus::Bypass);
        }
        return fetch(r);
    };
    let Some(index) = cache.index() else {
        return Next::Done(SERVER_ERROR);
    };
    let Some(source) = ctx.source.as_deref() else {
        return Next::Done(SERVER_ERROR);
    };
    let valid_s = source.policy.valid_ms / 1000;
    let valid_ms = source.policy.valid_ms;
    let waited = ctx.wait_started_ms.is_some();
    let now_ms = wall_clock_ms();
    let found = index.lock().find(&ctx.key);
    let mut revalidate = None;
    match found {
        Found::Ready(slot) if slot.original.dev == UPSTREAM_DEV => {
            let confirmed_ms = confirmed_at(&slot.original) * 1000;
            // Whole seconds are stored: a period under a second is measured
            // against the second the validators were confirmed in.
            let fresh = now_ms < confirmed_ms + valid_ms.max(valid_s * 1000);
            if fresh {
                index.lock().touch(&ctx.key, now_ms / 1000);
                index.lock().counters().hits += 1;
                let status = if waited {
                    CacheStatus::Updating
                } else {
                    CacheStatus::Hit
                };
                if let Some(next) = serve_slot(r, cache, slot, status) {
                    return next;
                }
                // Deleted behind our back: fetch and make it again.
                let mut locked = index.lock();
                locked.counters().damaged_files += 1;
                locked.counters().hits -= 1;
            } else {
                let etag = cache::read_header(&cache.file_path(&ctx.key))
                    .and_then(|(header, _, _)| recorded_etag(&header.original_path))
                    .unwrap_or_default();
                revalidate = Some((slot, etag));
            }
        }
        Found::Ready(_) => {}
        Found::Generating(slot) => {
            let claim_age = now_ms.saturating_sub(slot.since_ms);
            if cache::process_alive(slot.generator_pid) && claim_age < ctx.lock_timeout as u64 {
                return handler::wait(r);
            }
            index.lock().counters().stale_locks += 1;
        }
        Found::Absent => {
            // After a restart, before the cache manager has loaded the
            // directory: the file of an earlier run is indexed as it was.
            if !waited && adopt_from_disk(cache, ctx) {
                return advance(r);
            }
        }
    }
    let mut victims = Vec::new();
    let claim = index::Claim {
        pid: current_pid(),
        now_ms,
        origin: origin_of(&ctx.path),
    };
    let outcome = index
        .lock()
        .claim_if_unchanged(&ctx.key, &found, claim, &mut victims);
    cache.remove_files(&victims);
    if outcome == Claimed::Raced {
        return handler::wait(r);
    }
    if outcome == Claimed::Yes {
        ctx.claimed = Some(claim.now_ms);
    }
    if revalidate.is_none() {
        index.lock().counters().misses += 1;
        ctx.cache_status = Some(if waited {
            CacheStatus::Updating
        } else {
            CacheStatus::Miss
        });
    }
    if let Some(source) = ctx.source.as_deref_mut() {
        // Only a claim holder may put the entry back as it was.
        source.revalidating = revalidate.filter(|_| outcome == Claimed::Yes);
    }
    fetch(r)
}

/// The ETag a cache file header recorded after the URI and a NUL.
fn recorded_etag(original_path: &[u8]) -> Option<Vec<u8>> {
    let at = original_path.iter().position(|&b| b == 0)?;
    Some(original_path[at + 1..].to_vec())
}

/// Indexes this key's cache file from an earlier run, if it holds a
/// rendition of an upstream original; true when it did.
fn adopt_from_disk(cache: &CachePath, ctx: &handler::RequestCtx) -> bool {
    let Some((header, offset, size)) = cache::read_header(&cache.file_path(&ctx.key)) else {
        return false;
    };
    if header.key != ctx.key || !is_upstream(&header.original) {
        return false;
    }
    let Some(index) = cache.index() else {
        return false;
    };
    let ready = ReadyEntry {
        file_size: size,
        body_offset: offset,
        original: header.original.into(),
        origin: origin_of(&ctx.path),
        content_type: index::content_type_code(&header.content_type),
    };
    let mut victims = Vec::new();
    {
        let mut locked = index.lock();
        if !matches!(locked.find(&ctx.key), Found::Absent) {
            return false;
        }
        locked.complete(&ctx.key, ready, wall_clock_ms() / 1000, &mut victims);
        if let Some(max_size) = cache.max_size {
            locked.evict_to_fit(max_size, Some(&ctx.key), &mut victims);
        }
    }
    cache.remove_files(&victims);
    true
}

/// Sends the rendition of a ready entry; None when its file is gone.
fn serve_slot(
    r: &mut ngx_http_request_t,
    cache: &CachePath,
    slot: Slot,
    status: CacheStatus,
) -> Option<Next> {
    let ctx = request_ctx(r)?;
    let key = ctx.key;
    let file = handler::open_cache_file(r, cache, &key, slot.file_size)?;
    let ctx = request_ctx(r)?;
    ctx.etag = rendition_etag(&key, &slot.original);
    ctx.mtime = slot.original.mtime_sec;
    ctx.cache_status = Some(status);
    Some(handler::send_cache_file(r, file, slot))
}

/// Starts the subrequest for the original; the request continues in
/// `fetched_handler` once it is done.
fn fetch(r: &mut ngx_http_request_t) -> Next {
    let log = connection_log(r);
    let limit = match request_ctx(r) {
        Some(ctx) => ctx.job.limits.max_source_size,
        None => return Next::Done(SERVER_ERROR),
    };
    let Some(source) = request_ctx(r).and_then(|ctx| ctx.source.as_deref_mut()) else {
        return Next::Done(SERVER_ERROR);
    };
    source.received = Received {
        limit,
        ..Received::default()
    };
    source.post.handler = Some(subrequest_done);
    source.post.data = ptr::from_mut(&mut source.received).cast();
    let (path, args) = match source.uri.iter().position(|&b| b == b'?') {
        Some(at) => (&source.uri[..at], &source.uri[at + 1..]),
        None => (&source.uri[..], &[][..]),
    };
    let conditional = source.revalidating.as_ref().map(|(slot, etag)| {
        let last_modified = slot.original.mtime_sec;
        (etag.clone(), (last_modified > 0).then_some(last_modified))
    });
    // SAFETY: `r` is the live request; the URI, arguments and the post
    // handler's structure are in its pool or its context (which outlive
    // the subrequest, which shares the pool); nginx links the subrequest
    // into `r` and posts it to run.
    let made = unsafe {
        let Some(mut uri) = ngx_str_t::from_bytes(r.pool, path) else {
            return Next::Done(SERVER_ERROR);
        };
        let Some(mut args) = ngx_str_t::from_bytes(r.pool, args) else {
            return Next::Done(SERVER_ERROR);
        };
        let mut sr: *mut ngx_http_request_t = ptr::null_mut();
        let rc = ngx_http_subrequest(
            r,
            &mut uri,
            &mut args,
            &mut sr,
            &mut source.post,
            NGX_HTTP_SUBREQUEST_WAITED as ngx_uint_t,
        );
        if rc != NGX_OK as ngx_int_t || sr.is_null() {
            None
        } else {
            Some(sr)
        }
    };
    let Some(sr) = made else {
        log_line(
            log,
            NGX_LOG_ERR,
            0,
            "image_filter_rs: could not start the subrequest for the original",
        );
        release(r);
        return Next::Done(SERVER_ERROR);
    };
    source.subrequest = sr;
    // SAFETY: `sr` is the subrequest nginx just made, not yet run.
    if !unsafe { own_request_headers(&mut *sr, conditional.as_ref()) } {
        return Next::Done(SERVER_ERROR);
    }
    r.write_event_handler = Some(fetched_handler);
    Next::Async
}

/// Gives the subrequest a header list of its own: none of the client's
/// headers (cookies, credentials, its own conditionals or ranges) go to the
/// origin, only this module's conditionals when revalidating.
///
/// # Safety
/// `sr` must be a subrequest that has not run yet.
unsafe fn own_request_headers(
    sr: &mut ngx_http_request_t,
    conditional: Option<&(Vec<u8>, Option<time_t>)>,
) -> bool {
    let pool = sr.pool;
    let size = core::mem::size_of::<ngx_table_elt_t>();
    // SAFETY: the list is laid out as ngx_list_init does, in the pool the
    // subrequest lives in; its `last` points at its own first part.
    unsafe {
        let elts = ngx_palloc(pool, 2 * size);
        if elts.is_null() {
            return false;
        }
        let headers = &mut sr.headers_in.headers;
        headers.part = ngx_list_part_t {
            elts,
            nelts: 0,
            next: ptr::null_mut(),
        };
        headers.last = &mut headers.part;
        headers.size = size;
        headers.nalloc = 2;
        headers.pool = pool;
        let hin = &mut sr.headers_in;
        hin.if_modified_since = ptr::null_mut();
        hin.if_unmodified_since = ptr::null_mut();
        hin.if_match = ptr::null_mut();
        hin.if_none_match = ptr::null_mut();
        hin.range = ptr::null_mut();
        hin.if_range = ptr::null_mut();
    }
    let Some((etag, last_modified)) = conditional else {
        return true;
    };
    if !etag.is_empty() {
        // SAFETY: as above.
        let Some(elt) = (unsafe { push_header(sr, b"If-None-Match", etag) }) else {
            return false;
        };
        sr.headers_in.if_none_match = elt;
    }
    if let Some(time) = *last_modified {
        let mut date = [0u8; 40];
        // SAFETY: ngx_http_time writes the 29-byte HTTP date into `date`.
        let end = unsafe { ngx_http_time(date.as_mut_ptr(), time) };
        // SAFETY: `end` points into `date`, past the written bytes.
        let len = unsafe { end.offset_from(date.as_ptr()) } as usize;
        // SAFETY: as above.
        let Some(elt) = (unsafe { push_header(sr, b"If-Modified-Since", &date[..len]) }) else {
            return false;
        };
        sr.headers_in.if_modified_since = elt;
    }
    true
}

/// Appends a request header to the subrequest's list.
///
/// # Safety
/// `sr`'s header list must be initialised in its pool.
unsafe fn push_header(
    sr: &mut ngx_http_request_t,
    name: &[u8],
    value: &[u8],
) -> Option<*mut ngx_table_elt_t> {
    // SAFETY: per the caller; every field nginx reads is set, and the rest
    // (`next`, in nginx 1.23 and later) is zero.
    unsafe {
        let elt = ngx::ffi::ngx_list_push(&mut sr.headers_in.headers).cast::<ngx_table_elt_t>();
        if elt.is_null() {
            return None;
        }
        ptr::write_bytes(elt.cast::<u8>(), 0, core::mem::size_of::<ngx_table_elt_t>());
        let key = ngx_str_t::from_bytes(sr.pool, name)?;
        let value = ngx_str_t::from_bytes(sr.pool, value)?;
        let lowcase = ngx_pnalloc(sr.pool, name.len()).cast::<u8>();
        if lowcase.is_null() {
            return None;
        }
        for (i, b) in name.iter().enumerate() {
            *lowcase.add(i) = b.to_ascii_lowercase();
        }
        (*elt).key = key;
        (*elt).value = value;
        (*elt).lowcase_key = lowcase;
        (*elt).hash = ngx_hash_key(lowcase, name.len());
        Some(elt)
    }
}

/// Records how the subrequest ended. Errors that are about the upstream
/// (a refused connection, a timeout, an answer cut short) become the
/// parent's to answer: handing nginx `NGX_OK` spares an error page nobody
/// reads. A client gone away keeps its code, so nginx ends the request.
extern "C" fn subrequest_done(
    sr: *mut ngx_http_request_t,
    data: *mut c_void,
    rc: ngx_int_t,
) -> ngx_int_t {
    // SAFETY: `data` is the `received` of the parent's fetch, set in
    // `fetch`; the parent's context outlives its subrequest.
    let received = unsafe { &mut *data.cast::<Received>() };
    // SAFETY: nginx calls this with the live subrequest.
    let connection = unsafe { &mut *(*sr).connection };
    if received.cut_off {
        // The body filter's own error marked the client's connection as
        // failed; the client is fine.
        connection.set_error(0);
        received.cut_off = false;
    }
    if connection.error() != 0 {
        return rc;
    }
    if rc == NGX_ERROR as ngx_int_t || rc >= NGX_HTTP_SPECIAL_RESPONSE as ngx_int_t {
        received.failure.get_or_insert(rc);
        return NGX_OK as ngx_int_t;
    }
    rc
}

/// The subrequest of `r` this module made, and its fetch; None for every
/// other request, which the filters pass on untouched.
fn fetch_of<'a>(r: &ngx_http_request_t) -> Option<&'a mut Fetch> {
    let this = ptr::from_ref(r).cast_mut();
    if r.main == this || r.parent.is_null() {
        return None;
    }
    // SAFETY: a subrequest's parent outlives it.
    let parent = unsafe { &*r.parent };
    let fetch = request_ctx(parent)?.source.as_deref_mut()?;
    (fetch.subrequest == this).then_some(fetch)
}

static mut NEXT_HEADER_FILTER: ngx_http_output_header_filter_pt = None;
static mut NEXT_BODY_FILTER: ngx_http_output_body_filter_pt = None;

/// Puts the filters at the top of nginx's chains (postconfiguration).
pub fn register_filters() {
    // SAFETY: runs once per configuration load in the master, before any
    // request, as every filter module's init does.
    unsafe {
        NEXT_HEADER_FILTER = ngx::ffi::ngx_http_top_header_filter;
        ngx::ffi::ngx_http_top_header_filter = Some(header_filter);
        NEXT_BODY_FILTER = ngx::ffi::ngx_http_top_body_filter;
        ngx::ffi::ngx_http_top_body_filter = Some(body_filter);
    }
}

unsafe extern "C" fn header_filter(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls header filters with a live request.
    let request = unsafe { &mut *r };
    let Some(fetch) = fetch_of(request) else {
        // SAFETY: the next filter of the chain, set at registration.
        return match unsafe { NEXT_HEADER_FILTER } {
            Some(next) => unsafe { next(r) },
            None => NGX_OK as ngx_int_t,
        };
    };
    let out = &request.headers_out;
    let received = &mut fetch.received;
    received.status = out.status;
    // SAFETY: a non-null `etag` is the header nginx's upstream copied.
    received.etag = unsafe { out.etag.as_ref() }
        .map(|h| h.value.as_bytes().to_vec())
        .unwrap_or_default();
    received.last_modified = (out.last_modified_time > 0).then_some(out.last_modified_time);
    received.content_length = u64::try_from(out.content_length_n).ok();
    if out.status == NGX_HTTP_OK as usize
        && received.content_length.is_some_and(|n| n > received.limit)
    {
        // Refused before a byte of the body is read: the upstream module
        // closes its connection on this error.
        received.too_large = true;
        return NGX_ERROR as ngx_int_t;
    }
    // Nothing goes on to the client's response.
    NGX_OK as ngx_int_t
}

unsafe extern "C" fn body_filter(r: *mut ngx_http_request_t, chain: *mut ngx_chain_t) -> ngx_int_t {
    // SAFETY: nginx calls body filters with a live request.
    let request = unsafe { &mut *r };
    let Some(fetch) = fetch_of(request) else {
        // SAFETY: the next filter of the chain, set at registration.
        return match unsafe { NEXT_BODY_FILTER } {
            Some(next) => unsafe { next(r, chain) },
            None => NGX_OK as ngx_int_t,
        };
    };
    let received = &mut fetch.received;
    let keep = received.status == NGX_HTTP_OK as usize && !received.too_large;
    let mut link = chain;
    // SAFETY: the chain and its buffers are the upstream's, valid during
    // the call; a buffer is marked consumed so the upstream reuses it.
    unsafe {
        while let Some(cl) = link.as_ref() {
            if let Some(b) = cl.buf.as_mut() {
                let in_memory = b.temporary() != 0 || b.memory() != 0 || b.mmap() != 0;
                if keep && !received.too_large {
                    if in_memory {
                        let len = b.last.offset_from(b.pos) as usize;
                        received
                            .body
                            .extend_from_slice(core::slice::from_raw_parts(b.pos, len));
                    } else if b.in_file() != 0 && !b.file.is_null() {
                        // proxy_buffering wrote part of the body to a
                        // temporary file; it was just written, so this
                        // read comes from the page cache.
                        let len = (b.file_last - b.file_pos) as usize;
                        let at = received.body.len();
                        received.body.resize(at + len, 0);
                        let read = libc::pread(
                            (*b.file).fd,
                            received.body[at..].as_mut_ptr().cast(),
                            len,
                            b.file_pos,
                        );
                        if read != len as isize {
                            received.body.truncate(at);
                            received.failure = Some(NGX_HTTP_BAD_GATEWAY as ngx_int_t);
                        }
                    }
                    if received.body.len() as u64 > received.limit {
                        received.too_large = true;
                        received.body = Vec::new();
                    }
                }
                if in_memory {
                    b.pos = b.last;
                }
                if b.in_file() != 0 {
                    b.file_pos = b.file_last;
                }
                if b.last_buf() != 0 || b.last_in_chain() != 0 {
                    received.complete = true;
                }
            }
            link = cl.next;
        }
    }
    if received.too_large && keep {
        // Cut the upstream off rather than read the rest of a body that
        // will be refused; see `subrequest_done` for the mark this leaves.
        received.cut_off = true;
        return NGX_ERROR as ngx_int_t;
    }
    NGX_OK as ngx_int_t
}

/// The parent's write handler while the fetch runs: nginx posts the parent
/// when its subrequest is done.
extern "C" fn fetched_handler(r: *mut ngx_http_request_t) {
    // SAFETY: nginx calls write handlers with the live request.
    let r = unsafe { &mut *r };
    let Some(source) = request_ctx(r).and_then(|ctx| ctx.source.as_deref_mut()) else {
        return;
    };
    // SAFETY: the subrequest lives in the parent's pool.
    if source.subrequest.is_null() || unsafe { (*source.subrequest).done() } == 0 {
        return;
    }
    source.subrequest = ptr::null_mut();
    r.write_event_handler = Some(ngx_http_request_empty_handler);
    // Already inside nginx's run of posted requests: no run of our own.
    if let Next::Done(rc) = handler::guarded(r, fetched) {
        // SAFETY: `r` is the live request this fetch belonged to.
        unsafe { ngx_http_finalize_request(r, rc) };
    }
}

/// The status class the fetch is counted under: no answer, or an answer
/// cut short by the upstream, is an error.
fn fetch_class(received: &Received) -> SourceFetch {
    let cut_short = received.status == NGX_HTTP_OK as usize
        && !received.too_large
        && (!received.complete || received.failure.is_some());
    match u16::try_from(received.status) {
        Ok(status) if status != 0 && !cut_short => SourceFetch::from_status(status),
        _ => SourceFetch::Error,
    }
}

/// What a finished fetch means for the request.
enum Answer {
    /// A body of the original, and its validators.
    Original(Vec<u8>, Validators),
    /// The rendition being revalidated is still good.
    Unchanged,
    /// A status for the client, with the reason for the log, if any.
    Failed(ngx_int_t, Option<String>),
}

fn read_answer(source: &mut Fetch, now_s: u64) -> Answer {
    let received = core::mem::take(&mut source.received);
    source.class = Some(fetch_class(&received));
    let uri = String::from_utf8_lossy(&source.uri).into_owned();
    let limit = received.limit;
    if received.too_large {
        return Answer::Failed(
            NGX_HTTP_REQUEST_ENTITY_TOO_LARGE as ngx_int_t,
            Some(format!(
                "original \"{uri}\" from the source is over the {limit}-byte source size limit"
            )),
        );
    }
    match received.status {
        // Never answered: the upstream module logged why (refused, reset,
        // timed out) and finalized with its code.
        0 => {
            let code = match received.failure {
                Some(rc) if rc == NGX_HTTP_GATEWAY_TIME_OUT as ngx_int_t => rc,
                _ => NGX_HTTP_BAD_GATEWAY as ngx_int_t,
            };
            Answer::Failed(code, None)
        }
        s if s == NGX_HTTP_OK as usize => {
            if !received.complete || received.failure.is_some() {
                // The upstream module logged the cause.
                return Answer::Failed(NGX_HTTP_BAD_GATEWAY as ngx_int_t, None);
            }
            let validators = upstream_validators(
                &received.etag,
                received.last_modified,
                received.body.len() as u64,
                now_s,
            );
            let unchanged = source.revalidating.as_ref().is_some_and(|(slot, _)| {
                same_version(&slot.original, &SharedValidators::from(validators))
            });
            if unchanged {
                return Answer::Unchanged;
            }
            let mut header_path = source.uri.clone();
            header_path.push(0);
            header_path.extend_from_slice(&received.etag);
            source.header_path = header_path;
            Answer::Original(received.body, validators)
        }
        s if s == NGX_HTTP_NOT_MODIFIED as usize && source.revalidating.is_some() => {
            Answer::Unchanged
        }
        s if s == NGX_HTTP_NOT_FOUND as usize || s == 410 => Answer::Failed(
            NGX_HTTP_NOT_FOUND as ngx_int_t,
            Some(format!("original \"{uri}\" not found at the source ({s})")),
        ),
        s if (400..500).contains(&s) => Answer::Failed(
            s as ngx_int_t,
            Some(format!("the source answered {s} for \"{uri}\"")),
        ),
        s => Answer::Failed(
            NGX_HTTP_BAD_GATEWAY as ngx_int_t,
            Some(format!("the source answered {s} for \"{uri}\"")),
        ),
    }
}

fn fetched(r: &mut ngx_http_request_t) -> Next {
    let log = connection_log(r);
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    let now_s = wall_clock_ms() / 1000;
    let Some(source) = ctx.source.as_deref_mut() else {
        return Next::Done(SERVER_ERROR);
    };
    let stale = source.policy.stale;
    let answer = read_answer(source, now_s);
    if let (Some(class), Some(index)) = (source.class.take(), ctx.cache.and_then(CachePath::index))
    {
        index.lock().counters().record_source_fetch(class);
    }
    let revalidating = source.revalidating.take();
    match answer {
        Answer::Original(body, validators) => {
            source.body = Some(Arc::new(body));
            if revalidating.is_some() {
                if let Some(index) = ctx.cache.and_then(CachePath::index) {
                    index.lock().counters().expired += 1;
                }
                ctx.cache_status = Some(CacheStatus::Expired);
            }
            let shared = SharedValidators::from(validators);
            ctx.validators = validators;
            ctx.mtime = validators.mtime_sec;
            if ctx.mode == crate::request::Mode::Thumbnail {
                ctx.etag = rendition_etag(&ctx.key, &shared);
            }
            let store = ctx.claimed.is_some();
            handler::start_generation(r, store)
        }
        Answer::Unchanged => {
            let Some((old, _)) = revalidating else {
                return Next::Done(SERVER_ERROR);
            };
            let mut kept = old;
            kept.original.mtime_nsec = u32::try_from(now_s).unwrap_or(u32::MAX);
            if !restore(ctx, kept) {
                // Purged meanwhile: make it from a fresh fetch.
                return advance(r);
            }
            if let Some(index) = ctx.cache.and_then(CachePath::index) {
                index.lock().counters().hits += 1;
            }
            let Some(cache) = ctx.cache else {
                return Next::Done(SERVER_ERROR);
            };
            match serve_slot(r, cache, kept, CacheStatus::Revalidated) {
                Some(next) => next,
                None => {
                    forget(r);
                    advance(r)
                }
            }
        }
        Answer::Failed(code, reason) => {
            let gone = code == NGX_HTTP_NOT_FOUND as ngx_int_t;
            let upstream_error = code == NGX_HTTP_BAD_GATEWAY as ngx_int_t
                || code == NGX_HTTP_GATEWAY_TIME_OUT as ngx_int_t;
            let path = String::from_utf8_lossy(&ctx.path).into_owned();
            if let Some((old, _)) = revalidating.filter(|_| !gone) {
                if restore(ctx, old) && upstream_error && stale {
                    if let Some(cache) = ctx.cache {
                        let what = reason.unwrap_or_else(|| format!("error {code}"));
                        log_line(
                            log,
                            NGX_LOG_ERR,
                            0,
                            &format!(
                                "image_filter_rs: source of \"{path}\" failed ({what}), serving the stale rendition"
                            ),
                        );
                        if let Some(next) = serve_slot(r, cache, old, CacheStatus::Stale) {
                            return next;
                        }
                    }
                    return Next::Done(code);
                }
            } else {
                release(r);
            }
            if gone {
                forget(r);
            }
            if let Some(reason) = reason {
                log_line(log, NGX_LOG_ERR, 0, &format!("image_filter_rs: {reason}"));
            }
            Next::Done(code)
        }
    }
}

/// Puts a revalidated entry back (claim → ready), with `slot`'s file and
/// validators; false when the claim is gone (purged meanwhile).
fn restore(ctx: &mut handler::RequestCtx, slot: Slot) -> bool {
    let Some(since_ms) = ctx.claimed.take() else {
        return false;
    };
    let Some(cache) = ctx.cache else {
        return false;
    };
    let Some(index) = cache.index() else {
        return false;
    };
    let ready = ReadyEntry {
        file_size: slot.file_size,
        body_offset: slot.body_offset,
        original: slot.original,
        origin: slot.origin,
        content_type: slot.content_type,
    };
    let claim = index::Claim {
        pid: current_pid(),
        now_ms: since_ms,
        origin: slot.origin,
    };
    let mut victims = Vec::new();
    let done =
        index
            .lock()
            .complete_claim(&ctx.key, claim, ready, wall_clock_ms() / 1000, &mut victims);
    cache.remove_files(&victims);
    done
}

/// Gives up this request's claim, if it has one.
fn release(r: &mut ngx_http_request_t) {
    if let Some(ctx) = request_ctx(r) {
        ctx.release_claim();
    }
}

/// The original is gone at the source: its rendition for this job goes
/// too.
fn forget(r: &mut ngx_http_request_t) {
    let Some(ctx) = request_ctx(r) else {
        return;
    };
    ctx.release_claim();
    handler::forget_original(ctx.cache, &ctx.key);
}

/// For the configuration merge: the location's source fetch settings come
/// from above unless set here.
/// An error for `nginx -t` when the location cannot fetch its originals.
pub fn merge(prev: &LocationConf, conf: &mut LocationConf) -> Result<(), &'static str> {
    conf.source = conf.source.or(prev.source);
    conf.source_valid = conf.source_valid.or(prev.source_valid);
    conf.source_stale = conf.source_stale.or(prev.source_stale);
    // A library's rendition name is mapped to its original's file, which a
    // source URI made from the request's URI would not follow.
    if matches!(conf.source, Some(SourceSetting::Uri(_)))
        && matches!(conf.filter, Some(Filter::Names(_)))
    {
        return Err("\"image_filter_rs_source\" cannot be used with the easy_thumbnails or versatileimagefield modes");
    }
    Ok(())
}
