//! [`SymbolIndex`]: a symbol's position in the configured symbol list.
//!
//! Every layer refers to a symbol by this index rather than by name: the shm
//! table's slots and ring entries, the signal engine's per-symbol state, the
//! strategy's positions. A distinct type keeps it from being confused with
//! the other integers those layers handle (counts, sequence numbers,
//! windows), and documents in every signature what the number means.

use std::fmt;

/// A symbol's position in `symbols` (the config's list, which is also the
/// shm table's directory order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SymbolIndex(pub u32);

impl SymbolIndex {
    /// The index of the `i`th symbol; a table holds far fewer than 2³² symbols.
    pub fn new(i: usize) -> SymbolIndex {
        SymbolIndex(i as u32)
    }

    /// For indexing the per-symbol arrays kept in table order.
    pub fn get(self) -> usize {
        self.0 as usize
    }

    /// Every index of a table of `n` symbols, in order.
    pub fn all(n: usize) -> impl Iterator<Item = SymbolIndex> {
        (0..n).map(SymbolIndex::new)
    }
}

impl fmt::Display for SymbolIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl slog::Value for SymbolIndex {
    fn serialize(
        &self,
        _: &slog::Record,
        key: slog::Key,
        serializer: &mut dyn slog::Serializer,
    ) -> slog::Result {
        serializer.emit_u32(key, self.0)
    }
}
