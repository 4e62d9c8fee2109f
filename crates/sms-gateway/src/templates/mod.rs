//! The texts twostep sends and their segment count. The renderer lives in core
//! (`twostep_core::templates`), because the flows render every text themselves (core may not
//! depend on this crate); adapters that split or encode messages use the segment counting
//! from here.

pub use twostep_core::templates::{Encoding, Locale, segments};
