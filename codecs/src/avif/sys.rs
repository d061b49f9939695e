//! The libavif declarations `build.rs` generates from the installed
//! `avif/avif.h`, limited to what `avif.rs` calls. Only `avif.rs` uses them.
#![allow(
    dead_code,
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    clippy::all
)]

include!(concat!(env!("OUT_DIR"), "/avif_sys.rs"));
