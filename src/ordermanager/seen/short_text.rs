//! Text kept in a window entry of [`SeenIds`](super::SeenIds): inline when
//! short, as ids and symbols nearly always are.
//!
//! A recovery inserts every recorded id (millions) into the window and
//! evicts nearly all of them again; with each id and symbol in a heap
//! allocation of its own, the allocator's work was a good part of it.

/// Bytes held inline: with the length and the enum's tag the value is as
/// big as 32 bytes, and our strategy's ids (`<name>-<8 hex>-<hex seq>`) fit
/// for names up to 12 characters.
const INLINE: usize = 30;

/// A string, inline up to [`INLINE`] bytes, else boxed. Only compared as
/// bytes, so it needs no UTF-8 check to read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ShortText {
    /// `len` bytes at the start of `bytes`.
    Inline {
        /// How many of `bytes` are the text.
        len: u8,
        /// The text, then zeros.
        bytes: [u8; INLINE],
    },
    /// A longer text.
    Boxed(Box<[u8]>),
}

impl ShortText {
    /// A copy of `text`.
    pub(super) fn new(text: &[u8]) -> ShortText {
        let b = text;
        match u8::try_from(b.len()) {
            Ok(len) if b.len() <= INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..b.len()].copy_from_slice(b);
                ShortText::Inline { len, bytes }
            }
            _ => ShortText::Boxed(b.into()),
        }
    }

    /// The text's bytes.
    pub(super) fn as_bytes(&self) -> &[u8] {
        match self {
            ShortText::Inline { len, bytes } => &bytes[..usize::from(*len)],
            ShortText::Boxed(b) => b,
        }
    }

    /// Whether this is `text`.
    pub(super) fn is(&self, text: &[u8]) -> bool {
        self.as_bytes() == text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_texts_are_inline_and_long_ones_boxed_and_both_read_back() {
        for text in [
            "",
            "AAPL",
            &"x".repeat(INLINE),
            &"y".repeat(INLINE + 1),
            "é-ü",
        ] {
            let kept = ShortText::new(text.as_bytes());
            assert_eq!(kept.as_bytes(), text.as_bytes());
            assert!(kept.is(text.as_bytes()) && !kept.is(b"other"));
            let inline = matches!(kept, ShortText::Inline { .. });
            assert_eq!(inline, text.len() <= INLINE, "{text}");
        }
        assert_eq!(std::mem::size_of::<ShortText>(), 32);
    }
}
