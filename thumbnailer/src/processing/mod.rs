//! The pipeline's steps between decoding and encoding, one file each;
//! `crate::pipeline` runs them in order.

pub(crate) mod adjust;
pub(crate) mod colour;
pub(crate) mod filters;
pub(crate) mod geometry;
pub(crate) mod orient;
pub(crate) mod place;
pub(crate) mod placeholder;
pub(crate) mod resize;
