//! Framing: however a stream is cut into reads, the splitter hands out the
//! same frames (and stops at the same oversized one) as when it gets the
//! stream whole, through `next_frame` and through `take_batch` alike.
//!
//! Input: byte 0 picks the frame limit (1..=64), byte 1 the number of cuts
//! (0..=7), the next bytes the cut points; the rest is the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trading::protocol::{FrameError, FrameSplitter};

/// Frames of the stream fed in `pieces`, read one at a time, up to the first error.
fn by_frame(pieces: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut s = FrameSplitter::new(max);
    let mut frames = Vec::new();
    for piece in pieces {
        s.push(piece);
        loop {
            match s.next_frame() {
                Ok(Some(f)) => frames.push(f.to_vec()),
                Ok(None) => break,
                Err(e) => return (frames, Some(e)),
            }
        }
    }
    (frames, None)
}

/// The same through `take_batch`, one batch per piece.
fn by_batch(pieces: &[&[u8]], max: usize) -> (Vec<Vec<u8>>, Option<FrameError>) {
    let mut s = FrameSplitter::new(max);
    let mut frames = Vec::new();
    for piece in pieces {
        s.push(piece);
        let (batch, err) = s.take_batch();
        frames.extend(batch.iter().map(<[u8]>::to_vec));
        if err.is_some() {
            return (frames, err);
        }
    }
    (frames, None)
}

fuzz_target!(|data: &[u8]| {
    let [limit, ncuts, rest @ ..] = data else {
        return;
    };
    let max = 1 + (*limit as usize % 64);
    let ncuts = (*ncuts as usize % 8).min(rest.len());
    let (cut_bytes, stream) = rest.split_at(ncuts);
    let mut cuts: Vec<usize> = cut_bytes
        .iter()
        .map(|&c| (c as usize * stream.len()) / 255)
        .collect();
    cuts.extend([0, stream.len()]);
    cuts.sort_unstable();
    let pieces: Vec<&[u8]> = cuts.windows(2).map(|w| &stream[w[0]..w[1]]).collect();

    let whole = by_frame(&[stream], max);
    assert!(whole.0.iter().all(|f| !f.is_empty() && f.len() <= max && !f.contains(&b'*')));
    assert_eq!(by_frame(&pieces, max), whole, "next_frame over pieces");
    assert_eq!(by_batch(&pieces, max), whole, "take_batch over pieces");
    assert_eq!(by_batch(&[stream], max), whole, "take_batch whole");
});
