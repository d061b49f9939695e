//! The generation task: read the original, make the thumbnail, store it; and
//! its trip through an nginx thread pool.
//!
//! `GenerateTask::run` works on owned data only (paths, settings, bytes) and
//! touches no nginx structure, pool or log, so it runs in a pool thread as
//! well as on the event loop. The thread hands its result back through the
//! task's completion event, which the event loop runs.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use core::ffi::c_void;
use core::ptr::{self, NonNull};
use ngx::ffi::{
    ngx_add_timer, ngx_del_timer, ngx_event_t, ngx_http_log_ctx_t, ngx_http_request_t, ngx_int_t,
    ngx_log_t, ngx_msec_t, ngx_thread_pool_t, ngx_thread_task_alloc, ngx_thread_task_post,
    ngx_thread_task_t, NGX_OK,
};

use std::sync::{Arc, OnceLock};

use thumbnailer::decode_cache::{DecodeCache, DecodeReuse, OriginalId};
use thumbnailer::key::CacheKey;
use thumbnailer::probe::ImageInfo;
use thumbnailer::store::{self, CacheHeader, Validators};
use thumbnailer::{estimate_peak_memory, make_thumbnail, Job, Thumbnail};

use thumbnailer::ErrorClass;

use crate::errors::{Class, Refusal};
use crate::memory::{Admission, BudgetHandle, Gauge, GaugeTicket, MemoryBudget};

/// Where and under which identity a finished thumbnail is stored.
pub struct StoreTarget {
    pub root: PathBuf,
    pub relative: String,
    pub key: CacheKey,
    pub original: Validators,
}

pub struct GenerateTask {
    pub original: PathBuf,
    /// The original's bytes when they were fetched from an upstream
    /// (`image_filter_rs_source`); `original` then only names it.
    pub fetched: Option<Arc<Vec<u8>>>,
    pub job: Job,
    pub store: Option<StoreTarget>,
    /// Where to reserve the job's memory and slot, and as which process.
    pub budget: Option<(BudgetHandle, i32)>,
    /// How long to wait for a generation slot: a while in a pool thread,
    /// zero on the event loop, which must never sleep.
    pub slot_wait: Duration,
    /// `image_filter_rs_debug_delay`: a pause before the work, for tests.
    pub debug_delay: Duration,
    /// Share the decode with other sizes of the same original: this
    /// worker's decode cache, this original's identity, and the location's
    /// allowed sizes the decode should also serve.
    pub shared_decode: Option<SharedDecode>,
    /// Only read the original's headers (`image_filter_rs size`, `test`).
    pub probe: bool,
}

pub struct SharedDecode {
    pub cache: &'static DecodeCache,
    pub original: OriginalId,
    pub siblings: Vec<(Option<u32>, Option<u32>)>,
}

/// This worker process's decode cache, made on first use (after the fork,
/// so each worker has its own) with the http block's capacity.
pub fn worker_decode_cache(capacity: usize) -> &'static DecodeCache {
    static CACHE: OnceLock<DecodeCache> = OnceLock::new();
    CACHE.get_or_init(|| DecodeCache::new(capacity))
}

/// What a task produced.
pub enum Outcome {
    Made(Generated),
    /// `image_filter_rs size` or `test`: what the original is, from its
    /// headers, and the bytes that were looked at (which `test` sends).
    Probed {
        info: ImageInfo,
        original: Vec<u8>,
    },
}

pub struct Generated {
    pub thumbnail: Thumbnail,
    /// Whether the decode was this task's own or shared.
    pub reuse: DecodeReuse,
    /// Reading, decoding, resizing, encoding and storing together.
    pub elapsed: Duration,
    /// None when no cache is configured; an error when storing failed, in
    /// which case the thumbnail is still served, uncached.
    pub stored: Option<io::Result<u64>>,
}

/// Why a generation did not produce a thumbnail.
pub enum TaskFailure {
    Refused(Refusal),
    /// The memory budget is taken for now; try again later.
    NoMemory {
        needed: u64,
    },
    /// Every `image_filter_rs_concurrency` slot stayed taken while the
    /// thread waited this long.
    NoSlot {
        waited: Duration,
    },
}

impl From<Refusal> for TaskFailure {
    fn from(refusal: Refusal) -> Self {
        TaskFailure::Refused(refusal)
    }
}

impl From<thumbnailer::Error> for TaskFailure {
    fn from(err: thumbnailer::Error) -> Self {
        TaskFailure::Refused(err.into())
    }
}

impl GenerateTask {
    pub fn run(&mut self) -> Result<Outcome, TaskFailure> {
        if self.probe {
            return self.probe();
        }
        self.generate().map(Outcome::Made)
    }

    /// Reads the original within the memory budget (its length is all it
    /// needs) and tells what it is, decoding no pixel.
    fn probe(&mut self) -> Result<Outcome, TaskFailure> {
        let mut original = Original::open(&self.original, self.fetched.as_ref())?;
        let limit = self.job.limits.max_source_size;
        if original.len > limit {
            return Err(Refusal::new(
                Class::Image(ErrorClass::TooLarge),
                format!("original is over the {limit}-byte source size limit"),
            )
            .into());
        }
        let _reservation = match self.budget {
            Some((budget, pid)) => match budget.admit(original.len, pid) {
                Admission::Granted(reservation) => Some(reservation),
                Admission::Wait => {
                    return Err(TaskFailure::NoMemory {
                        needed: original.len,
                    })
                }
                Admission::TooLarge { limit } => {
                    return Err(Refusal::new(
                        Class::Image(ErrorClass::TooLarge),
                        format!("is larger than the whole {limit}-byte image_filter_rs_memory"),
                    )
                    .into())
                }
            },
            None => None,
        };
        original.read_whole(self.job.limits.max_source_size)?;
        let info = thumbnailer::probe::probe(original.bytes(), &self.job.limits)?;
        Ok(Outcome::Probed {
            info,
            original: original.bytes().to_vec(),
        })
    }

    fn generate(&mut self) -> Result<Generated, TaskFailure> {
        let started = Instant::now();
        // The slot covers all of the work, the test pause included, which
        // stands for slow work.
        let _slot = match self.budget {
            Some((budget, pid)) => Some(budget.take_slot(pid, self.slot_wait).ok_or_else(
                || TaskFailure::NoSlot {
                    waited: started.elapsed(),
                },
            )?),
            None => None,
        };
        if !self.debug_delay.is_zero() {
            std::thread::sleep(self.debug_delay);
        }
        // Admitted from the header before the original is read: a waiting
        // job holds no memory, and the original counts in its estimate.
        let mut original = Original::open(&self.original, self.fetched.as_ref())?;
        let _reservation = match self.budget {
            Some((budget, pid)) => {
                let needed = self.estimate(&mut original)?;
                match budget.admit(needed, pid) {
                    Admission::Granted(reservation) => Some(reservation),
                    Admission::Wait => return Err(TaskFailure::NoMemory { needed }),
                    Admission::TooLarge { limit } => {
                        return Err(Refusal::new(
                            Class::Image(ErrorClass::TooLarge),
                            format!(
                                "needs about {needed} bytes of memory, over the whole {limit}-byte image_filter_rs_memory"
                            ),
                        )
                        .into())
                    }
                }
            }
            None => None,
        };
        original.read_whole(self.job.limits.max_source_size)?;
        let input = original.bytes();
        let (thumbnail, reuse) = match &self.shared_decode {
            Some(shared) => {
                shared
                    .cache
                    .make_thumbnail(&shared.original, input, &self.job, &shared.siblings)?
            }
            None => (make_thumbnail(input, &self.job)?, DecodeReuse::Decoded),
        };
        let stored = self.store.as_ref().map(|target| {
            let header = CacheHeader {
                key: target.key,
                original: target.original,
                created: SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                body_len: thumbnail.bytes.len() as u64,
                content_type: thumbnail.format.mime_type().to_owned(),
                original_path: self.original.as_os_str().as_bytes().to_vec(),
            };
            store::write_atomically(
                &target.root,
                &target.relative,
                &header,
                &thumbnail.bytes,
                false,
            )
        });
        Ok(Generated {
            thumbnail,
            reuse,
            elapsed: started.elapsed(),
            stored,
        })
    }
}

/// How many bytes of the original the memory estimate reads first: every
/// header we know fits, unless metadata (EXIF, ICC) comes before it.
const HEAD_BYTES: u64 = 256 * 1024;

impl GenerateTask {
    /// The job's memory estimate from the original's first bytes; when its
    /// header lies beyond them, from the whole original, read for it.
    fn estimate(&self, original: &mut Original) -> Result<u64, TaskFailure> {
        let siblings = self.shared_decode.as_ref().map_or(&[][..], |s| &s.siblings);
        match estimate_peak_memory(original.bytes(), original.len, &self.job, siblings) {
            Ok(needed) => Ok(needed),
            Err(_) if !original.whole => {
                original.read_whole(self.job.limits.max_source_size)?;
                let bytes = original.bytes();
                Ok(estimate_peak_memory(
                    bytes,
                    bytes.len() as u64,
                    &self.job,
                    siblings,
                )?)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The original, opened once for the whole generation, so the estimate
/// and the decode read the same file even if it is replaced meanwhile.
struct Original {
    /// None for fetched bytes, which are all in `fetched` already.
    file: Option<File>,
    fetched: Option<Arc<Vec<u8>>>,
    /// Its size when opened.
    len: u64,
    /// What has been read so far: the head, then all of it.
    bytes: Vec<u8>,
    /// `bytes` reached the end of the file.
    whole: bool,
}

impl Original {
    /// Opens the original and reads its first `HEAD_BYTES`.
    fn open(path: &Path, fetched: Option<&Arc<Vec<u8>>>) -> Result<Self, Refusal> {
        if let Some(bytes) = fetched {
            return Ok(Self {
                file: None,
                len: bytes.len() as u64,
                fetched: Some(Arc::clone(bytes)),
                bytes: Vec::new(),
                whole: true,
            });
        }
        let file = File::open(path).map_err(|e| Refusal::from_io(&e, "open()"))?;
        let len = file
            .metadata()
            .map_err(|e| Refusal::from_io(&e, "fstat()"))?
            .len();
        let mut bytes = Vec::new();
        (&file)
            .take(HEAD_BYTES)
            .read_to_end(&mut bytes)
            .map_err(|e| Refusal::from_io(&e, "read()"))?;
        let whole = (bytes.len() as u64) < HEAD_BYTES;
        Ok(Self {
            file: Some(file),
            fetched: None,
            len,
            bytes,
            whole,
        })
    }

    /// What has been read: the head, then all of it.
    fn bytes(&self) -> &[u8] {
        self.fetched.as_deref().map_or(&self.bytes[..], |b| &b[..])
    }

    /// Reads the rest, refusing an original that grew past `limit` since it
    /// was checked: the limit holds for what is read, not for what stat said.
    fn read_whole(&mut self, limit: u64) -> Result<(), Refusal> {
        if let (false, Some(file)) = (self.whole, &self.file) {
            let read = self.bytes.len() as u64;
            let room = limit.saturating_add(1).saturating_sub(read);
            self.bytes
                .reserve(usize::try_from(self.len.min(limit).saturating_sub(read)).unwrap_or(0));
            (file)
                .take(room)
                .read_to_end(&mut self.bytes)
                .map_err(|e| Refusal::from_io(&e, "read()"))?;
            self.whole = true;
        }
        if self.bytes().len() as u64 > limit {
            return Err(Refusal::new(
                Class::Image(ErrorClass::TooLarge),
                format!("original is over the {limit}-byte source size limit"),
            ));
        }
        Ok(())
    }
}

/// Work that runs in a pool thread and then finishes on the event loop: a
/// generation, or a directory purge's scan of cache file headers.
pub trait PoolWork {
    /// Runs in a pool thread: only the work's own data is touched, no
    /// nginx structure, pool or log.
    fn run(&mut self);
    /// Back on the event loop with the request. `Some(rc)` finalizes the
    /// request with `rc`; `None` when the work has finalized it or posted
    /// more work itself.
    fn finish(self: Box<Self>, r: &mut ngx_http_request_t) -> Option<ngx_int_t>;
}

/// A work item on its way through the pool, and the request waiting for it.
/// The pool thread owns it between post and completion; the event loop
/// before and after.
struct PoolSlot<W> {
    work: Box<W>,
    request: *mut ngx_http_request_t,
    /// A gracefully stopping worker exits once no timer is left, and work
    /// in a pool thread has none: without this timer the worker would exit
    /// with the request open and its answer lost. It never needs to fire;
    /// the completion event removes it.
    guard: ngx_event_t,
    /// Counts the work as queued until a pool thread starts it.
    queued: Option<GaugeTicket>,
}

const GUARD_TIMER_MS: ngx_msec_t = 3_600_000;

extern "C" fn guard_timer_handler(event: *mut ngx_event_t) {
    // Work running for an hour is stuck, but its request is still alive:
    // keep holding the worker open rather than free what the thread uses.
    // SAFETY: the event lives in its slot until the completion event, which
    // deletes this timer first.
    unsafe { ngx_add_timer(event, GUARD_TIMER_MS) };
}

/// Posts `work` to `pool`; the request stays blocked until it is done. Err
/// gives the work back when nginx refuses it (the pool's queue is full;
/// nginx logs that).
pub fn post<W: PoolWork>(
    r: &mut ngx_http_request_t,
    pool: NonNull<ngx_thread_pool_t>,
    work: Box<W>,
) -> Result<(), Box<W>> {
    // SAFETY: the task and its context (one pointer) are allocated from the
    // request pool, which outlives the task: the request is `blocked` until
    // the completion event has run.
    unsafe {
        let task: *mut ngx_thread_task_t =
            ngx_thread_task_alloc(r.pool, core::mem::size_of::<*mut PoolSlot<W>>());
        let Some(task) = task.as_mut() else {
            return Err(work);
        };
        let slot = Box::into_raw(Box::new(PoolSlot {
            work,
            request: ptr::from_mut(r),
            // An all-zero event is nginx's idle event.
            guard: core::mem::zeroed(),
            queued: MemoryBudget::of_request(r)
                .map(|budget| budget.count(Gauge::PoolQueued, crate::handler::current_pid())),
        }));
        task.ctx.cast::<*mut PoolSlot<W>>().write(slot);
        task.handler = Some(run_in_thread::<W>);
        task.event.handler = Some(completion_event::<W>);
        task.event.data = slot.cast();
        if ngx_thread_task_post(pool.as_ptr(), task) != NGX_OK as ngx_int_t {
            return Err(Box::from_raw(slot).work);
        }
        let main = &mut *r.main;
        main.set_blocked(main.blocked() + 1);
        r.set_aio(1);
        let guard = &mut (*slot).guard;
        guard.handler = Some(guard_timer_handler);
        guard.data = slot.cast();
        guard.log = (*r.connection).log;
        ngx_add_timer(guard, GUARD_TIMER_MS);
    }
    Ok(())
}

/// A generation, and its result once the pool thread has made it.
pub struct GenerationWork {
    generation: GenerateTask,
    result: Option<Result<Outcome, TaskFailure>>,
}

impl GenerationWork {
    pub fn new(generation: GenerateTask) -> Box<Self> {
        Box::new(GenerationWork {
            generation,
            result: None,
        })
    }
}

impl PoolWork for GenerationWork {
    fn run(&mut self) {
        let result =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.generation.run()));
        self.result = Some(result.unwrap_or_else(|_| {
            Err(Refusal::new(
                Class::Image(ErrorClass::Internal),
                "internal error (panic) while making the thumbnail",
            )
            .into())
        }));
    }

    fn finish(self: Box<Self>, r: &mut ngx_http_request_t) -> Option<ngx_int_t> {
        let result = self.result.unwrap_or_else(|| {
            Err(Refusal::new(
                Class::Image(ErrorClass::Internal),
                "the thumbnail task returned no result",
            )
            .into())
        });
        crate::generation::generation_done(r, result);
        None
    }
}

/// How much lower than the worker's the scheduling priority of a pool
/// thread making thumbnails is. On a machine whose cores are all busy
/// making thumbnails, the event loop (nice 0) then wins the CPU whenever it
/// has something to do, so static files and cache hits keep their latency;
/// the thumbnails take what is left.
const POOL_THREAD_NICENESS: i32 = 10;

/// Lowers this pool thread's priority, once per thread. An unprivileged
/// worker cannot raise it back, so the thread stays at the lower priority
/// for other tasks of the pool too (nginx's own `aio threads` reads, which
/// wait on the disk rather than on the CPU).
fn lower_thread_priority() {
    thread_local! {
        static LOWERED: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
    }
    if LOWERED.replace(true) {
        return;
    }
    // SAFETY: plain system calls on this thread's own id; a failure leaves
    // the priority as it was, which is only less good.
    unsafe {
        let tid = libc::gettid() as libc::id_t;
        *libc::__errno_location() = 0;
        let current = libc::getpriority(libc::PRIO_PROCESS, tid);
        if current != -1 || *libc::__errno_location() == 0 {
            libc::setpriority(
                libc::PRIO_PROCESS,
                tid,
                (current + POOL_THREAD_NICENESS).min(19),
            );
        }
    }
}

/// Runs in a pool thread: only the work's own data is touched.
unsafe extern "C" fn run_in_thread<W: PoolWork>(data: *mut c_void, _log: *mut ngx_log_t) {
    lower_thread_priority();
    // SAFETY: `data` is the task context holding the slot pointer written in
    // `post`; nothing else touches the slot until the completion event.
    let slot = unsafe { &mut **data.cast::<*mut PoolSlot<W>>() };
    let _running = slot.queued.take().map(|t| t.move_to(Gauge::PoolRunning));
    // Each work turns its own panics into a result; this only keeps an
    // unwind from crossing into nginx's thread.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| slot.work.run()));
}

/// Back on the event loop once the thread is done.
extern "C" fn completion_event<W: PoolWork>(event: *mut ngx_event_t) {
    // SAFETY: `data` is the slot `post` made with Box::into_raw, and the
    // thread is done with it; its request is alive because it was blocked
    // for this work.
    let mut slot = unsafe { Box::from_raw((*event).data.cast::<PoolSlot<W>>()) };
    if slot.guard.timer_set() != 0 {
        // SAFETY: the guard timer armed by `post`, in this worker's tree.
        unsafe { ngx_del_timer(&mut slot.guard) };
    }
    // SAFETY: as above.
    let r = unsafe { &mut *slot.request };
    let connection = r.connection;
    // SAFETY: `main`, `connection` and its log are the live request's, and
    // the log's data is nginx's http log context, pointed at this request
    // as nginx's own thread completions do, so log lines name it.
    unsafe {
        let main = &mut *r.main;
        main.set_blocked(main.blocked() - 1);
        r.set_aio(0);
        let log = (*connection).log;
        if let Some(log_ctx) = (*log).data.cast::<ngx_http_log_ctx_t>().as_mut() {
            log_ctx.current_request = r;
        }
    }
    let log = crate::handler::connection_log(r);
    let work = slot.work;
    let finished = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work.finish(r)))
        .unwrap_or_else(|_| {
            crate::handler::log_line(
                log,
                ngx::ffi::NGX_LOG_ALERT,
                0,
                "image_filter_rs: internal error (panic) after a pool task",
            );
            Some(ngx::ffi::NGX_HTTP_INTERNAL_SERVER_ERROR as ngx_int_t)
        });
    if let Some(rc) = finished {
        // SAFETY: `r` is the live request this work belonged to; nginx's
        // event handlers end by running the requests posted meanwhile, and
        // the connection outlives the call (nginx reuses, never frees, it).
        unsafe {
            ngx::ffi::ngx_http_finalize_request(r, rc);
            ngx::ffi::ngx_http_run_posted_requests(connection);
        }
    }
}
