//! The cache index in shared memory: one table per `keys_zone`, seen by every
//! worker and by the cache manager, mapping a key to its cache file, its size,
//! its last use, the original's validators and whether someone is making it.
//!
//! The table is a fixed array laid out once when the zone is created, so no
//! allocation happens after start and a full zone degrades to evicting, never
//! to failing. Slots are found by linear probing on the key (already a
//! uniform hash) and removed with backward shifting, so there are no
//! tombstones to clean up. Eviction samples a few slots and drops the least
//! recently used of them, which approximates LRU without list links that a
//! moving slot would have to fix up.
//!
//! Every access holds the zone's slab mutex: nginx's master releases it when
//! a worker dies holding it, so a crash cannot leave the index locked.

mod counters;

pub use counters::{Counters, SourceFetch, GENERATION_BUCKETS_US};

use core::mem::size_of;
use core::ptr::NonNull;

use ngx::ffi::{ngx_shmtx_lock, ngx_shmtx_unlock, ngx_slab_pool_t};
use thumbnailer::key::CacheKey;
use thumbnailer::store::Validators;

const MAGIC: u64 = u64::from_le_bytes(*b"IFRSIDX1");
/// Changes whenever the layout below does: a reload with a module whose
/// layout differs must not reinterpret the old workers' table.
const LAYOUT: u32 = (size_of::<Slot>() as u32) << 16 | size_of::<Header>() as u32;

/// Most slots are kept free so probe runs stay short.
const MAX_LOAD_PERCENT: u64 = 85;
/// Slots looked at per eviction choice.
const EVICTION_SAMPLE: usize = 8;
/// Probe window scanned to find those samples.
const EVICTION_WINDOW: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum SlotState {
    Empty = 0,
    Ready = 1,
    Generating = 2,
}

/// One cached thumbnail, or one being made.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Slot {
    pub key: [u8; 16],
    pub state: SlotState,
    _pad: [u8; 3],
    /// The worker making it, while `Generating`.
    pub generator_pid: i32,
    /// Wall-clock milliseconds when generation started.
    pub since_ms: u64,
    /// Wall-clock seconds of the last hit or store.
    pub last_use: u64,
    /// Bytes on disk, header included: what `max_size` counts.
    pub file_size: u64,
    pub body_offset: u64,
    pub original: SharedValidators,
    /// A hash of the original's path, to drop all its thumbnails when it goes.
    pub origin: u64,
    pub content_type: u8,
    _pad2: [u8; 7],
}

/// `Validators` with a layout fixed for shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[repr(C)]
pub struct SharedValidators {
    pub dev: u64,
    pub ino: u64,
    pub mtime_sec: i64,
    pub size: u64,
    pub mtime_nsec: u32,
    _pad: u32,
}

impl From<Validators> for SharedValidators {
    fn from(v: Validators) -> Self {
        SharedValidators {
            dev: v.dev,
            ino: v.ino,
            mtime_sec: v.mtime_sec,
            size: v.size,
            mtime_nsec: v.mtime_nsec,
            _pad: 0,
        }
    }
}

#[repr(C)]
struct Header {
    magic: u64,
    layout: u32,
    /// Set by the cache manager once it has read the directory after start.
    loaded: u32,
    capacity: u64,
    used: u64,
    /// Bytes on disk of all Ready slots.
    total_size: u64,
    counters: Counters,
    /// xorshift state for eviction sampling.
    rng: u64,
}

/// The table of one zone. Cheap to copy: two pointers into shared memory.
#[derive(Clone, Copy)]
pub struct Index {
    pool: NonNull<ngx_slab_pool_t>,
    header: NonNull<Header>,
}

pub struct InitError(pub &'static str);

impl Index {
    /// Lays the table out over the zone's free space, or adopts the table a
    /// reload inherits. Called from the zone's init, before any worker runs.
    ///
    /// # Safety
    /// `pool` must be the slab pool at the start of a mapped zone.
    pub unsafe fn init(pool: NonNull<ngx_slab_pool_t>) -> Result<Index, InitError> {
        // SAFETY: per the caller, the pool is initialised; `data` is null for
        // a new zone and our header for an inherited one.
        unsafe {
            let pool_ref = &mut *pool.as_ptr();
            if let Some(header) = NonNull::new(pool_ref.data.cast::<Header>()) {
                let h = header.as_ref();
                if h.magic != MAGIC || h.layout != LAYOUT {
                    return Err(InitError(
                        "the cache zone was made by another version of the module; restart nginx instead of reloading",
                    ));
                }
                return Ok(Index { pool, header });
            }
            let free = pool_ref.end as usize - pool_ref.start as usize;
            // The slab allocator's page bookkeeping needs some of the space.
            let budget = free / 10 * 9;
            let capacity = (budget.saturating_sub(size_of::<Header>()) / size_of::<Slot>()) as u64;
            if capacity < 16 {
                return Err(InitError("the cache keys zone is too small"));
            }
            let bytes = size_of::<Header>() + capacity as usize * size_of::<Slot>();
            let memory = ngx::ffi::ngx_slab_alloc(pool.as_ptr(), bytes);
            let Some(memory) = NonNull::new(memory) else {
                return Err(InitError("could not allocate the cache index"));
            };
            core::ptr::write_bytes(memory.as_ptr().cast::<u8>(), 0, bytes);
            let header = memory.cast::<Header>();
            header.as_ptr().write(Header {
                magic: MAGIC,
                layout: LAYOUT,
                loaded: 0,
                capacity,
                used: 0,
                total_size: 0,
                counters: Counters::default(),
                rng: 0x9E37_79B9_7F4A_7C15,
            });
            pool_ref.data = header.as_ptr().cast();
            Ok(Index { pool, header })
        }
    }

    /// The index of an initialised zone.
    ///
    /// # Safety
    /// `pool` must be a zone's slab pool whose init ran `Index::init`.
    pub unsafe fn attach(pool: NonNull<ngx_slab_pool_t>) -> Option<Index> {
        // SAFETY: per the caller.
        let header = NonNull::new(unsafe { (*pool.as_ptr()).data.cast::<Header>() })?;
        Some(Index { pool, header })
    }

    pub fn lock(&self) -> Locked<'_> {
        // SAFETY: the mutex lives in the mapped zone for the process's life.
        unsafe { ngx_shmtx_lock(&mut (*self.pool.as_ptr()).mutex) };
        Locked { index: self }
    }
}

/// The index while its mutex is held; dropping it unlocks.
pub struct Locked<'a> {
    index: &'a Index,
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        // SAFETY: this guard holds the lock it releases.
        unsafe { ngx_shmtx_unlock(&mut (*self.index.pool.as_ptr()).mutex) };
    }
}

/// Who claims a key, and when.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    pub pid: i32,
    pub now_ms: u64,
    /// A hash of the original's path (see `Slot::origin`).
    pub origin: u64,
}

/// The outcome of `claim_if_unchanged`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claimed {
    Yes,
    /// Another request claimed or finished the key since it was looked at.
    Raced,
    /// The table is full of entries that cannot be evicted.
    Full,
}

/// What a lookup found.
#[derive(Clone, Copy, Debug)]
pub enum Found {
    Absent,
    Ready(Slot),
    Generating(Slot),
}

impl Locked<'_> {
    fn header(&mut self) -> &mut Header {
        // SAFETY: the header is ours while the lock is held.
        unsafe { &mut *self.index.header.as_ptr() }
    }

    fn slots(&mut self) -> &mut [Slot] {
        // SAFETY: `capacity` slots follow the header in the allocation made
        // by init; the lock makes this the only access.
        unsafe {
            let capacity = self.index.header.as_ref().capacity as usize;
            let first = self.index.header.as_ptr().add(1).cast::<Slot>();
            core::slice::from_raw_parts_mut(first, capacity)
        }
    }

    pub fn counters(&mut self) -> &mut Counters {
        &mut self.header().counters
    }

    pub fn capacity(&mut self) -> u64 {
        self.header().capacity
    }

    pub fn used(&mut self) -> u64 {
        self.header().used
    }

    pub fn total_size(&mut self) -> u64 {
        self.header().total_size
    }

    pub fn loaded(&mut self) -> bool {
        self.header().loaded != 0
    }

    pub fn set_loaded(&mut self) {
        self.header().loaded = 1;
    }

    /// Where `key` is, or the empty slot where it would go.
    fn position(&mut self, key: &CacheKey) -> (usize, bool) {
        let slots = self.slots();
        let capacity = slots.len();
        let mut at = home(key, capacity);
        loop {
            let slot = &slots[at];
            if slot.state == SlotState::Empty {
                return (at, false);
            }
            if slot.key == key.0 {
                return (at, true);
            }
            at = (at + 1) % capacity;
        }
    }

    pub fn find(&mut self, key: &CacheKey) -> Found {
        let (at, found) = self.position(key);
        if !found {
            return Found::Absent;
        }
        let slot = self.slots()[at];
        match slot.state {
            SlotState::Ready => Found::Ready(slot),
            SlotState::Generating => Found::Generating(slot),
            SlotState::Empty => Found::Absent,
        }
    }

    /// `find`, and when the entry is ready and made from `original`, marks
    /// the hit in the same pass: the hit path takes the lock once.
    pub fn find_for_hit(&mut self, key: &CacheKey, original: &SharedValidators, now: u64) -> Found {
        let (at, found) = self.position(key);
        if !found {
            return Found::Absent;
        }
        let slot = &mut self.slots()[at];
        match slot.state {
            SlotState::Ready if slot.original == *original => {
                slot.last_use = now;
                let slot = *slot;
                self.header().counters.hits += 1;
                Found::Ready(slot)
            }
            SlotState::Ready => Found::Ready(*slot),
            SlotState::Generating => Found::Generating(*slot),
            SlotState::Empty => Found::Absent,
        }
    }

    /// Marks a hit: the entry becomes the most recently used.
    pub fn touch(&mut self, key: &CacheKey, now: u64) {
        let (at, found) = self.position(key);
        if found {
            self.slots()[at].last_use = now;
        }
    }

    /// Claims `key` for generation, but only if its entry is still what the
    /// caller decided on (`seen`, from an earlier lock): absent, the same
    /// expired entry, or the same dead or timed-out claim.
    ///
    /// The decision to generate is made under one lock and the claim under
    /// another; in between, a request in another worker may have claimed or
    /// finished the same key. Claiming over it anyway made two generations
    /// of one key under a herd (two MISSes, `generated: 2`), so the claim
    /// re-checks and reports the race instead; the caller then waits for
    /// the other maker like any latecomer.
    pub fn claim_if_unchanged(
        &mut self,
        key: &CacheKey,
        seen: &Found,
        claim: Claim,
        victims: &mut Vec<Slot>,
    ) -> Claimed {
        let now = self.find(key);
        let unchanged = match (seen, &now) {
            (Found::Absent, Found::Absent) => true,
            (Found::Ready(a), Found::Ready(b)) => a.original == b.original,
            (Found::Generating(a), Found::Generating(b)) => {
                a.generator_pid == b.generator_pid && a.since_ms == b.since_ms
            }
            _ => false,
        };
        if !unchanged {
            self.header().counters.claim_races += 1;
            return Claimed::Raced;
        }
        if self.claim(key, claim.pid, claim.now_ms, claim.origin, victims) {
            Claimed::Yes
        } else {
            Claimed::Full
        }
    }

    /// Claims `key` for generation by `pid`, replacing whatever was there
    /// (an expired entry, a dead worker's claim). When the table is full,
    /// the entry evicted to make room goes to `victims`, whose files the
    /// caller removes. Returns false when the table is full of entries that
    /// cannot be evicted, in which case nothing is claimed.
    pub fn claim(
        &mut self,
        key: &CacheKey,
        pid: i32,
        now_ms: u64,
        origin: u64,
        victims: &mut Vec<Slot>,
    ) -> bool {
        let (mut at, found) = self.position(key);
        if found {
            let slot = self.slots()[at];
            if slot.state == SlotState::Ready {
                // The file stays until the new one is renamed over it.
                self.header().total_size -= slot.file_size;
            }
        } else {
            let limit = self.header().capacity * MAX_LOAD_PERCENT / 100;
            if self.header().used >= limit {
                match self.evict_victim(None) {
                    Some(victim) => victims.push(victim),
                    None => return false,
                }
                at = self.position(key).0;
            }
            self.header().used += 1;
        }
        self.slots()[at] = Slot {
            key: key.0,
            state: SlotState::Generating,
            _pad: [0; 3],
            generator_pid: pid,
            since_ms: now_ms,
            last_use: now_ms / 1000,
            file_size: 0,
            body_offset: 0,
            original: SharedValidators::default(),
            origin,
            content_type: 0,
            _pad2: [0; 7],
        };
        true
    }

    /// Turns a claim into a ready entry (or indexes a file found on disk).
    pub fn complete(
        &mut self,
        key: &CacheKey,
        ready: ReadyEntry,
        now: u64,
        victims: &mut Vec<Slot>,
    ) {
        let (at, found) = self.position(key);
        if !found {
            // Evicted or dropped while being made, or found on disk: index
            // it afresh, as the file is there now.
            if !self.claim(key, 0, now * 1000, ready.origin, victims) {
                return;
            }
            return self.complete(key, ready, now, victims);
        }
        let slot = &mut self.slots()[at];
        let previous = if slot.state == SlotState::Ready {
            slot.file_size
        } else {
            0
        };
        slot.state = SlotState::Ready;
        slot.generator_pid = 0;
        slot.last_use = now;
        slot.file_size = ready.file_size;
        slot.body_offset = ready.body_offset;
        slot.original = ready.original;
        slot.origin = ready.origin;
        slot.content_type = ready.content_type;
        let header = self.header();
        header.total_size = header.total_size - previous + ready.file_size;
    }

    /// Removes `key`; returns the slot it had.
    pub fn remove(&mut self, key: &CacheKey) -> Option<Slot> {
        let (at, found) = self.position(key);
        found.then(|| self.remove_at(at))
    }

    fn remove_at(&mut self, at: usize) -> Slot {
        let removed = self.slots()[at];
        if removed.state == SlotState::Ready {
            self.header().total_size -= removed.file_size;
        }
        self.header().used -= 1;
        // Backward-shift: pull later members of the probe run into the gap
        // so that lookups never stop early at a hole.
        let slots = self.slots();
        let capacity = slots.len();
        let mut hole = at;
        let mut next = (at + 1) % capacity;
        while slots[next].state != SlotState::Empty {
            let home_at = home(&CacheKey(slots[next].key), capacity);
            // Move `next` into the hole unless its home lies cyclically in
            // (hole, next], where moving it would put it before its home.
            let home_between = if hole <= next {
                hole < home_at && home_at <= next
            } else {
                hole < home_at || home_at <= next
            };
            if !home_between {
                slots[hole] = slots[next];
                hole = next;
            }
            next = (next + 1) % capacity;
        }
        slots[hole].state = SlotState::Empty;
        removed
    }

    /// Drops one ready entry, roughly the least recently used, other than
    /// `keep`, and returns it so the caller can remove its file; None when
    /// nothing is evictable.
    pub fn evict_victim(&mut self, keep: Option<&CacheKey>) -> Option<Slot> {
        let capacity = self.header().capacity as usize;
        let start = (self.next_random() % capacity as u64) as usize;
        let slots = self.slots();
        let mut best: Option<usize> = None;
        let mut seen = 0;
        // Widen the window until something is found: a sparse table has few
        // ready slots near any one place.
        let mut scanned = 0;
        while scanned < capacity && (seen < EVICTION_SAMPLE || best.is_none()) {
            let at = (start + scanned) % capacity;
            scanned += 1;
            let slot = &slots[at];
            if slot.state != SlotState::Ready || keep.is_some_and(|k| k.0 == slot.key) {
                continue;
            }
            seen += 1;
            if best.is_none_or(|b| slots[b].last_use > slot.last_use) {
                best = Some(at);
            }
            if scanned >= EVICTION_WINDOW && best.is_some() && seen >= EVICTION_SAMPLE {
                break;
            }
        }
        let at = best?;
        let victim = self.remove_at(at);
        self.header().counters.evictions += 1;
        Some(victim)
    }

    /// Evicts until the ready entries' files fit in `max_size` bytes.
    pub fn evict_to_fit(
        &mut self,
        max_size: u64,
        keep: Option<&CacheKey>,
        victims: &mut Vec<Slot>,
    ) {
        while self.header().total_size > max_size {
            match self.evict_victim(keep) {
                Some(victim) => victims.push(victim),
                None => break,
            }
        }
    }

    /// Ready entries not used since `cutoff` (seconds), removed; at most
    /// `limit` per call so the lock is held briefly.
    pub fn remove_inactive(&mut self, cutoff: u64, limit: usize, out: &mut Vec<Slot>) {
        let capacity = self.header().capacity as usize;
        let mut at = 0;
        while at < capacity && out.len() < limit {
            let slot = self.slots()[at];
            if slot.state == SlotState::Ready && slot.last_use < cutoff {
                out.push(self.remove_at(at));
                self.header().counters.inactive_removals += 1;
                // The shift may have moved an unvisited slot into `at`.
                continue;
            }
            at += 1;
        }
    }

    /// The keys of the ready entries among `count` slots from `from`
    /// (wrapping around): the cache manager's share of one pass.
    pub fn ready_keys(&mut self, from: usize, count: usize, out: &mut Vec<CacheKey>) {
        let slots = self.slots();
        let capacity = slots.len();
        for i in 0..count.min(capacity) {
            let slot = &slots[(from + i) % capacity];
            if slot.state == SlotState::Ready {
                out.push(CacheKey(slot.key));
            }
        }
    }

    /// Removes every entry made, or being made, from the original whose
    /// path hashes to `origin`; the ready ones (whose files the caller
    /// removes) go to `out`. A claim removed here makes its generation
    /// discard what it made (see `complete_claim`), so a purge racing a
    /// generation leaves no rendition of the bytes it was made from.
    ///
    /// Scans the whole table under the lock: a few milliseconds for a
    /// zone of 80,000 entries, once per purge.
    pub fn remove_origin(&mut self, origin: u64, out: &mut Vec<Slot>) {
        let capacity = self.header().capacity as usize;
        let mut at = 0;
        while at < capacity {
            let slot = self.slots()[at];
            if slot.state != SlotState::Empty && slot.origin == origin {
                let removed = self.remove_at(at);
                if removed.state == SlotState::Ready {
                    out.push(removed);
                }
                // The backward shift may have moved an unvisited slot here.
                continue;
            }
            at += 1;
        }
    }

    /// Removes every claim: the generations in flight then discard what
    /// they make. A directory purge cannot tell which claims are for
    /// originals under the directory (a claim has no file yet to read the
    /// path from), so it drops them all; the cost is that those few
    /// renditions are made again on their next request.
    pub fn remove_claims(&mut self) -> usize {
        let capacity = self.header().capacity as usize;
        let mut removed = 0;
        let mut at = 0;
        while at < capacity {
            if self.slots()[at].state == SlotState::Generating {
                self.remove_at(at);
                removed += 1;
                // The backward shift may have moved an unvisited slot here.
                continue;
            }
            at += 1;
        }
        removed
    }

    /// Turns this process's claim of `key`, made at `since_ms`, into a
    /// ready entry. False when the claim is gone (purged, the original
    /// deleted, taken over): the caller must not leave the file it wrote.
    pub fn complete_claim(
        &mut self,
        key: &CacheKey,
        claim: Claim,
        ready: ReadyEntry,
        now: u64,
        victims: &mut Vec<Slot>,
    ) -> bool {
        match self.find(key) {
            Found::Generating(slot)
                if slot.generator_pid == claim.pid && slot.since_ms == claim.now_ms =>
            {
                self.complete(key, ready, now, victims);
                true
            }
            _ => false,
        }
    }

    fn next_random(&mut self) -> u64 {
        let header = self.header();
        let mut x = header.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        header.rng = x;
        x
    }
}

/// What a finished generation records.
#[derive(Clone, Copy, Debug)]
pub struct ReadyEntry {
    pub file_size: u64,
    pub body_offset: u64,
    pub original: SharedValidators,
    pub origin: u64,
    pub content_type: u8,
}

fn home(key: &CacheKey, capacity: usize) -> usize {
    let mut first = [0u8; 8];
    first.copy_from_slice(&key.0[..8]);
    (u64::from_le_bytes(first) % capacity as u64) as usize
}

/// Content types as one byte in a slot.
pub fn content_type_code(mime: &str) -> u8 {
    CONTENT_TYPES
        .iter()
        .position(|t| *t == mime)
        .map_or(0, |i| i as u8 + 1)
}

pub fn content_type_name(code: u8) -> Option<&'static str> {
    CONTENT_TYPES
        .get(usize::from(code).checked_sub(1)?)
        .copied()
}

const CONTENT_TYPES: [&str; 7] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/avif",
    "image/tiff",
    // ThumbHash, BlurHash and colour placeholders.
    "text/plain; charset=utf-8",
];
