//! What all workers share to bound generation: the memory budget
//! (`image_filter_rs_memory`), from which each generation reserves its
//! estimated peak before decoding, so a burst of large originals waits
//! instead of exhausting memory; and the generation slots
//! (`image_filter_rs_concurrency`), which bound how many generations run at
//! once on the whole machine, so that some CPU stays free for the event loops.
//!
//! Both are a few atomics in a small shared zone, touched by pool threads
//! without a lock; a pool thread waiting for a slot sleeps on a futex in the
//! zone. Reservations and slots are also counted per process, so that what
//! a worker killed mid-generation held is taken back by the next process
//! that finds the budget short, instead of leaking for good.
//!
//! The same per-process records hold the gauges the status page shows
//! (jobs waiting for room, module tasks queued in and run by thread pools),
//! so that a dead worker's share drops out of them too.

use core::ffi::{c_char, c_void};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicI32, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ngx::core::{Status, NGX_CONF_ERROR};
use ngx::ffi::{
    ngx_conf_t, ngx_http_request_t, ngx_int_t, ngx_shared_memory_add, ngx_shm_zone_t,
    ngx_slab_alloc, ngx_slab_pool_t, ngx_str_t, NGX_ERROR,
};
use ngx::http::{HttpModule, HttpModuleMainConf};
use ngx::ngx_string;

use crate::ImageFilterRsModule;

pub const DEFAULT_BUDGET: u64 = 256 * 1024 * 1024;
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;

const MAGIC: u64 = u64::from_le_bytes(*b"IFRSMEM3");
/// Processes that can hold reservations at once; more workers than this
/// share the last slots' accounting, which only delays reclaiming.
const HOLDERS: usize = 128;

#[repr(C)]
struct Holder {
    pid: AtomicI32,
    slots: AtomicU32,
    bytes: AtomicU64,
    /// This process's jobs in each `Gauge`.
    gauges: [AtomicU32; GAUGES],
}

/// What a `GaugeTicket` counts while it lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gauge {
    /// Requests whose generation was refused memory or a generation slot,
    /// from that first refusal until their generation ends or they give up
    /// with 503.
    WaitingForRoom = 0,
    /// Module tasks posted to an nginx thread pool that no pool thread has
    /// started yet: the module's share of the pool's queue, which nginx
    /// does not expose.
    PoolQueued = 1,
    /// Module tasks a pool thread is running.
    PoolRunning = 2,
}

const GAUGES: usize = 3;

#[repr(C)]
pub struct Budget {
    magic: u64,
    limit: AtomicU64,
    reserved: AtomicU64,
    /// `image_filter_rs_concurrency`; 0 is no limit.
    slot_limit: AtomicU32,
    /// Slots taken; the futex word waiting threads sleep on.
    slots_taken: AtomicU32,
    /// Threads asleep on `slots_taken`, so that a release without waiters
    /// makes no system call.
    slot_waiters: AtomicU32,
    holders: [Holder; HOLDERS],
}

/// The configured budget and, once nginx mapped it, its shared state.
pub struct MemoryBudget {
    pub limit: u64,
    /// Generation slots; 0 is no limit.
    pub concurrency: u32,
    zone: *mut ngx_shm_zone_t,
}

/// What asking for memory gave.
pub enum Admission {
    Granted(Reservation),
    /// Not now: other generations hold the budget.
    Wait,
    /// Never: this job alone needs more than the whole budget.
    TooLarge {
        limit: u64,
    },
}

/// Memory held by one generation; released when dropped.
pub struct Reservation {
    budget: &'static Budget,
    holder: usize,
    bytes: u64,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.budget.holders[self.holder]
            .bytes
            .fetch_sub(self.bytes, Ordering::AcqRel);
        self.budget.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

/// One of the `image_filter_rs_concurrency` slots, held for a generation;
/// released when dropped. Without a limit it holds nothing.
pub struct Slot {
    taken: Option<(&'static Budget, usize)>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((budget, holder)) = self.taken {
            budget.holders[holder].slots.fetch_sub(1, Ordering::AcqRel);
            budget.slots_taken.fetch_sub(1, Ordering::AcqRel);
            if budget.slot_waiters.load(Ordering::Acquire) > 0 {
                futex_wake(&budget.slots_taken, 1);
            }
        }
    }
}

/// One job counted in a `Gauge` of the shared zone until dropped.
pub struct GaugeTicket {
    budget: &'static Budget,
    holder: usize,
    gauge: Gauge,
}

impl GaugeTicket {
    fn new(budget: &'static Budget, holder: usize, gauge: Gauge) -> GaugeTicket {
        budget.holders[holder].gauges[gauge as usize].fetch_add(1, Ordering::AcqRel);
        GaugeTicket {
            budget,
            holder,
            gauge,
        }
    }

    /// The same job, counted in `gauge` instead (a queued task a thread
    /// has started).
    pub fn move_to(self, gauge: Gauge) -> GaugeTicket {
        GaugeTicket::new(self.budget, self.holder, gauge)
    }
}

impl Drop for GaugeTicket {
    fn drop(&mut self) {
        self.budget.holders[self.holder].gauges[self.gauge as usize].fetch_sub(1, Ordering::AcqRel);
    }
}

/// The budget's figures at one moment, for the status page.
#[derive(Clone, Copy, Debug, Default)]
pub struct BudgetFigures {
    /// `image_filter_rs_memory`, and how much of it generations hold.
    pub limit: u64,
    pub reserved: u64,
    /// `image_filter_rs_concurrency` (0: no limit), the slots taken, and
    /// the pool threads asleep waiting for one.
    pub slot_limit: u32,
    pub slots_taken: u32,
    pub slot_waiters: u32,
    /// Live processes' totals of each `Gauge`.
    pub waiting_for_room: u64,
    pub pool_queued: u64,
    pub pool_running: u64,
}

/// A handle the pool thread can carry: the shared budget is 'static for the
/// life of the process.
#[derive(Clone, Copy)]
pub struct BudgetHandle(&'static Budget);

impl BudgetHandle {
    pub fn admit(self, bytes: u64, pid: i32) -> Admission {
        let budget = self.0;
        let limit = budget.limit.load(Ordering::Acquire);
        if bytes > limit {
            return Admission::TooLarge { limit };
        }
        let mut reclaimed = false;
        loop {
            let reserved = budget.reserved.load(Ordering::Acquire);
            if reserved + bytes > limit {
                if reclaimed {
                    return Admission::Wait;
                }
                reclaim_dead(budget);
                reclaimed = true;
                continue;
            }
            if budget
                .reserved
                .compare_exchange(
                    reserved,
                    reserved + bytes,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
            {
                let holder = holder_slot(budget, pid);
                budget.holders[holder]
                    .bytes
                    .fetch_add(bytes, Ordering::AcqRel);
                return Admission::Granted(Reservation {
                    budget,
                    holder,
                    bytes,
                });
            }
        }
    }

    pub fn reserved(self) -> u64 {
        self.0.reserved.load(Ordering::Acquire)
    }

    /// Counts one job of process `pid` in `gauge` while the ticket lives.
    pub fn count(self, gauge: Gauge, pid: i32) -> GaugeTicket {
        GaugeTicket::new(self.0, holder_slot(self.0, pid), gauge)
    }

    /// What the budget and the gauges show now. The gauges of processes
    /// that died without dropping their tickets are left out.
    pub fn figures(self) -> BudgetFigures {
        let budget = self.0;
        let mut figures = BudgetFigures {
            limit: budget.limit.load(Ordering::Acquire),
            reserved: budget.reserved.load(Ordering::Acquire),
            slot_limit: budget.slot_limit.load(Ordering::Acquire),
            slots_taken: budget.slots_taken.load(Ordering::Acquire),
            slot_waiters: budget.slot_waiters.load(Ordering::Acquire),
            ..BudgetFigures::default()
        };
        for holder in &budget.holders {
            let pid = holder.pid.load(Ordering::Acquire);
            if pid == 0 || !crate::cache::process_alive(pid) {
                continue;
            }
            let gauge = |g: Gauge| u64::from(holder.gauges[g as usize].load(Ordering::Acquire));
            figures.waiting_for_room += gauge(Gauge::WaitingForRoom);
            figures.pool_queued += gauge(Gauge::PoolQueued);
            figures.pool_running += gauge(Gauge::PoolRunning);
        }
        figures
    }

    /// A generation slot, waiting up to `wait` for one to come free (a pool
    /// thread sleeps; the event loop passes zero and only tries). `None`
    /// when all slots stayed taken.
    pub fn take_slot(self, pid: i32, wait: Duration) -> Option<Slot> {
        let budget = self.0;
        let deadline = Instant::now() + wait;
        let mut reclaimed = false;
        loop {
            let limit = budget.slot_limit.load(Ordering::Acquire);
            if limit == 0 {
                return Some(Slot { taken: None });
            }
            let taken = budget.slots_taken.load(Ordering::Acquire);
            if taken < limit {
                if budget
                    .slots_taken
                    .compare_exchange(taken, taken + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    let holder = holder_slot(budget, pid);
                    budget.holders[holder].slots.fetch_add(1, Ordering::AcqRel);
                    return Some(Slot {
                        taken: Some((budget, holder)),
                    });
                }
                continue;
            }
            if !reclaimed {
                reclaim_dead(budget);
                reclaimed = true;
                continue;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            budget.slot_waiters.fetch_add(1, Ordering::AcqRel);
            futex_wait(&budget.slots_taken, taken, left);
            budget.slot_waiters.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

/// Sleeps while `word` still holds `expected`, at most `timeout`. The zone
/// is shared between processes, so the futex is not a private one.
fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let timeout = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(timeout.subsec_nanos()),
    };
    // SAFETY: `word` is a live 32-bit atomic in the shared zone; the kernel
    // only reads it and the timeout. Any error (a changed word, a signal,
    // the timeout) just returns to the caller's loop.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &timeout,
            ptr::null::<u32>(),
            0,
        );
    }
}

fn futex_wake(word: &AtomicU32, count: i32) {
    // SAFETY: as for futex_wait; waking takes no memory but the address.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            count,
            ptr::null::<libc::timespec>(),
            ptr::null::<u32>(),
            0,
        );
    }
}

/// This process's accounting slot: its own, a free one, or the last one.
fn holder_slot(budget: &Budget, pid: i32) -> usize {
    for (i, holder) in budget.holders.iter().enumerate() {
        let owner = holder.pid.load(Ordering::Acquire);
        if owner == pid {
            return i;
        }
        if owner == 0
            && holder
                .pid
                .compare_exchange(0, pid, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            return i;
        }
    }
    HOLDERS - 1
}

/// Takes back what dead processes held.
fn reclaim_dead(budget: &Budget) {
    for holder in &budget.holders {
        let pid = holder.pid.load(Ordering::Acquire);
        if pid == 0 || crate::cache::process_alive(pid) {
            continue;
        }
        let held = holder.bytes.swap(0, Ordering::AcqRel);
        budget.reserved.fetch_sub(held, Ordering::AcqRel);
        let slots = holder.slots.swap(0, Ordering::AcqRel);
        if slots > 0 {
            budget.slots_taken.fetch_sub(slots, Ordering::AcqRel);
            futex_wake(&budget.slots_taken, i32::MAX);
        }
        for gauge in &holder.gauges {
            gauge.store(0, Ordering::Release);
        }
        let _ = holder
            .pid
            .compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl MemoryBudget {
    /// Adds the module's budget zone; its init lays the budget out, or
    /// adopts it across a reload with the new limit.
    pub fn configure(
        cf: &mut ngx_conf_t,
        limit: u64,
        concurrency: u32,
    ) -> Result<Box<MemoryBudget>, *mut c_char> {
        let mut budget = Box::new(MemoryBudget {
            limit,
            concurrency,
            zone: ptr::null_mut(),
        });
        let mut name: ngx_str_t = ngx_string!("image_filter_rs_memory");
        let tag = ptr::from_ref(ImageFilterRsModule::module())
            .cast_mut()
            .cast();
        // SAFETY: `cf` is valid during configuration; the zone size leaves
        // the slab allocator its pages plus the budget structure.
        let size = 8 * unsafe { ngx::ffi::ngx_pagesize } + 2 * core::mem::size_of::<Budget>();
        let zone = unsafe { ngx_shared_memory_add(cf, &mut name, size, tag) };
        // SAFETY: a non-null zone is nginx's, valid for the cycle.
        let zone_ref = unsafe { zone.as_mut() }.ok_or(NGX_CONF_ERROR)?;
        zone_ref.init = Some(init_zone);
        zone_ref.data = ptr::from_mut(budget.as_mut()).cast();
        // The zone's size must not change across reloads for nginx to reuse
        // it, so it does not depend on the limit.
        zone_ref.noreuse = 0;
        budget.zone = zone;
        Ok(budget)
    }

    /// The request's shared budget, if nginx mapped it.
    pub fn of_request(r: &ngx_http_request_t) -> Option<BudgetHandle> {
        ImageFilterRsModule::main_conf(r)?.budget.as_ref()?.handle()
    }

    pub fn handle(&self) -> Option<BudgetHandle> {
        // SAFETY: `zone` lives as long as the cycle; its pool's `data` is
        // the Budget that init_zone placed there.
        unsafe {
            let zone = self.zone.as_ref()?;
            let pool = zone.shm.addr.cast::<ngx_slab_pool_t>().as_ref()?;
            pool.data.cast::<Budget>().as_ref().map(BudgetHandle)
        }
    }
}

extern "C" fn init_zone(zone: *mut ngx_shm_zone_t, _previous: *mut c_void) -> ngx_int_t {
    let result = std::panic::catch_unwind(|| {
        // SAFETY: nginx calls init with its zone, mapped, starting with an
        // initialised slab pool; `data` is the MemoryBudget of this cycle.
        unsafe {
            let zone = &mut *zone;
            let configured = &*zone.data.cast::<MemoryBudget>();
            let (limit, concurrency) = (configured.limit, configured.concurrency);
            let pool = zone.shm.addr.cast::<ngx_slab_pool_t>();
            if let Some(existing) = (*pool).data.cast::<Budget>().as_ref() {
                if existing.magic != MAGIC {
                    return false;
                }
                // A reload: keep what is reserved and taken, apply the new
                // limits; waiters look again under the new slot limit.
                existing.limit.store(limit, Ordering::Release);
                existing.slot_limit.store(concurrency, Ordering::Release);
                futex_wake(&existing.slots_taken, i32::MAX);
                return true;
            }
            let memory = ngx_slab_alloc(pool, core::mem::size_of::<Budget>()).cast::<Budget>();
            let Some(memory) = NonNull::new(memory) else {
                return false;
            };
            core::ptr::write_bytes(memory.as_ptr(), 0, 1);
            let budget = &mut *memory.as_ptr();
            budget.magic = MAGIC;
            budget.limit.store(limit, Ordering::Release);
            budget.slot_limit.store(concurrency, Ordering::Release);
            (*pool).data = memory.as_ptr().cast();
            true
        }
    });
    match result {
        Ok(true) => Status::NGX_OK.into(),
        _ => NGX_ERROR as ngx_int_t,
    }
}
