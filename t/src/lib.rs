//! Integration-test harness for image_filter_rs: starts the real nginx with
//! the real module in a throwaway prefix on 127.0.0.1, speaks raw HTTP/1.1 to
//! it, and checks its error log. The tests themselves live in `t/tests/`.
//!
//! Artefacts come from `make build` (`build/sbin/nginx`,
//! `build/modules/ngx_http_image_filter_rs_module.so`), overridable with
//! `IFRS_NGINX` and `IFRS_MODULE`.

pub mod cache;
pub mod http;
pub mod images;
pub mod nginx;
pub mod paths;
pub mod presets;
pub mod wait;

pub use http::{Request, Response};
pub use nginx::{Builder, ConfigCheck, Nginx, Placeholders};
pub use wait::wait_until;
