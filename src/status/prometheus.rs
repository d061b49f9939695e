//! The status page in Prometheus's text exposition format, version 0.0.4:
//! one metric family per figure, each with `# HELP` and `# TYPE` and its
//! samples together (one per zone, labelled `zone="..."`), as the format
//! requires; counters end in `_total` and units are in the names.

use core::fmt::Write;

use super::json::seconds;
use super::{IndexFigures, Snapshot, COUNTERS};
use crate::index::{SourceFetch, GENERATION_BUCKETS_US};
use crate::memory::BudgetFigures;

pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::new();
    let zones: Vec<(String, &IndexFigures)> = snapshot
        .zones
        .iter()
        .filter_map(|z| Some((escape_label(&z.name), z.index.as_ref()?)))
        .collect();
    if !zones.is_empty() {
        zone_families(&mut out, &zones);
    }
    if let Some(budget) = &snapshot.budget {
        budget_families(&mut out, budget);
    }
    out
}

/// The figures of each zone, a family at a time (empty families are left
/// out, for a configuration without cache zones).
fn zone_families(out: &mut String, zones: &[(String, &IndexFigures)]) {
    let per_zone = |out: &mut String,
                    name: &str,
                    kind: &str,
                    help: &str,
                    get: &dyn Fn(&IndexFigures) -> Option<u64>| {
        family(out, name, kind, help);
        for (zone, figures) in zones {
            if let Some(value) = get(figures) {
                let _ = writeln!(out, "{name}{{zone=\"{zone}\"}} {value}");
            }
        }
    };
    per_zone(
        out,
        "image_filter_rs_cache_entries",
        "gauge",
        "Entries in the cache index, ready or being made.",
        &|f| Some(f.entries),
    );
    per_zone(
        out,
        "image_filter_rs_cache_capacity_entries",
        "gauge",
        "Entries the keys zone can hold.",
        &|f| Some(f.capacity),
    );
    per_zone(
        out,
        "image_filter_rs_cache_size_bytes",
        "gauge",
        "Bytes on disk of the cached renditions.",
        &|f| Some(f.size),
    );
    per_zone(
        out,
        "image_filter_rs_cache_max_size_bytes",
        "gauge",
        "The cache's max_size (absent when it has none).",
        &|f| f.max_size,
    );
    per_zone(
        out,
        "image_filter_rs_cache_loaded",
        "gauge",
        "1 once the cache loader has indexed the directory after start.",
        &|f| Some(u64::from(f.loaded)),
    );
    for field in &COUNTERS {
        per_zone(out, field.metric, "counter", field.help, &|f| {
            Some((field.get)(&f.counters))
        });
    }

    let name = "image_filter_rs_source_fetches_total";
    family(out, name, "counter", "Originals fetched from an upstream (image_filter_rs_source), by status class; error is no answer (refused, reset, timed out).");
    for (zone, figures) in zones {
        for class in SourceFetch::ALL {
            let value = figures.counters.source_fetches(class);
            let _ = writeln!(
                out,
                "{name}{{zone=\"{zone}\",class=\"{}\"}} {value}",
                class.label()
            );
        }
    }

    let name = "image_filter_rs_generation_seconds";
    family(out, name, "histogram", "Time to make a rendition: waiting for a generation slot, reading, decoding, resizing, encoding and storing.");
    for (zone, figures) in zones {
        let c = &figures.counters;
        let mut cumulative = 0;
        for (i, count) in c.generation_buckets.iter().enumerate() {
            cumulative += count;
            let bound = GENERATION_BUCKETS_US
                .get(i)
                .map_or("+Inf".to_string(), |&us| seconds(us));
            let _ = writeln!(
                out,
                "{name}_bucket{{zone=\"{zone}\",le=\"{bound}\"}} {cumulative}"
            );
        }
        let _ = writeln!(
            out,
            "{name}_sum{{zone=\"{zone}\"}} {}",
            seconds(c.generation_us_sum)
        );
        let _ = writeln!(out, "{name}_count{{zone=\"{zone}\"}} {cumulative}");
    }
}

/// The machine-wide figures: one budget for all workers, no zone label.
fn budget_families(out: &mut String, b: &BudgetFigures) {
    let gauges: [(&str, &str, u64); 8] = [
        ("image_filter_rs_memory_limit_bytes", "image_filter_rs_memory: the memory all generations may reserve together.", b.limit),
        ("image_filter_rs_memory_reserved_bytes", "Memory reserved by the generations running now.", b.reserved),
        ("image_filter_rs_generation_slots", "image_filter_rs_concurrency: generations allowed at once (0: no limit).", u64::from(b.slot_limit)),
        ("image_filter_rs_generation_slots_taken", "Generation slots taken now (0 when there is no limit).", u64::from(b.slots_taken)),
        ("image_filter_rs_generation_slot_waiters", "Pool threads asleep waiting for a generation slot.", u64::from(b.slot_waiters)),
        ("image_filter_rs_jobs_waiting", "Requests refused memory or a generation slot, waiting to try again.", b.waiting_for_room),
        ("image_filter_rs_thread_pool_queued_tasks", "Module tasks posted to thread pools and not yet started by a pool thread, all workers together.", b.pool_queued),
        ("image_filter_rs_thread_pool_running_tasks", "Module tasks being run by pool threads, all workers together.", b.pool_running),
    ];
    for (name, help, value) in gauges {
        family(out, name, "gauge", help);
        let _ = writeln!(out, "{name} {value}");
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

/// A label value as the format wants it: backslash, double quote and line
/// feed escaped.
fn escape_label(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}
