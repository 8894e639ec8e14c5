//! TODO(protocol helper): wire frames.
pub mod order;
pub use order::Side;
