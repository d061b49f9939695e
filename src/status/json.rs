//! The status page as JSON: `{"caches":{"<zone>":{...}},"memory":{...}}`,
//! the format the page has always had, with the generation time histogram,
//! the source fetches and the budget's gauges added.

use core::fmt::Write;

use super::{IndexFigures, Snapshot, COUNTERS};
use crate::index::{SourceFetch, GENERATION_BUCKETS_US};

pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::from("{\"caches\":{");
    for (i, zone) in snapshot.zones.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "\"{}\":{{", escape(&zone.name));
        if let Some(index) = &zone.index {
            zone_fields(&mut out, index);
        }
        out.push('}');
    }
    out.push('}');
    if let Some(b) = &snapshot.budget {
        let _ = write!(
            out,
            ",\"memory\":{{\"limit\":{},\"reserved\":{},\"slots\":{},\"slots_taken\":{},\
             \"slot_waiters\":{},\"jobs_waiting\":{},\"pool_tasks_queued\":{},\
             \"pool_tasks_running\":{}}}",
            b.limit,
            b.reserved,
            b.slot_limit,
            b.slots_taken,
            b.slot_waiters,
            b.waiting_for_room,
            b.pool_queued,
            b.pool_running,
        );
    }
    out.push_str("}\n");
    out
}

fn zone_fields(out: &mut String, index: &IndexFigures) {
    let _ = write!(
        out,
        "\"entries\":{},\"capacity\":{},\"size\":{},\"max_size\":{},\"loaded\":{}",
        index.entries,
        index.capacity,
        index.size,
        index.max_size.map_or("null".to_string(), |m| m.to_string()),
        index.loaded,
    );
    let c = &index.counters;
    for field in &COUNTERS {
        let _ = write!(out, ",\"{}\":{}", field.json, (field.get)(c));
    }
    for class in SourceFetch::ALL {
        let _ = write!(
            out,
            ",\"source_fetches_{}\":{}",
            class.label(),
            c.source_fetches(class)
        );
    }
    // Cumulative like Prometheus's, keyed by the upper bound in seconds.
    out.push_str(",\"generation_seconds\":{\"buckets\":{");
    let mut cumulative = 0;
    for (i, count) in c.generation_buckets.iter().enumerate() {
        cumulative += count;
        let bound = GENERATION_BUCKETS_US
            .get(i)
            .map_or("+Inf".to_string(), |&us| seconds(us));
        let comma = if i > 0 { "," } else { "" };
        let _ = write!(out, "{comma}\"{bound}\":{cumulative}");
    }
    let _ = write!(
        out,
        "}},\"sum\":{},\"count\":{}}}",
        seconds(c.generation_us_sum),
        cumulative
    );
}

/// Microseconds as exact decimal seconds, without trailing zeros: `0.005`,
/// `2.5`, `10`.
pub fn seconds(us: u64) -> String {
    let whole = us / 1_000_000;
    let fraction = us % 1_000_000;
    if fraction == 0 {
        return whole.to_string();
    }
    let digits = format!("{fraction:06}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

fn escape(name: &str) -> String {
    name.chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            c if c.is_control() => vec![],
            c => vec![c],
        })
        .collect()
}
