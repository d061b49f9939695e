//! The memory budget shared by all workers (`image_filter_rs_memory`): each
//! generation reserves its estimated peak before decoding and gives it back
//! when done, so a burst of large originals waits instead of exhausting
//! memory.
//!
//! The budget is a few atomics in a small shared zone, touched by pool
//! threads without a lock. Reservations are also counted per process, so
//! that what a worker killed mid-generation held is taken back by the next
//! process that finds the budget short, instead of leaking for good.

use core::ffi::{c_char, c_void};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicI32, AtomicU64, Ordering};

use ngx::core::{Status, NGX_CONF_ERROR};
use ngx::ffi::{
    ngx_conf_t, ngx_int_t, ngx_shared_memory_add, ngx_shm_zone_t, ngx_slab_alloc, ngx_slab_pool_t,
    ngx_str_t, NGX_ERROR,
};
use ngx::http::HttpModule;
use ngx::ngx_string;

use crate::ImageFilterRsModule;

pub const DEFAULT_BUDGET: u64 = 256 * 1024 * 1024;
pub const DEFAULT_TIMEOUT_MS: u64 = 5000;

const MAGIC: u64 = u64::from_le_bytes(*b"IFRSMEM1");
/// Processes that can hold reservations at once; more workers than this
/// share the last slots' accounting, which only delays reclaiming.
const HOLDERS: usize = 128;

#[repr(C)]
struct Holder {
    pid: AtomicI32,
    bytes: AtomicU64,
}

#[repr(C)]
pub struct Budget {
    magic: u64,
    limit: AtomicU64,
    reserved: AtomicU64,
    holders: [Holder; HOLDERS],
}

/// The configured budget and, once nginx mapped it, its shared state.
pub struct MemoryBudget {
    pub limit: u64,
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
        let _ = holder
            .pid
            .compare_exchange(pid, 0, Ordering::AcqRel, Ordering::Acquire);
    }
}

impl MemoryBudget {
    /// Adds the module's budget zone; its init lays the budget out, or
    /// adopts it across a reload with the new limit.
    pub fn configure(cf: &mut ngx_conf_t, limit: u64) -> Result<Box<MemoryBudget>, *mut c_char> {
        let mut budget = Box::new(MemoryBudget {
            limit,
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
            let limit = (*zone.data.cast::<MemoryBudget>()).limit;
            let pool = zone.shm.addr.cast::<ngx_slab_pool_t>();
            if let Some(existing) = (*pool).data.cast::<Budget>().as_ref() {
                if existing.magic != MAGIC {
                    return false;
                }
                // A reload: keep what is reserved, apply the new limit.
                existing.limit.store(limit, Ordering::Release);
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
            (*pool).data = memory.as_ptr().cast();
            true
        }
    });
    match result {
        Ok(true) => Status::NGX_OK.into(),
        _ => NGX_ERROR as ngx_int_t,
    }
}
