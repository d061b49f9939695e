//! Safe wrappers over C codec libraries the thumbnailer calls directly: each
//! module owns one library, checks every size and pointer at the boundary,
//! and hands back plain Rust values. Every `unsafe` block says why it holds
//! in a `// SAFETY:` comment.
#![deny(unsafe_op_in_unsafe_fn)]

pub mod avif;
pub mod webp_anim;
