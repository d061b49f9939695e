//! Integration-test harness for image_filter_rs: starts the real nginx with
//! the real module in a throwaway prefix on 127.0.0.1, speaks raw HTTP/1.1 to
//! it, and checks its error log. The tests themselves live in `t/tests/`.
//!
//! Run them after `make build`:
//! `cargo test -p image-filter-rs-tests --release` (add `--no-fail-fast` to
//! see every failing test file, `-- --nocapture` to see what tests print).
//!
//! Environment:
//! - `IFRS_NGINX`, `IFRS_MODULE`: other artefacts than `build/sbin/nginx` and
//!   `build/modules/ngx_http_image_filter_rs_module.so` (relative paths are
//!   taken from the repository root).
//! - `IFRS_SAMPLE_MEDIA`: another folder than `sample-media/`.
//! - `CI`: tests that need `../shared/` fail instead of skipping without it,
//!   and so does the full-disk test when it cannot mount its tmpfs.
//!
//! Some tests look into `/proc` (Linux) and signal nginx's workers; the
//! full-disk test mounts a small tmpfs and so needs root (it is skipped,
//! with a message, otherwise).

pub mod browser;
pub mod cache;
pub mod http;
pub mod images;
pub mod nginx;
pub mod paths;
pub mod pillow;
pub mod presets;
pub mod procfs;
pub mod prometheus;
pub mod sign;
pub mod status;
pub mod tmpfs;
pub mod wait;

pub use http::{Request, Response};
pub use nginx::{Builder, ConfigCheck, Nginx, Placeholders};
pub use wait::wait_until;
