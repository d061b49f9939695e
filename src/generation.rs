//! Making a thumbnail once the handler has decided to: the generation task
//! started in the location's thread pool (or inline without one), the
//! retries while the memory budget or a generation slot is taken, and the
//! outcome turned into the index entry and the answer, including the
//! answers of `image_filter_rs size` and `test`.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use ngx::ffi::{
    ngx_event_t, ngx_http_request_t, ngx_int_t, ngx_msec_t, NGX_HTTP_OK,
    NGX_HTTP_UNSUPPORTED_MEDIA_TYPE, NGX_LOG_ERR, NGX_LOG_INFO,
};
use ngx::http::{HttpModuleLocationConf, HttpModuleMainConf};
use thumbnailer::decode_cache::{DecodeReuse, OriginalId};
use thumbnailer::probe::{ImageInfo, FAILURE_JSON};
use thumbnailer::ErrorClass;

use crate::cache::{wall_clock_ms, CachePath};
use crate::errors::{Class, Refusal};
use crate::handler::{
    arm_backoff_timer, connection_log, current_pid, log_line, origin_of, refuse, request_ctx,
    resume, Next, RequestCtx, SERVER_ERROR,
};
use crate::index::{self, ReadyEntry, SharedValidators, Slot};
use crate::memory::Gauge;
use crate::request::Mode;
use crate::response::{self, Body, Meta};
use crate::task::{self, GenerateTask, Outcome, SharedDecode, StoreTarget, TaskFailure};
use crate::ImageFilterRsModule;

/// The longest a pool thread sleeps for a generation slot before handing the
/// wait back to the event loop's timer.
const LONGEST_SLOT_WAIT_MS: u64 = 1000;

/// Makes the thumbnail: in the location's thread pool, or here when there
/// is none. `store` says whether this request holds the key's claim.
pub(crate) fn start_generation(r: &mut ngx_http_request_t, store: bool) -> Next {
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    let target = match (store, ctx.cache) {
        (true, Some(cache)) => Some(StoreTarget {
            root: cache.root.clone(),
            relative: cache.relative_path(&ctx.key),
            key: ctx.key,
            original: ctx.validators,
        }),
        _ => None,
    };
    // Only pool threads may wait for another thread's decode, never the
    // event loop.
    let shared_decode = match ctx.thread_pool {
        Some(_) => shared_decode(r, ctx_original_id(ctx)),
        None => None,
    };
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    // Likewise only a pool thread may sleep for a generation slot, for what
    // is left of the wait, a second at a time.
    let slot_wait_ms = match ctx.thread_pool {
        Some(_) => {
            let waited = ctx
                .memory_wait_started_ms
                .map_or(0, |started| wall_clock_ms().saturating_sub(started));
            ctx.memory_timeout
                .saturating_sub(waited)
                .min(LONGEST_SLOT_WAIT_MS)
        }
        None => 0,
    };
    let (original, fetched) = match ctx.source.as_deref() {
        Some(source) => (&source.header_path, source.body.clone()),
        None => (&ctx.path, None),
    };
    let mut generation = GenerateTask {
        original: PathBuf::from(OsStr::from_bytes(original)),
        fetched,
        job: ctx.job,
        store: target,
        budget: ctx.budget.map(|b| (b, current_pid())),
        slot_wait: std::time::Duration::from_millis(slot_wait_ms),
        debug_delay: std::time::Duration::from_millis(ctx.debug_delay as u64),
        shared_decode,
        probe: ctx.mode != Mode::Thumbnail,
    };
    match ctx.thread_pool {
        Some(pool) => match task::post(r, pool, task::GenerationWork::new(generation)) {
            Ok(()) => Next::Async,
            Err(_) => {
                if let Some(ctx) = request_ctx(r) {
                    ctx.release_claim();
                }
                Next::Done(response::service_unavailable(r))
            }
        },
        None => {
            let result = generation.run();
            finish(r, result)
        }
    }
}

/// What a generation found taken.
#[derive(Clone, Copy)]
enum Room {
    /// Its bytes of the memory budget.
    Memory(u64),
    /// A generation slot, after the pool thread waited this long for one.
    Slot { waited_ms: u64 },
}

/// Tries the generation again once memory or a slot may have come free,
/// from the first refusal on, or gives up with 503 once
/// `image_filter_rs_memory_timeout` has passed in all.
fn wait_for_room(r: &mut ngx_http_request_t, room: Room) -> Next {
    let log = connection_log(r);
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    let now = wall_clock_ms();
    // A slot refusal from a pool thread comes after the thread waited.
    let waited_in_thread = match room {
        Room::Slot { waited_ms } => waited_ms,
        Room::Memory(_) => 0,
    };
    let started = *ctx
        .memory_wait_started_ms
        .get_or_insert(now.saturating_sub(waited_in_thread));
    if ctx.waiting_for_room.is_none() {
        ctx.waiting_for_room = ctx
            .budget
            .map(|budget| budget.count(Gauge::WaitingForRoom, current_pid()));
    }
    let waited = now.saturating_sub(started);
    if waited >= ctx.memory_timeout {
        ctx.release_claim();
        log_line(
            log,
            NGX_LOG_ERR,
            0,
            &format!(
                "image_filter_rs: \"{}\": {} within {} ms, answered 503",
                String::from_utf8_lossy(&ctx.path),
                match room {
                    Room::Memory(needed) => format!("no memory for a {needed}-byte job"),
                    Room::Slot { .. } => "no image_filter_rs_concurrency slot came free".into(),
                },
                ctx.memory_timeout
            ),
        );
        return Next::Done(response::service_unavailable(r));
    }
    let left = (ctx.memory_timeout - waited) as ngx_msec_t;
    arm_backoff_timer(r, memory_timer_handler, left)
}

extern "C" fn memory_timer_handler(event: *mut ngx_event_t) {
    // SAFETY: as for wait_timer_handler.
    let r = unsafe { &mut *(*event).data.cast::<ngx_http_request_t>() };
    resume(r, |r| {
        let store = request_ctx(r).is_some_and(|ctx| ctx.claimed.is_some());
        start_generation(r, store)
    });
}

/// Called by the pool thread's completion event, back on the event loop.
pub fn generation_done(r: &mut ngx_http_request_t, result: Result<Outcome, TaskFailure>) {
    resume(r, move |r| finish(r, result));
}

fn ctx_original_id(ctx: &RequestCtx) -> OriginalId {
    let v = ctx.validators;
    OriginalId {
        path: ctx.path.clone(),
        dev: v.dev,
        ino: v.ino,
        mtime_sec: v.mtime_sec,
        mtime_nsec: v.mtime_nsec,
        size: v.size,
    }
}

/// The worker's decode cache for this generation, unless turned off; the
/// location's allowed sizes are the siblings one decode should serve.
fn shared_decode(r: &ngx_http_request_t, original: OriginalId) -> Option<SharedDecode> {
    let capacity = ImageFilterRsModule::main_conf(r)?.decode_cache()?;
    let siblings = ImageFilterRsModule::location_conf(r)
        .and_then(|lcf| lcf.sizes())
        .map_or_else(Vec::new, |rule| rule.sizes.clone());
    Some(SharedDecode {
        cache: task::worker_decode_cache(capacity),
        original,
        siblings,
    })
}

/// Records the generation's outcome in the index and answers.
fn finish(r: &mut ngx_http_request_t, result: Result<Outcome, TaskFailure>) -> Next {
    let log = connection_log(r);
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    // Waiting ends here, unless wait_for_room below counts it again.
    ctx.waiting_for_room = None;
    let generated = match result {
        Ok(Outcome::Made(generated)) => generated,
        Ok(Outcome::Probed { info, original }) => return answer_probe(r, &info, &original),
        Err(TaskFailure::Refused(refusal)) if ctx.mode != Mode::Thumbnail => {
            return refuse_probe(r, refusal)
        }
        Err(TaskFailure::NoMemory { needed }) => return wait_for_room(r, Room::Memory(needed)),
        Err(TaskFailure::NoSlot { waited }) => {
            let waited_ms = u64::try_from(waited.as_millis()).unwrap_or(u64::MAX);
            return wait_for_room(r, Room::Slot { waited_ms });
        }
        Err(TaskFailure::Refused(refusal)) => {
            ctx.release_claim();
            if let Some(index) = ctx.cache.and_then(CachePath::index) {
                index.lock().counters().generation_failures += 1;
            }
            let path = ctx.path.clone();
            return Next::Done(refuse(r, &path, &refusal));
        }
    };
    let thumbnail = &generated.thumbnail;
    let path = String::from_utf8_lossy(&ctx.path).into_owned();
    log_line(
        log,
        NGX_LOG_INFO,
        0,
        &format!(
            "image_filter_rs: made {}x{} {} of \"{path}\", {} bytes, in {} ms{}",
            thumbnail.width,
            thumbnail.height,
            thumbnail.format.mime_type(),
            thumbnail.bytes.len(),
            generated.elapsed.as_millis(),
            match generated.reuse {
                DecodeReuse::Decoded => "",
                DecodeReuse::Joined => ", from a concurrent decode",
                DecodeReuse::Retained => ", from a retained decode",
            }
        ),
    );
    if let (Some(cache), Some(index)) = (ctx.cache, ctx.cache.and_then(CachePath::index)) {
        let mut victims: Vec<Slot> = Vec::new();
        let mut discard = false;
        let mut locked = index.lock();
        locked.counters().record_generation(generated.elapsed);
        match (&generated.stored, ctx.claimed) {
            (Some(Ok(file_size)), Some(since_ms)) => {
                let ready = ReadyEntry {
                    file_size: *file_size,
                    body_offset: file_size - thumbnail.bytes.len() as u64,
                    original: SharedValidators::from(ctx.validators),
                    origin: origin_of(&ctx.path),
                    content_type: index::content_type_code(thumbnail.format.mime_type()),
                };
                let claim = index::Claim {
                    pid: current_pid(),
                    now_ms: since_ms,
                    origin: ready.origin,
                };
                let now = wall_clock_ms() / 1000;
                if locked.complete_claim(&ctx.key, claim, ready, now, &mut victims) {
                    if let Some(max_size) = cache.max_size {
                        locked.evict_to_fit(max_size, Some(&ctx.key), &mut victims);
                    }
                } else {
                    // Purged (or its original deleted) while being made:
                    // this request gets it, the cache does not keep it.
                    locked.counters().discarded += 1;
                    discard = true;
                }
                ctx.claimed = None;
            }
            (Some(Err(err)), _) => {
                locked.counters().store_failures += 1;
                drop(locked);
                ctx.release_claim();
                log_line(
                    log,
                    NGX_LOG_ERR,
                    0,
                    &format!(
                        "image_filter_rs: storing the thumbnail of \"{path}\" failed ({err}), served uncached"
                    ),
                );
            }
            _ => {}
        }
        cache.remove_files(&victims);
        if discard {
            cache.remove_file(&ctx.key);
        }
    }
    // Sent once, and the headers copy it into the request pool.
    let etag = core::mem::take(&mut ctx.etag);
    let meta = Meta {
        content_type: thumbnail.format.mime_type(),
        length: thumbnail.bytes.len() as u64,
        last_modified: ctx.mtime,
        etag: &etag,
        vary_accept: ctx.negotiated,
    };
    Next::Done(response::send(r, &meta, Body::Memory(&thumbnail.bytes)))
}

/// `image_filter_rs size`: the JSON; `test`: the original as it was read,
/// with its own type and validators.
fn answer_probe(r: &mut ngx_http_request_t, info: &ImageInfo, original: &[u8]) -> Next {
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    match ctx.mode {
        Mode::Size => Next::Done(response::send_small(
            r,
            NGX_HTTP_OK as usize,
            "application/json",
            &info.json(),
        )),
        _ => {
            let etag = core::mem::take(&mut ctx.etag);
            let meta = Meta {
                content_type: info.format.mime_type(),
                length: original.len() as u64,
                last_modified: ctx.mtime,
                etag: &etag,
                vary_accept: false,
            };
            Next::Done(response::send(r, &meta, Body::Memory(original)))
        }
    }
}

/// A probe's refusal, logged once. `size` answers what image_filter's does,
/// `{}`, for an original it cannot read; `test` answers 415 for any
/// original it would not pass on, as image_filter's does (a file too large
/// to look at included). A missing or forbidden original keeps its status.
fn refuse_probe(r: &mut ngx_http_request_t, refusal: Refusal) -> Next {
    let Some(ctx) = request_ctx(r) else {
        return Next::Done(SERVER_ERROR);
    };
    let mode = ctx.mode;
    let path = ctx.path.clone();
    let status = refuse(r, &path, &refusal);
    let not_an_image = matches!(
        refusal.class,
        Class::Image(ErrorClass::Unsupported | ErrorClass::TooLarge)
    );
    if !not_an_image {
        return Next::Done(status);
    }
    match mode {
        Mode::Size => Next::Done(response::send_small(
            r,
            status as usize,
            "application/json",
            FAILURE_JSON,
        )),
        _ => Next::Done(NGX_HTTP_UNSUPPORTED_MEDIA_TYPE as ngx_int_t),
    }
}
