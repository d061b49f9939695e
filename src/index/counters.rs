//! The figures every process adds to under the zone's lock, kept in the
//! zone's shared memory beside the table: hits, misses, generations and
//! their time histogram, waits, evictions, source fetches by status class.
//! `image_filter_rs_status` prints them as JSON and in Prometheus's format.

/// Figures every process adds to; `image_filter_rs_status` prints them.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub struct Counters {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
    pub waits: u64,
    pub generated: u64,
    pub generation_failures: u64,
    pub store_failures: u64,
    pub evictions: u64,
    pub inactive_removals: u64,
    pub lock_timeouts: u64,
    pub stale_locks: u64,
    pub damaged_files: u64,
    pub loaded_files: u64,
    /// Claims given up because another request claimed the key first.
    pub claim_races: u64,
    /// `image_filter_rs_purge` requests, and the files they removed.
    pub purges: u64,
    pub purged_files: u64,
    /// Generations whose claim was gone when they finished (purged, or
    /// the original deleted meanwhile): made, served, not kept.
    pub discarded: u64,
    /// Index slots whose originals the cache manager looked at, and the
    /// entries it removed because their original was gone.
    pub originals_checked: u64,
    pub originals_gone: u64,
    /// Originals fetched from an upstream (`image_filter_rs_source`), by
    /// how the fetch ended; see `SourceFetch`.
    pub source_fetches_2xx: u64,
    pub source_fetches_304: u64,
    pub source_fetches_4xx: u64,
    pub source_fetches_5xx: u64,
    pub source_fetches_error: u64,
    /// How long generations took (`record_generation`): how many fell in
    /// each of `GENERATION_BUCKETS_US` (not cumulative; the last is past
    /// the largest bound), and their sum in microseconds.
    pub generation_buckets: [u64; GENERATION_BUCKETS_US.len() + 1],
    pub generation_us_sum: u64,
}

/// Upper bounds, inclusive, of the generation time histogram's buckets in
/// microseconds: from a small thumbnail of a small original (a few ms) to a
/// large original on a busy machine, past which `image_filter_rs_memory_timeout`
/// and clients give up anyway.
pub const GENERATION_BUCKETS_US: [u64; 11] = [
    5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000, 5_000_000,
    10_000_000,
];

/// How the fetch of an original from an upstream ended, as counted in
/// `Counters`: the classes a Prometheus scrape shows as `class="..."`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceFetch {
    /// Any 2xx answer: the original's bytes arrived.
    Success,
    /// A conditional fetch the upstream answered 304: the kept rendition
    /// is still good.
    NotModified,
    /// 4xx (404 and the others), and any other non-5xx answer.
    ClientError,
    /// 5xx answers.
    ServerError,
    /// No answer: connection refused or reset, timeout.
    Error,
}

impl SourceFetch {
    /// The class of an upstream's HTTP status; `Error` is for the fetches
    /// that got none.
    pub fn from_status(status: u16) -> SourceFetch {
        match status {
            304 => SourceFetch::NotModified,
            200..=299 => SourceFetch::Success,
            500..=599 => SourceFetch::ServerError,
            _ => SourceFetch::ClientError,
        }
    }

    /// The label value (and the JSON name's suffix).
    pub fn label(self) -> &'static str {
        match self {
            SourceFetch::Success => "2xx",
            SourceFetch::NotModified => "304",
            SourceFetch::ClientError => "4xx",
            SourceFetch::ServerError => "5xx",
            SourceFetch::Error => "error",
        }
    }

    pub const ALL: [SourceFetch; 5] = [
        SourceFetch::Success,
        SourceFetch::NotModified,
        SourceFetch::ClientError,
        SourceFetch::ServerError,
        SourceFetch::Error,
    ];
}

impl Counters {
    /// Counts one finished generation and its time in the histogram, so
    /// that the histogram's count and `generated` are the same figure.
    pub fn record_generation(&mut self, elapsed: core::time::Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = GENERATION_BUCKETS_US
            .iter()
            .position(|&bound| us <= bound)
            .unwrap_or(GENERATION_BUCKETS_US.len());
        self.generated += 1;
        self.generation_buckets[bucket] += 1;
        self.generation_us_sum = self.generation_us_sum.saturating_add(us);
    }

    /// Counts one fetch of an original from an upstream; call it under the
    /// zone's lock: `index.lock().counters().record_source_fetch(class)`.
    pub fn record_source_fetch(&mut self, class: SourceFetch) {
        *self.source_fetch_mut(class) += 1;
    }

    pub fn source_fetches(&self, class: SourceFetch) -> u64 {
        match class {
            SourceFetch::Success => self.source_fetches_2xx,
            SourceFetch::NotModified => self.source_fetches_304,
            SourceFetch::ClientError => self.source_fetches_4xx,
            SourceFetch::ServerError => self.source_fetches_5xx,
            SourceFetch::Error => self.source_fetches_error,
        }
    }

    fn source_fetch_mut(&mut self, class: SourceFetch) -> &mut u64 {
        match class {
            SourceFetch::Success => &mut self.source_fetches_2xx,
            SourceFetch::NotModified => &mut self.source_fetches_304,
            SourceFetch::ClientError => &mut self.source_fetches_4xx,
            SourceFetch::ServerError => &mut self.source_fetches_5xx,
            SourceFetch::Error => &mut self.source_fetches_error,
        }
    }
}
