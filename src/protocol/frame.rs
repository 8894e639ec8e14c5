//! Splitting a TCP byte stream into `*`-terminated frames.

use bytes::{Bytes, BytesMut};
use thiserror::Error;

/// Longest frame accepted by default (protocol.md: 1 KiB).
pub const DEFAULT_MAX_FRAME: usize = 1024;

/// Spare room reserved before each socket read: one read can carry hundreds
/// of frames, which the reader then handles in one go.
pub const READ_CHUNK: usize = 64 * 1024;

/// The stream cannot be framed any further; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FrameError {
    /// More than `limit` bytes arrived without a `*`: a peer must not be able
    /// to make a process buffer without bound.
    #[error("frame longer than the {limit}-byte limit without a '*' terminator")]
    TooLong {
        /// The configured maximum frame length.
        limit: usize,
    },
}

/// Buffers bytes as they arrive and hands out complete frames.
///
/// A frame split across reads waits in the buffer ("incomplete" is normal);
/// many frames in one read come out one by one ([`next_frame`]) or together
/// as one [`FrameBatch`] ([`take_batch`]); empty frames (`**`) are skipped.
/// Each byte is scanned once, however the frame is split, so a peer
/// trickling a frame byte by byte costs O(n), not O(n²).
///
/// [`next_frame`]: FrameSplitter::next_frame
/// [`take_batch`]: FrameSplitter::take_batch
#[derive(Debug)]
pub struct FrameSplitter {
    /// Received bytes; `buf[pos..]` is not yet handed out.
    buf: BytesMut,
    /// Start of the unconsumed bytes.
    pos: usize,
    /// Bytes after `pos` already scanned and known to hold no `*`.
    scanned: usize,
    /// Longest frame accepted.
    max_frame: usize,
}

impl FrameSplitter {
    /// A splitter that rejects frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> FrameSplitter {
        FrameSplitter {
            buf: BytesMut::with_capacity(READ_CHUNK),
            pos: 0,
            scanned: 0,
            max_frame,
        }
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, data: &[u8]) {
        self.compact();
        self.buf.extend_from_slice(data);
    }

    /// The buffer to read into directly (e.g. `stream.read_buf(s.read_buf_mut())`),
    /// with at least [`READ_CHUNK`] bytes of spare capacity; bytes appended to
    /// it are framed like [`FrameSplitter::push`]ed ones.
    pub fn read_buf_mut(&mut self) -> &mut BytesMut {
        self.compact();
        self.buf.reserve(READ_CHUNK);
        &mut self.buf
    }

    /// Bytes buffered but not yet handed out as frames.
    pub fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The next complete, non-empty frame without its `*`, or `Ok(None)` when
    /// more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<&[u8]>, FrameError> {
        Ok(self
            .next_span()?
            .map(|(start, len)| &self.buf[start..start + len]))
    }

    /// Every complete frame buffered now, as one batch that shares the
    /// buffer's memory (no copy), plus the error that stopped the framing,
    /// if any: frames before an oversized one are still delivered, and the
    /// connection should then be closed.
    pub fn take_batch(&mut self) -> (FrameBatch, Option<FrameError>) {
        let base = self.pos;
        let mut spans = Vec::new();
        let error = loop {
            match self.next_span() {
                Ok(Some((start, len))) => spans.push(((start - base) as u32, len as u32)),
                Ok(None) => break None,
                Err(e) => break Some(e),
            }
        };
        let _ = self.buf.split_to(base);
        let bytes = self.buf.split_to(self.pos - base).freeze();
        self.pos = 0;
        (FrameBatch { bytes, spans }, error)
    }

    /// Start and length of the next complete, non-empty frame in `buf`.
    fn next_span(&mut self) -> Result<Option<(usize, usize)>, FrameError> {
        loop {
            let rest = &self.buf[self.pos..];
            let Some(i) = memchr::memchr(b'*', &rest[self.scanned..]) else {
                self.scanned = rest.len();
                if self.scanned > self.max_frame {
                    return Err(FrameError::TooLong {
                        limit: self.max_frame,
                    });
                }
                return Ok(None);
            };
            let len = self.scanned + i;
            let start = self.pos;
            self.pos += len + 1;
            self.scanned = 0;
            if len > self.max_frame {
                return Err(FrameError::TooLong {
                    limit: self.max_frame,
                });
            }
            if len > 0 {
                return Ok(Some((start, len)));
            }
        }
    }

    /// Drops consumed bytes so the buffer does not grow with the stream.
    fn compact(&mut self) {
        if self.pos > 0 {
            let _ = self.buf.split_to(self.pos);
            self.pos = 0;
        }
    }
}

/// The complete frames of one socket read, framed once by the reader.
///
/// Consumers iterate the frames without scanning for `*` again; the bytes
/// are shared with the read buffer, so handing a batch to an actor copies
/// nothing. A batch is the unit of work per socket read end to end (one
/// actor turn, one journal commit, one wake of the readers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FrameBatch {
    /// The bytes the frames live in (terminators and empty frames included).
    bytes: Bytes,
    /// Start and length of each non-empty frame in `bytes`.
    spans: Vec<(u32, u32)>,
}

impl FrameBatch {
    /// Frames the whole of `bytes` at once; a trailing partial frame is
    /// dropped. For tests and for callers that already hold complete frames.
    pub fn split(bytes: &[u8], max_frame: usize) -> Result<FrameBatch, FrameError> {
        let mut s = FrameSplitter::new(max_frame);
        s.push(bytes);
        match s.take_batch() {
            (batch, None) => Ok(batch),
            (_, Some(e)) => Err(e),
        }
    }

    /// Number of frames.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether the batch holds no frame.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The frames, in arrival order, without their `*`.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.spans
            .iter()
            .map(|&(s, l)| &self.bytes[s as usize..(s + l) as usize])
    }

    /// The frames in order as batches of at most `max` frames (at least
    /// one), sharing this batch's memory: how a reader hands one big read
    /// to its owner as several turns, so one peer's read cannot hold the
    /// owner for thousands of frames while other peers wait.
    pub fn chunks(&self, max: usize) -> impl Iterator<Item = FrameBatch> + '_ {
        self.spans.chunks(max.max(1)).map(|spans| {
            let base = spans[0].0;
            let (last, len) = spans[spans.len() - 1];
            FrameBatch {
                bytes: self.bytes.slice(base as usize..(last + len) as usize),
                spans: spans.iter().map(|&(s, l)| (s - base, l)).collect(),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn drain(s: &mut FrameSplitter) -> Result<Vec<String>, FrameError> {
        let mut out = Vec::new();
        while let Some(f) = s.next_frame()? {
            out.push(String::from_utf8_lossy(f).into_owned());
        }
        Ok(out)
    }

    #[test]
    fn chunks_keep_every_frame_in_order() {
        let b = FrameBatch::split(b"A,1*B,2***C,3*D*E,55*", 64).unwrap();
        let chunks: Vec<FrameBatch> = b.chunks(2).collect();
        assert_eq!(
            chunks.iter().map(FrameBatch::len).collect::<Vec<_>>(),
            [2, 2, 1]
        );
        let again: Vec<&[u8]> = chunks.iter().flat_map(FrameBatch::iter).collect();
        assert_eq!(again, b.iter().collect::<Vec<_>>());
        assert_eq!(b.chunks(0).count(), 5, "a share of 0 still moves on");
        assert_eq!(b.chunks(99).next().unwrap(), b.chunks(5).next().unwrap());
        assert_eq!(FrameBatch::default().chunks(4).count(), 0);
    }

    #[test]
    fn many_frames_in_one_read() {
        let mut s = FrameSplitter::new(64);
        s.push(b"AAPL,1*MSFT,2*GOOG,3*");
        assert_eq!(drain(&mut s).unwrap(), ["AAPL,1", "MSFT,2", "GOOG,3"]);
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn a_frame_split_byte_by_byte() {
        let mut s = FrameSplitter::new(64);
        let mut got = Vec::new();
        for b in b"AAPL,186.73,2024-01-02 09:30:00*MS" {
            s.push(&[*b]);
            got.extend(drain(&mut s).unwrap());
        }
        assert_eq!(got, ["AAPL,186.73,2024-01-02 09:30:00"]);
        assert_eq!(s.pending(), 2);
        s.push(b"FT,2*");
        assert_eq!(drain(&mut s).unwrap(), ["MSFT,2"]);
    }

    #[test]
    fn empty_frames_are_skipped() {
        let mut s = FrameSplitter::new(64);
        s.push(b"**A,1***B,2**");
        assert_eq!(drain(&mut s).unwrap(), ["A,1", "B,2"]);
    }

    #[test]
    fn a_frame_at_the_limit_passes_and_one_past_it_fails() {
        let mut s = FrameSplitter::new(8);
        s.push(b"12345678*");
        assert_eq!(drain(&mut s).unwrap(), ["12345678"]);
        s.push(b"12345678");
        assert_eq!(s.next_frame(), Ok(None));
        s.push(b"9");
        let err = s.next_frame().unwrap_err();
        assert_eq!(err, FrameError::TooLong { limit: 8 });
        assert_eq!(
            err.to_string(),
            "frame longer than the 8-byte limit without a '*' terminator"
        );
    }

    #[test]
    fn a_complete_frame_over_the_limit_fails_too() {
        let mut s = FrameSplitter::new(4);
        s.push(b"123456*");
        assert_eq!(s.next_frame(), Err(FrameError::TooLong { limit: 4 }));
    }

    #[test]
    fn reading_into_the_buffer_directly() {
        let mut s = FrameSplitter::new(64);
        s.push(b"A,1*B,");
        assert_eq!(drain(&mut s).unwrap(), ["A,1"]);
        let buf = s.read_buf_mut();
        assert!(buf.capacity() - buf.len() >= READ_CHUNK);
        buf.extend_from_slice(b"2*");
        assert_eq!(drain(&mut s).unwrap(), ["B,2"]);
    }

    #[test]
    fn invalid_utf8_is_still_framed() {
        let mut s = FrameSplitter::new(64);
        s.push(b"\xff\xfe*A,1*");
        let f = s.next_frame().unwrap().unwrap().to_vec();
        assert_eq!(f, b"\xff\xfe");
        assert_eq!(drain(&mut s).unwrap(), ["A,1"]);
    }

    #[test]
    fn a_batch_holds_the_complete_frames_and_keeps_the_partial_one() {
        let mut s = FrameSplitter::new(64);
        s.push(b"**A,1*B,2**C,");
        let (batch, err) = s.take_batch();
        assert_eq!(err, None);
        let frames: Vec<&[u8]> = batch.iter().collect();
        assert_eq!(frames, [&b"A,1"[..], b"B,2"]);
        assert_eq!(s.pending(), 2);
        s.push(b"3*");
        let (batch, _) = s.take_batch();
        assert_eq!(batch.iter().collect::<Vec<_>>(), [&b"C,3"[..]]);
        let (batch, _) = s.take_batch();
        assert!(batch.is_empty());
    }

    #[test]
    fn a_batch_delivers_the_frames_before_an_oversized_one() {
        let mut s = FrameSplitter::new(4);
        s.push(b"A,1*123456*B,2*");
        let (batch, err) = s.take_batch();
        assert_eq!(batch.iter().collect::<Vec<_>>(), [&b"A,1"[..]]);
        assert_eq!(err, Some(FrameError::TooLong { limit: 4 }));
    }

    #[test]
    fn splitting_a_whole_buffer() {
        let b = FrameBatch::split(b"A,1*B,2*C", 64).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(
            FrameBatch::split(b"123456*", 4),
            Err(FrameError::TooLong { limit: 4 })
        );
    }

    proptest! {
        #[test]
        fn any_split_of_a_stream_gives_the_same_frames(
            frames in proptest::collection::vec("[A-Z0-9,.]{0,20}", 0..20),
            cuts in proptest::collection::vec(0usize..400, 0..10),
        ) {
            let stream: Vec<u8> = frames.iter().flat_map(|f| [f.as_bytes(), b"*"].concat()).collect();
            let expected: Vec<String> = frames.iter().filter(|f| !f.is_empty()).cloned().collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(stream.len())).collect();
            cuts.push(0);
            cuts.push(stream.len());
            cuts.sort_unstable();
            let mut s = FrameSplitter::new(64);
            let mut batched = FrameSplitter::new(64);
            let (mut got, mut got_batched) = (Vec::new(), Vec::new());
            for w in cuts.windows(2) {
                s.push(&stream[w[0]..w[1]]);
                got.extend(drain(&mut s).unwrap());
                batched.push(&stream[w[0]..w[1]]);
                let (batch, err) = batched.take_batch();
                prop_assert_eq!(err, None);
                got_batched.extend(batch.iter().map(|f| String::from_utf8_lossy(f).into_owned()));
            }
            prop_assert_eq!(&got, &expected);
            prop_assert_eq!(got_batched, expected);
        }

        #[test]
        fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
            let mut s = FrameSplitter::new(32);
            for c in &chunks {
                s.push(c);
                while let Ok(Some(_)) = s.next_frame() {}
            }
        }
    }
}
