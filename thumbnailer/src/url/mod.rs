//! What a request URL says: the query's parameters, their signature, and the
//! rendition file names of the Django thumbnail libraries.

pub mod names;
pub mod query;
pub mod signature;
