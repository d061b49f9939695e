//! Where things live: the repository root, the built nginx binary and module,
//! the project's own sample media, and the shared test data beside the checkout.
//!
//! Every path handed to nginx is made absolute here, because nginx resolves
//! relative paths against its `-p` prefix, not against the test's directory.

use std::env;
use std::path::{Path, PathBuf};

/// Environment variable that overrides the nginx binary (`build/sbin/nginx`).
pub const ENV_NGINX: &str = "IFRS_NGINX";
/// Environment variable that overrides the module (`build/modules/…so`).
pub const ENV_MODULE: &str = "IFRS_MODULE";
/// Environment variable that overrides the sample media folder (`sample-media/`).
pub const ENV_SAMPLE_MEDIA: &str = "IFRS_SAMPLE_MEDIA";

/// The workspace root: this package lives in `<root>/t`.
pub fn repo_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = manifest
        .parent()
        .expect("the test package sits one level below the repository root");
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// Resolves an override from the environment; relative values are taken
/// from the repository root, because cargo runs test binaries from `t/`,
/// which is rarely what the person typing the path meant.
fn from_env(var: &str) -> Option<PathBuf> {
    let value = env::var_os(var).filter(|v| !v.is_empty())?;
    let path = PathBuf::from(value);
    Some(if path.is_absolute() {
        path
    } else {
        repo_root().join(path)
    })
}

/// Returns an artefact that must exist, or panics telling how to build it.
fn artefact(var: &str, default_rel: &str, what: &str) -> PathBuf {
    let (path, origin) = match from_env(var) {
        Some(p) => (p, format!("from ${var}")),
        None => (repo_root().join(default_rel), "the default".to_string()),
    };
    if !path.is_file() {
        panic!(
            "{what} not found at {} ({origin}).\n\
             Build it first: run `make build` in the repository root \
             (or point ${var} at an existing file).",
            path.display()
        );
    }
    path.canonicalize().unwrap_or(path)
}

/// The nginx binary the tests start: `build/sbin/nginx` or `$IFRS_NGINX`.
pub fn nginx_binary() -> PathBuf {
    artefact(ENV_NGINX, "build/sbin/nginx", "the nginx binary")
}

/// The module under test: `build/modules/ngx_http_image_filter_rs_module.so`
/// or `$IFRS_MODULE`.
pub fn module_path() -> PathBuf {
    artefact(
        ENV_MODULE,
        "build/modules/ngx_http_image_filter_rs_module.so",
        "the image_filter_rs module",
    )
}

/// The project's committed sample media folder (`sample-media/`), or
/// `$IFRS_SAMPLE_MEDIA` while experimenting with other files.
pub fn sample_media_dir() -> PathBuf {
    from_env(ENV_SAMPLE_MEDIA).unwrap_or_else(|| repo_root().join("sample-media"))
}

/// One committed sample file; panics if it is missing, since the project's
/// own media are part of the checkout and a missing one is a real error.
pub fn sample_media(name: &str) -> PathBuf {
    let path = sample_media_dir().join(name);
    if !path.is_file() {
        panic!(
            "sample media file {} is missing; the project ships it in sample-media/ \
             (set ${ENV_SAMPLE_MEDIA} to use another folder)",
            path.display()
        );
    }
    path
}

/// The shared test data beside the checkout (`../shared/`), if present.
pub fn shared_dir() -> Option<PathBuf> {
    let dir = repo_root().parent()?.join("shared");
    dir.is_dir().then_some(dir)
}

/// Gives the shared data for a test that needs it. When it is absent the test
/// should return early: this prints why. Under CI (env `CI` set) it panics
/// instead, so that CI never passes by skipping.
pub fn require_shared(test: &str) -> Option<PathBuf> {
    if let Some(dir) = shared_dir() {
        return Some(dir);
    }
    let expected = repo_root()
        .parent()
        .map(|p| p.join("shared"))
        .unwrap_or_else(|| PathBuf::from("../shared"));
    let msg = format!(
        "{test}: needs the shared test data at {}, which is absent",
        expected.display()
    );
    if env::var_os("CI").is_some() {
        panic!("{msg}; CI is set, so this is a failure, not a skip");
    }
    notice(&format!("SKIPPED {msg}"));
    None
}

/// Prints a line that stays visible even though libtest captures the output
/// of passing tests: a skip or a vacuous pass must be seen, not buried.
/// Writing to the stderr handle directly bypasses the capture, which only
/// intercepts the `print!` family of macros.
pub fn notice(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
