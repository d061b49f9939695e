//! Build script of the module crate: turns what nginx-sys learned about the
//! nginx it was built against (`DEP_NGINX_*`) into cfgs for our code, and
//! records where that nginx was built so that `make build` can pick up the
//! matching `nginx` binary.
//!
//! cargo passes `DEP_NGINX_*` only to direct dependents of nginx-sys, which is
//! why the module lists nginx-sys in its own dependencies.

use std::env;
use std::fs;
use std::path::PathBuf;

fn main() {
    forward_list("FEATURES", "ngx_feature");
    forward_list("OS", "ngx_os");

    println!("cargo::rerun-if-env-changed=DEP_NGINX_BUILD_DIR");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let build_dir = env::var("DEP_NGINX_BUILD_DIR").unwrap_or_default();
    fs::write(out_dir.join("nginx-build-dir"), build_dir).expect("OUT_DIR is writable");
    let version = env::var("DEP_NGINX_VERSION").unwrap_or_default();
    fs::write(out_dir.join("nginx-version"), version).expect("OUT_DIR is writable");
}

/// Declares the accepted values of `cfg(<cfg>)` and sets the ones nginx-sys
/// detected, so `#[cfg(ngx_feature = "http_ssl")]` works in the module.
fn forward_list(var: &str, cfg: &str) {
    let check = format!("DEP_NGINX_{var}_CHECK");
    let values = format!("DEP_NGINX_{var}");
    println!("cargo::rerun-if-env-changed={check}");
    println!("cargo::rerun-if-env-changed={values}");
    let accepted = env::var(&check).unwrap_or_else(|_| "any()".to_string());
    println!("cargo::rustc-check-cfg=cfg({cfg}, values({accepted}))");
    if let Ok(list) = env::var(&values) {
        for value in list.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            println!("cargo::rustc-cfg={cfg}=\"{value}\"");
        }
    }
}
