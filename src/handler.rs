//! The content handler, step by step: check the request, map the URI to the
//! original, stat it, derive the cache key; then serve a fresh cache file,
//! wait for another request that is making the same thumbnail, or make it
//! (in a thread pool) and store it.
//!
//! A request may go asynchronous twice over (waiting on a timer, then on a
//! pool thread); `RequestCtx` carries its state between those steps and
//! `Next` says whether a step answered or is waiting.

use core::ptr::{self, NonNull};

use ngx::core::Pool;
use ngx::ffi::{
    ngx_add_timer, ngx_del_timer, ngx_err_t, ngx_event_t, ngx_http_discard_request_body,
    ngx_http_finalize_request, ngx_http_request_t, ngx_http_run_posted_requests, ngx_int_t,
    ngx_log_t, ngx_msec_t, ngx_str_t, ngx_thread_pool_t, ngx_uint_t, time_t, NGX_DECLINED,
    NGX_DONE, NGX_HTTP_GET, NGX_HTTP_HEAD, NGX_HTTP_INTERNAL_SERVER_ERROR, NGX_HTTP_NOT_ALLOWED,
    NGX_LOG_ALERT, NGX_OK,
};
use ngx::http::{HttpModule, HttpModuleLocationConf, HttpModuleMainConf};
use thumbnailer::key::CacheKey;
use thumbnailer::store::Validators;
use thumbnailer::{ErrorClass, Job};

use crate::cache::{self, wall_clock_ms, CachePath};
use crate::conf::Filter;
use crate::errors::{Class, Refusal};
use crate::files::{map_uri_to_path_and_root, open_cache_file, open_original, OpenFile, Original};
use crate::generation::start_generation;
use crate::index::{self, Claimed, Found, SharedValidators, Slot};
use crate::memory::{BudgetHandle, GaugeTicket};
use crate::request::{self, Mode};
use crate::response::{self, Body, Meta};
use crate::status::CacheStatus;
use crate::ImageFilterRsModule;

pub(crate) const SERVER_ERROR: ngx_int_t = NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t;

/// First and longest pause between two looks at a key another request is
/// making: short enough that a waiter is served soon after the maker
/// finishes, long enough that fifty waiters cost nothing.
const FIRST_WAIT_MS: ngx_msec_t = 5;
const LONGEST_WAIT_MS: ngx_msec_t = 100;

/// What a step of the handler did.
pub enum Next {
    /// Answered (or failed) with this code, for the caller to finalize with.
    Done(ngx_int_t),
    /// Waiting on a timer or a pool thread, which will continue the request.
    Async,
}

/// Everything a request needs across its asynchronous steps; lives in the
/// request pool, which drops it when the request ends.
pub struct RequestCtx {
    pub cache_status: Option<CacheStatus>,
    /// The original's path, or its source URI.
    pub(crate) path: Vec<u8>,
    pub(crate) job: Job,
    pub(crate) key: CacheKey,
    pub(crate) validators: Validators,
    pub(crate) mtime: time_t,
    pub(crate) etag: String,
    /// The format came from `Accept`: responses say `Vary: Accept`.
    pub(crate) negotiated: bool,
    pub(crate) mode: Mode,
    pub(crate) cache: Option<&'static CachePath>,
    pub(crate) thread_pool: Option<NonNull<ngx_thread_pool_t>>,
    pub(crate) lock_timeout: ngx_msec_t,
    pub(crate) debug_delay: ngx_msec_t,
    /// When this request first found the key being made elsewhere.
    pub(crate) wait_started_ms: Option<u64>,
    pub(crate) next_wait_ms: ngx_msec_t,
    /// This request holds the key's generation claim in the index, made at
    /// this wall-clock millisecond (which tells it from a later claim of
    /// the same worker after a takeover).
    pub(crate) claimed: Option<u64>,
    pub(crate) budget: Option<BudgetHandle>,
    pub(crate) memory_timeout: u64,
    pub(crate) memory_wait_started_ms: Option<u64>,
    /// Counts this request as waiting for memory or a slot, from its first
    /// refusal until its generation ends.
    pub(crate) waiting_for_room: Option<GaugeTicket>,
    pub(crate) wait_event: ngx_event_t,
    /// The original comes from `image_filter_rs_source` (see source.rs).
    pub(crate) source: Option<Box<crate::source::Fetch>>,
}

impl Drop for RequestCtx {
    fn drop(&mut self) {
        // A request ended while waiting (the connection was closed, nginx is
        // shutting down): its timer must not fire into freed memory.
        if self.wait_event.timer_set() != 0 {
            // SAFETY: the event is armed in this worker's timer tree.
            unsafe { ngx_del_timer(&mut self.wait_event) };
        }
        // A claim this request will never complete is released, so others
        // need not wait for the lock timeout.
        self.release_claim();
    }
}

impl RequestCtx {
    pub(crate) fn release_claim(&mut self) {
        let Some(since_ms) = self.claimed.take() else {
            return;
        };
        if let Some(index) = self.cache.and_then(CachePath::index) {
            let mut locked = index.lock();
            if let Found::Generating(slot) = locked.find(&self.key) {
                if slot.generator_pid == current_pid() && slot.since_ms == since_ms {
                    locked.remove(&self.key);
                }
            }
        }
    }
}

/// The request's context, if the handler made one.
///
/// The context lives in the request pool, not in the request structure, so
/// its borrow is not tied to `r`: each step takes it once and does not ask
/// for it again while holding it.
pub fn request_ctx<'a>(r: &ngx_http_request_t) -> Option<&'a mut RequestCtx> {
    let index = ImageFilterRsModule::module().ctx_index;
    // SAFETY: our slot of `r.ctx` holds null or the RequestCtx that
    // `handle` put there, which lives as long as the request pool.
    unsafe { (*r.ctx.add(index)).cast::<RequestCtx>().as_mut() }
}

/// The `clcf->handler` of locations with `image_filter_rs`.
pub extern "C" fn content_handler(r: *mut ngx_http_request_t) -> ngx_int_t {
    // SAFETY: nginx calls content handlers with the current, valid request.
    let r = unsafe { &mut *r };
    let next = guarded(r, handle);
    match next {
        Next::Done(rc) => rc,
        Next::Async => {
            // The request stays open until a later step finalizes it.
            // SAFETY: `r.main` is the valid main request.
            unsafe { (*r.main).set_count((*r.main).count() + 1) };
            NGX_DONE as ngx_int_t
        }
    }
}

/// Runs a step so that no panic unwinds into nginx.
pub(crate) fn guarded(
    r: &mut ngx_http_request_t,
    step: impl FnOnce(&mut ngx_http_request_t) -> Next,
) -> Next {
    let log = connection_log(r);
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| step(r))) {
        Ok(next) => next,
        Err(_) => {
            log_line(
                log,
                NGX_LOG_ALERT,
                0,
                "image_filter_rs: internal error (panic)",
            );
            Next::Done(SERVER_ERROR)
        }
    }
}

/// Continues a request from an event: finalizes it when the step answered.
pub(crate) fn resume(
    r: &mut ngx_http_request_t,
    step: impl FnOnce(&mut ngx_http_request_t) -> Next,
) {
    let connection = r.connection;
    if let Next::Done(rc) = guarded(r, step) {
        // SAFETY: `r` is the live request this event belongs to.
        unsafe { ngx_http_finalize_request(r, rc) };
    }
    // SAFETY: the connection outlives this call; nginx's event handlers end
    // by running the requests posted meanwhile.
    unsafe { ngx_http_run_posted_requests(connection) };
}

fn handle(r: &mut ngx_http_request_t) -> Next {
    if r.method & (NGX_HTTP_GET | NGX_HTTP_HEAD) as ngx_uint_t == 0 {
        return Next::Done(NGX_HTTP_NOT_ALLOWED as ngx_int_t);
    }
    // A URI naming a directory is the index module's, as with static files.
    if r.uri.as_bytes().last() == Some(&b'/') {
        return Next::Done(NGX_DECLINED as ngx_int_t);
    }
    let Some(lcf) = ImageFilterRsModule::location_conf(r) else {
        return Next::Done(SERVER_ERROR);
    };
    if !lcf.filter.is_some_and(|f| f.is_on()) {
        return Next::Done(NGX_DECLINED as ngx_int_t);
    }
    // SAFETY: `r` is the request being handled.
    let rc = unsafe { ngx_http_discard_request_body(r) };
    if rc != NGX_OK as ngx_int_t {
        return Next::Done(rc);
    }

    let Some((path, root_len)) = map_uri_to_path_and_root(r) else {
        return Next::Done(SERVER_ERROR);
    };
    // In the library-name modes the file asked for is a rendition's name:
    // past the request's checks, whose refusals name that file, the path is
    // its original's.
    let (original, named) = match lcf.filter {
        Some(Filter::Names(library)) => match crate::names::derive(r, library, &path, root_len) {
            Ok((original, named)) => (original, Some(named)),
            Err(refusal) => return Next::Done(refuse_request(r, path.as_bytes(), &refusal)),
        },
        _ => (path, None),
    };
    let resolved = match request::resolve(r, lcf, named.as_ref()) {
        Ok(resolved) => resolved,
        Err(refusal) => return Next::Done(refuse_request(r, path.as_bytes(), &refusal)),
    };
    let path = original;
    let job = resolved.job;
    let source = match crate::source::evaluate_uri(r, lcf) {
        Ok(source) => source,
        Err(refusal) => return Next::Done(refuse_request(r, path.as_bytes(), &refusal)),
    };
    let path_bytes = source.clone().unwrap_or_else(|| path.as_bytes().to_vec());
    let key = CacheKey::derive(&path_bytes, &job.canonical());
    let (validators, mtime, etag) = match source {
        // Known once fetched (see source.rs).
        Some(_) => (Validators::default(), 0, String::new()),
        None => match file_original(r, lcf, path, &key, &job, resolved.mode) {
            Ok(found) => found,
            Err(next) => return next,
        },
    };
    let (mcf_budget, mcf_memory_timeout) =
        ImageFilterRsModule::main_conf(r).map_or((None, crate::memory::DEFAULT_TIMEOUT_MS), |m| {
            (
                m.budget.as_ref().and_then(|b| b.handle()),
                m.memory_timeout(),
            )
        });
    let ctx = RequestCtx {
        cache_status: None,
        path: path_bytes,
        job,
        key,
        validators,
        mtime,
        etag,
        negotiated: resolved.negotiated,
        mode: resolved.mode,
        cache: lcf.cache().filter(|_| resolved.mode == Mode::Thumbnail),
        thread_pool: lcf.thread_pool(),
        lock_timeout: lcf.lock_timeout(),
        debug_delay: lcf.debug_delay(),
        wait_started_ms: None,
        next_wait_ms: FIRST_WAIT_MS,
        claimed: None,
        budget: mcf_budget,
        memory_timeout: mcf_memory_timeout,
        memory_wait_started_ms: None,
        waiting_for_room: None,
        // SAFETY: an all-zero event is nginx's idle event.
        wait_event: unsafe { core::mem::zeroed() },
        source: source
            .map(|uri| crate::source::Fetch::new(uri, crate::source::SourcePolicy::of(lcf))),
    };
    // SAFETY: the request pool is valid; `allocate` registers a cleanup that
    // drops the context when the pool is destroyed.
    let ctx = unsafe { Pool::from_ngx_pool(r.pool) }.allocate(ctx);
    if ctx.is_null() {
        return Next::Done(SERVER_ERROR);
    }
    let index = ImageFilterRsModule::module().ctx_index;
    // SAFETY: our slot in the request's context array.
    unsafe { *r.ctx.add(index) = ctx.cast() };
    if request_ctx(r).is_some_and(|ctx| ctx.source.is_some()) {
        crate::source::advance(r)
    } else if resolved.mode == Mode::Thumbnail {
        advance(r)
    } else {
        // Nothing is made, so nothing is cached or waited for.
        start_generation(r, false)
    }
}

/// Stats an original file: its validators, mtime and the response's ETag,
/// or the answer when it cannot be used.
fn file_original(
    r: &mut ngx_http_request_t,
    lcf: &crate::conf::LocationConf,
    path: ngx_str_t,
    key: &CacheKey,
    job: &Job,
    mode: Mode,
) -> Result<(Validators, time_t, String), Next> {
    let path_bytes = path.as_bytes().to_vec();
    let original = match open_original(r, path) {
        Ok(Original::File(info)) => info,
        Ok(Original::Directory) => return Err(Next::Done(NGX_DECLINED as ngx_int_t)),
        Err(rc) => {
            if rc == ngx::ffi::NGX_HTTP_NOT_FOUND as ngx_int_t {
                forget_original(lcf.cache(), key);
            }
            return Err(Next::Done(rc));
        }
    };
    // A probe refuses it in its own words (see refuse_probe).
    if original.size as u64 > job.limits.max_source_size && mode == Mode::Thumbnail {
        let refusal = Refusal::new(
            Class::Image(ErrorClass::TooLarge),
            format!(
                "original is over the {}-byte source size limit",
                job.limits.max_source_size
            ),
        );
        return Err(Next::Done(refuse(r, &path_bytes, &refusal)));
    }
    let etag = match mode {
        // A thumbnail's own: the key tells sizes and formats apart.
        Mode::Thumbnail => format!(
            "\"{}-{:x}-{:x}\"",
            &key.to_hex()[..16],
            original.mtime,
            original.size
        ),
        // The original's, in the static module's form, as `test` sends it.
        Mode::Test => format!("\"{:x}-{:x}\"", original.mtime, original.size),
        Mode::Size => String::new(),
    };
    Ok((cache::validators(&original), original.mtime, etag))
}

/// Decides, from the index, what this request does next: send the cache
/// file, wait for another request making it, or make it. Called again after
/// each wait.
pub(crate) fn advance(r: &mut ngx_http_request_t) -> Next {
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    if ctx.source.is_some() {
        return crate::source::advance(r);
    }
    let Some(cache) = ctx.cache else {
        ctx.cache_status = Some(CacheStatus::Bypass);
        return start_generation(r, false);
    };
    let Some(index) = cache.index() else {
        return Next::Done(SERVER_ERROR);
    };
    let waited = ctx.wait_started_ms.is_some();
    let fresh = SharedValidators::from(ctx.validators);
    let found = index
        .lock()
        .find_for_hit(&ctx.key, &fresh, wall_clock_ms() / 1000);
    let mut status = if waited {
        CacheStatus::Updating
    } else {
        CacheStatus::Miss
    };
    match found {
        Found::Ready(slot) if slot.original == fresh => {
            match open_cache_file(r, cache, &ctx.key, slot.file_size) {
                Some(file) => {
                    ctx.cache_status = Some(if waited {
                        CacheStatus::Updating
                    } else {
                        CacheStatus::Hit
                    });
                    return send_cache_file(r, file, slot);
                }
                // Deleted or cut short behind our back: make it again.
                None => {
                    let mut locked = index.lock();
                    locked.counters().damaged_files += 1;
                    locked.counters().hits -= 1;
                }
            }
        }
        Found::Ready(_) => {
            if !waited {
                status = CacheStatus::Expired;
            }
            index.lock().counters().expired += 1;
        }
        Found::Generating(slot) => {
            let now = wall_clock_ms();
            let claim_age = now.saturating_sub(slot.since_ms);
            let maker_alive = cache::process_alive(slot.generator_pid);
            if maker_alive && claim_age < ctx.lock_timeout as u64 {
                return wait(r);
            }
            // The maker died, or is over the lock timeout: take over.
            index.lock().counters().stale_locks += 1;
        }
        Found::Absent => {
            // After a restart the index starts empty while the files of the
            // earlier run are still good: adopt a fresh one.
            if let Some(next) = adopt_from_disk(r, cache) {
                return next;
            }
        }
    }
    let mut victims = Vec::new();
    let claim = index::Claim {
        pid: current_pid(),
        now_ms: wall_clock_ms(),
        origin: origin_of(&ctx.path),
    };
    let outcome = index
        .lock()
        .claim_if_unchanged(&ctx.key, &found, claim, &mut victims);
    cache.remove_files(&victims);
    if outcome == Claimed::Raced {
        // Another worker claimed or stored the key since the look above:
        // wait for it like any request that came while it was being made.
        return wait(r);
    }
    let claimed = outcome == Claimed::Yes;
    ctx.claimed = claimed.then_some(claim.now_ms);
    let mut locked = index.lock();
    match status {
        CacheStatus::Expired => {}
        _ => locked.counters().misses += 1,
    }
    drop(locked);
    ctx.cache_status = Some(status);
    start_generation(r, claimed)
}

/// Waits a little before looking at the key again, or, past the lock
/// timeout, makes the thumbnail without storing it, as `proxy_cache_lock`
/// does.
pub(crate) fn wait(r: &mut ngx_http_request_t) -> Next {
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    let now = wall_clock_ms();
    let started = *ctx.wait_started_ms.get_or_insert_with(|| {
        if let Some(index) = ctx.cache.and_then(CachePath::index) {
            index.lock().counters().waits += 1;
        }
        now
    });
    let waited = now.saturating_sub(started);
    if waited >= ctx.lock_timeout as u64 {
        if let Some(index) = ctx.cache.and_then(CachePath::index) {
            index.lock().counters().lock_timeouts += 1;
        }
        ctx.cache_status = Some(CacheStatus::Updating);
        return start_generation(r, false);
    }
    let left = ctx.lock_timeout - waited as ngx_msec_t;
    arm_backoff_timer(r, wait_timer_handler, left)
}

/// Arms the request's wait event for the next step of a doubling backoff
/// (5 ms up to 100 ms), never past `left` ms.
pub(crate) fn arm_backoff_timer(
    r: &mut ngx_http_request_t,
    handler: extern "C" fn(*mut ngx_event_t),
    left: ngx_msec_t,
) -> Next {
    let log = connection_log(r);
    let data = ptr::from_mut(r).cast();
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    let delay = ctx.next_wait_ms.min(left).max(1);
    ctx.next_wait_ms = (ctx.next_wait_ms * 2).min(LONGEST_WAIT_MS);
    let event = &mut ctx.wait_event;
    event.handler = Some(handler);
    event.data = data;
    event.log = log;
    // SAFETY: the event lives in the request context until the request ends,
    // and the context's Drop deletes the timer if it is still set then.
    unsafe { ngx_add_timer(event, delay) };
    Next::Async
}

extern "C" fn wait_timer_handler(event: *mut ngx_event_t) {
    // SAFETY: `data` is the request that armed this timer; it is alive, as
    // its end would have deleted the timer.
    let r = unsafe { &mut *(*event).data.cast::<ngx_http_request_t>() };
    resume(r, advance);
}

/// A refusal of what the request asked for: logged once; a 400 carries its
/// short reason as plain text, since only the client can fix it.
pub(crate) fn refuse_request(
    r: &mut ngx_http_request_t,
    path: &[u8],
    refusal: &Refusal,
) -> ngx_int_t {
    let status = refuse(r, path, refusal);
    if refusal.class != Class::Image(ErrorClass::BadRequest) {
        return status;
    }
    let reason = format!("{}\n", refusal.message);
    response::send_text(r, status as usize, &reason)
}

/// Logs the refusal once and returns its status.
pub(crate) fn refuse(r: &mut ngx_http_request_t, path: &[u8], refusal: &Refusal) -> ngx_int_t {
    let message = format!(
        "image_filter_rs: \"{}\": {}",
        String::from_utf8_lossy(path),
        refusal
    );
    log_line(connection_log(r), refusal.log_level() as u32, 0, &message);
    refusal.http_status() as ngx_int_t
}

/// The original is gone: its thumbnail for this job leaves the cache now;
/// its other sizes leave when they are asked for, or by `inactive`.
pub(crate) fn forget_original(cache: Option<&'static CachePath>, key: &CacheKey) {
    let Some(cache) = cache else {
        return;
    };
    let Some(index) = cache.index() else {
        return;
    };
    let removed = index.lock().remove(key);
    if let Some(slot) = removed.filter(|s| s.state == index::SlotState::Ready) {
        cache.remove_files(&[slot]);
    }
}

pub(crate) fn send_cache_file(r: &mut ngx_http_request_t, file: OpenFile, slot: Slot) -> Next {
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    // Sent once, and the headers copy it into the request pool.
    let etag = core::mem::take(&mut ctx.etag);
    let meta = Meta {
        content_type: index::content_type_name(slot.content_type).unwrap_or("image/jpeg"),
        length: slot.file_size - slot.body_offset,
        last_modified: ctx.mtime,
        etag: &etag,
        vary_accept: ctx.negotiated,
    };
    let body = Body::File {
        fd: file.fd,
        name: file.name,
        offset: slot.body_offset,
        directio: file.directio,
    };
    Next::Done(response::send(r, &meta, body))
}

/// Indexes and serves a cache file that is on disk but not in the index,
/// if it was made from this version of the original.
fn adopt_from_disk(r: &mut ngx_http_request_t, cache: &CachePath) -> Option<Next> {
    let ctx = request_ctx(r)?;
    let (header, offset, size) = cache::read_header(&cache.file_path(&ctx.key))?;
    if header.key != ctx.key || header.original != ctx.validators {
        return None;
    }
    let origin = origin_of(&ctx.path);
    if !cache::adopt(cache, &ctx.key, header, offset, size, origin) {
        return None;
    }
    let index = cache.index()?;
    let slot = match index.lock().find(&ctx.key) {
        Found::Ready(slot) => slot,
        _ => return None,
    };
    let file = open_cache_file(r, cache, &ctx.key, slot.file_size)?;
    index.lock().counters().hits += 1;
    ctx.cache_status = Some(CacheStatus::Hit);
    Some(send_cache_file(r, file, slot))
}

/// A short hash of the original's path, kept in its index entries. Only
/// entries being made or adopted need it, so a hit never computes it.
pub(crate) fn origin_of(path: &[u8]) -> u64 {
    let key = CacheKey::derive(path, "");
    u64::from_le_bytes(key.0[..8].try_into().expect("8 bytes"))
}

pub fn current_pid() -> i32 {
    // SAFETY: ngx_pid is set once when the process starts.
    unsafe { ngx::ffi::ngx_pid }
}

pub fn connection_log(r: &ngx_http_request_t) -> *mut ngx_log_t {
    // SAFETY: every request has a live connection with a log.
    unsafe { (*r.connection).log }
}

pub fn log_line(log: *mut ngx_log_t, level: u32, err: ngx_err_t, message: &str) {
    // SAFETY: `log` is a connection's or the cycle's log, valid here.
    unsafe {
        if level as ngx_uint_t <= (*log).log_level {
            ngx::log::log_error(level as ngx_uint_t, log, err, message.as_bytes());
        }
    }
}
