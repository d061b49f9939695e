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

use core::ptr;
use std::sync::Arc;

use ngx::ffi::{
    ngx_http_finalize_request, ngx_http_post_subrequest_t, ngx_http_request_empty_handler,
    ngx_http_request_t, ngx_http_subrequest, ngx_int_t, ngx_str_t, ngx_uint_t, time_t,
    NGX_HTTP_BAD_GATEWAY, NGX_HTTP_GATEWAY_TIME_OUT, NGX_HTTP_NOT_FOUND, NGX_HTTP_NOT_MODIFIED,
    NGX_HTTP_OK, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE, NGX_HTTP_SUBREQUEST_WAITED, NGX_LOG_ERR,
    NGX_OK,
};
use thumbnailer::store::Validators;

use crate::cache::{self, wall_clock_ms, CachePath};
use crate::files;
use crate::handler::{self, connection_log, current_pid, log_line, origin_of, request_ctx, Next};
use crate::index::{self, Claimed, Found, ReadyEntry, SharedValidators, Slot, SourceFetch};
use crate::status::CacheStatus;

mod settings;
mod subrequest;

pub(crate) use settings::{
    cmd_source, cmd_source_stale, cmd_source_valid, evaluate_uri, merge, SourcePolicy,
    SourceSetting,
};

pub use subrequest::register_filters;
use subrequest::{own_request_headers, subrequest_done, Received};

const SERVER_ERROR: ngx_int_t = ngx::ffi::NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// The `dev` of validators that came from an upstream: a file's are 0 (see
/// `cache::validators`), so an index entry or cache file header tells its
/// kind of original by this alone.
pub const UPSTREAM_DEV: u64 = u64::from_le_bytes(*b"upstream");

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
    cache::adopt(cache, &ctx.key, header, offset, size, origin_of(&ctx.path))
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
    let file = files::open_cache_file(r, cache, &key, slot.file_size)?;
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
            crate::generation::start_generation(r, store)
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
