//! Placeholder: the pipeline benchmark follows in the next commit.
fn main() {
    let _ = thumbnailer::make_thumbnail;
}
