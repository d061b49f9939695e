//! The built module exports only what nginx looks up (its modules table),
//! so the libjpeg-turbo linked into it cannot clash with another libjpeg
//! that image_filter's libgd loads into the same nginx.

use std::process::Command;

use image_filter_rs_tests::paths;

#[test]
fn only_the_modules_table_is_exported() {
    let output = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(paths::module_path())
        .output()
        .expect("run nm (binutils)");
    assert!(output.status.success(), "nm failed: {output:?}");
    let listing = String::from_utf8_lossy(&output.stdout);
    let exported: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split_whitespace().nth(2))
        .collect();
    for name in ["ngx_modules", "ngx_module_names", "ngx_module_order"] {
        assert!(
            exported.contains(&name),
            "{name} not exported: {exported:?}"
        );
    }
    let leaked: Vec<&&str> = exported
        .iter()
        .filter(|name| {
            name.starts_with("jpeg_") || name.starts_with("tj") || name.starts_with("WebP")
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "image library symbols exported: {leaked:?}"
    );
}
