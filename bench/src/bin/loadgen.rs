//! Placeholder: the HTTP load generator follows in the next commit.
fn main() {}
