//! What a request says: the query's parameters, their signature, the
//! rendition file names of the Django thumbnail libraries, and the formats
//! its `Accept` header allows.

pub mod accept;
pub mod names;
pub mod query;
pub mod signature;
