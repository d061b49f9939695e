//! The shared test corpus (`../shared/corpus/` beside the workspace) for the
//! crate's unit tests, found the way `tests/common` finds it: `None`, with a
//! note, when the shared data is absent, and a failure when `CI` is set.

use std::path::PathBuf;

pub(crate) fn corpus_dir() -> Option<PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if !dir.join("MANIFEST.tsv").is_file() {
        assert!(
            std::env::var_os("CI").is_none(),
            "shared test data not found at {} (required when CI is set)",
            dir.display()
        );
        eprintln!("SKIPPED: shared test data not found at {}", dir.display());
        return None;
    }
    Some(dir)
}

pub(crate) fn corpus_file(rel: &str) -> Option<Vec<u8>> {
    let path = corpus_dir()?.join(rel);
    Some(std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}
