//! Build script of the codecs crate: finds libavif with `pkg-config` and
//! generates Rust declarations for the few libavif functions and types that
//! `src/avif.rs` calls, so the binding follows the installed header rather
//! than a copy that could drift from it.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=PKG_CONFIG_PATH");
    let cflags = pkg_config(&["--cflags", "libavif"]);
    let libs = pkg_config(&["--libs", "libavif"]);
    for flag in libs.split_whitespace() {
        if let Some(dir) = flag.strip_prefix("-L") {
            println!("cargo::rustc-link-search=native={dir}");
        } else if let Some(lib) = flag.strip_prefix("-l") {
            println!("cargo::rustc-link-lib={lib}");
        }
    }

    let mut builder = bindgen::Builder::default()
        .header_contents("wrapper.h", "#include <avif/avif.h>\n")
        .clang_args(cflags.split_whitespace())
        // Enums stay plain integer constants: a value the library returns
        // that this header did not list must not be undefined behaviour.
        .prepend_enum_name(false)
        .layout_tests(true)
        .parse_callbacks(Box::new(bindgen::CargoCallbacks::new()));
    for function in [
        "avifResultToString",
        "avifDecoderCreate",
        "avifDecoderDestroy",
        "avifDecoderSetIOMemory",
        "avifDecoderParse",
        "avifDecoderNextImage",
        "avifRGBImageSetDefaults",
        "avifImageYUVToRGB",
        "avifImageRGBToYUV",
        "avifImageCreate",
        "avifImageDestroy",
        "avifEncoderCreate",
        "avifEncoderDestroy",
        "avifEncoderWrite",
        "avifRWDataFree",
    ] {
        builder = builder.allowlist_function(function);
    }
    for constant in [
        "AVIF_RESULT_.*",
        "AVIF_TRANSFORM_.*",
        "AVIF_RGB_FORMAT_RGBA?",
        "AVIF_PIXEL_FORMAT_YUV4[24]0",
        "AVIF_RANGE_FULL",
        "AVIF_CODEC_CHOICE_(AUTO|AOM)",
        "AVIF_COLOR_PRIMARIES_BT709",
        "AVIF_TRANSFER_CHARACTERISTICS_SRGB",
        "AVIF_MATRIX_COEFFICIENTS_BT601",
        "AVIF_STRICT_ENABLED",
        "AVIF_(DEFAULT_IMAGE|QUANTIZER|SPEED)_.*",
    ] {
        builder = builder.allowlist_var(constant);
    }
    for enumeration in ["avifTransformFlag", "avifStrictFlag"] {
        builder = builder.allowlist_type(enumeration);
    }
    let bindings = builder
        .generate()
        .expect("bindgen could not read <avif/avif.h>: is libavif-dev installed?");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("avif_sys.rs"))
        .expect("OUT_DIR is writable");
}

/// Runs `pkg-config` and returns its output, stopping the build with the
/// package to install when the library is missing.
fn pkg_config(args: &[&str]) -> String {
    let output = Command::new(env::var("PKG_CONFIG").unwrap_or_else(|_| "pkg-config".into()))
        .args(args)
        .output()
        .expect("pkg-config is needed to find libavif (apt-get install pkg-config)");
    if !output.status.success() {
        panic!(
            "pkg-config {}: {} (install libavif-dev, see tools/deps.sh)",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    String::from_utf8(output.stdout).expect("pkg-config prints UTF-8")
}
