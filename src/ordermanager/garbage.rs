//! Id-less malformed frames, tallied per client (its risk key: the
//! authenticated name, or `anon@IP`), not per connection: a client that
//! reconnects in a loop, or floods over many connections at once, still
//! costs the journal one summary record a second at most.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::journal::{ClientRef, JournalRecord};
use crate::protocol::RejectReason;

/// Period of the summary records of one client's id-less malformed frames.
pub(crate) const SUMMARY_PERIOD: Duration = Duration::from_secs(1);

/// Longest sample of a malformed frame kept for its summary record.
const SAMPLE_CHARS: usize = 200;

/// What one summary record says: `frames` malformed frames of a client,
/// the first of them as `sample`, from the connection that sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Address of the connection the sample came from.
    pub peer: String,
    /// The client's authenticated name; `None` when anonymous.
    pub name: Option<String>,
    /// How many frames the record stands for.
    pub frames: u64,
    /// The first of them (lossy UTF-8, at most [`SAMPLE_CHARS`] characters).
    pub sample: String,
    /// Why the sample did not parse.
    pub reason: RejectReason,
}

impl Summary {
    /// Its journal record; `frames` is written only when it is more than one.
    pub(crate) fn record(&self, recv_ns: i64) -> JournalRecord {
        let who = ClientRef {
            addr: &self.peer,
            name: self.name.as_deref(),
        };
        let mut r = JournalRecord::for_raw(recv_ns, who, None, self.reason, self.sample.as_bytes());
        r.frames = (self.frames > 1).then_some(self.frames);
        r
    }
}

/// One client's frames not yet in the journal.
#[derive(Debug, Default)]
struct Tally {
    /// Frames not yet recorded.
    unrecorded: u64,
    /// The first of those, with who sent it: the summary's sample.
    sample: Option<Summary>,
    /// When the client's last summary was recorded.
    last_record: Option<Instant>,
}

impl Tally {
    /// The summary of what is unrecorded, if anything.
    fn take(&mut self) -> Option<Summary> {
        let frames = std::mem::take(&mut self.unrecorded);
        let sample = self.sample.take()?;
        (frames > 0).then_some(Summary { frames, ..sample })
    }

    /// Whether a summary of this client may be recorded at `now`.
    fn period_over(&self, now: Instant) -> bool {
        self.last_record
            .is_none_or(|t| now.saturating_duration_since(t) >= SUMMARY_PERIOD)
    }
}

/// Every client's tally.
#[derive(Debug, Default)]
pub(crate) struct GarbageTallies {
    /// By risk key.
    by_key: HashMap<String, Tally>,
}

impl GarbageTallies {
    /// Notes an id-less malformed frame of client `key`, sent by `who`;
    /// returns the summary due now: at once for the first frame of a
    /// period (so a lone bad frame is journaled as it comes), else `None`
    /// and the frame waits in the tally for [`due`](Self::due).
    pub(crate) fn note(
        &mut self,
        key: &str,
        who: ClientRef<'_>,
        frame: &[u8],
        reason: RejectReason,
        now: Instant,
    ) -> Option<Summary> {
        if !self.by_key.contains_key(key) {
            self.by_key.insert(key.to_string(), Tally::default());
        }
        let tally = self.by_key.get_mut(key)?;
        tally.unrecorded += 1;
        if tally.sample.is_none() {
            tally.sample = Some(Summary {
                peer: who.addr.to_string(),
                name: who.name.map(str::to_string),
                frames: 0,
                sample: String::from_utf8_lossy(frame)
                    .chars()
                    .take(SAMPLE_CHARS)
                    .collect(),
                reason,
            });
        }
        if !tally.period_over(now) {
            return None;
        }
        tally.last_record = Some(now);
        tally.take()
    }

    /// The summaries whose period is over at `now` (their clients went
    /// quiet, or left): called once a period. A tally with nothing left
    /// whose period is over is forgotten, so the map holds only clients
    /// that sent garbage within the last period.
    pub(crate) fn due(&mut self, now: Instant) -> Vec<Summary> {
        let mut due = Vec::new();
        self.by_key.retain(|_, tally| {
            if !tally.period_over(now) {
                return true;
            }
            match tally.take() {
                Some(s) => {
                    due.push(s);
                    tally.last_record = Some(now);
                    true
                }
                None => false,
            }
        });
        due
    }

    /// Everything not yet recorded, at a stop.
    pub(crate) fn drain(&mut self) -> Vec<Summary> {
        self.by_key
            .drain()
            .filter_map(|(_, mut tally)| tally.take())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BAD: RejectReason = RejectReason::BadFrame;

    fn who(addr: &str) -> ClientRef<'_> {
        ClientRef {
            addr,
            name: Some("junk"),
        }
    }

    fn summary(peer: &str, frames: u64, sample: &str) -> Summary {
        Summary {
            peer: peer.into(),
            name: Some("junk".into()),
            frames,
            sample: sample.into(),
            reason: BAD,
        }
    }

    #[test]
    fn the_first_frame_is_recorded_at_once_the_rest_once_a_period() {
        let t0 = Instant::now();
        let mut g = GarbageTallies::default();
        let a = who("127.0.0.1:1");
        assert_eq!(
            g.note("junk", a, b"x", BAD, t0),
            Some(summary("127.0.0.1:1", 1, "x"))
        );
        let soon = t0 + Duration::from_millis(10);
        for _ in 0..99 {
            assert_eq!(g.note("junk", a, b"y", BAD, soon), None);
        }
        assert_eq!(g.due(soon), [], "not within the period");
        let later = t0 + SUMMARY_PERIOD + Duration::from_millis(1);
        assert_eq!(
            g.note("junk", a, b"z", BAD, later),
            Some(summary("127.0.0.1:1", 100, "y"))
        );
        assert_eq!(g.drain(), []);
    }

    #[test]
    fn a_client_is_one_tally_over_all_its_connections() {
        let t0 = Instant::now();
        let mut g = GarbageTallies::default();
        // 50 connections of one client, two frames each, in one period:
        // one record at once, then one for the other 99.
        let mut at_once = 0;
        for c in 0..50 {
            let addr = format!("127.0.0.1:{}", 1000 + c);
            for _ in 0..2 {
                at_once += g.note("junk", who(&addr), b"x", BAD, t0).is_some() as usize;
            }
        }
        assert_eq!(at_once, 1);
        // Another client has its own.
        assert!(g.note("other", who("127.0.0.1:9"), b"x", BAD, t0).is_some());
        let later = t0 + SUMMARY_PERIOD;
        assert_eq!(g.due(later), [summary("127.0.0.1:1000", 99, "x")]);
        // Nothing left: forgotten once its next period is over too.
        assert_eq!(g.due(later + SUMMARY_PERIOD), []);
        assert!(g.by_key.is_empty(), "{:?}", g.by_key);
    }

    #[test]
    fn a_stop_takes_what_is_left_of_every_client() {
        let t0 = Instant::now();
        let mut g = GarbageTallies::default();
        for key in ["a", "b"] {
            g.note(key, who("127.0.0.1:1"), b"x", BAD, t0);
            g.note(key, who("127.0.0.1:1"), b"y", BAD, t0);
        }
        let mut left = g.drain();
        left.sort_by(|x, y| x.sample.cmp(&y.sample));
        assert_eq!(left.len(), 2);
        assert!(left.iter().all(|s| s.frames == 1 && s.sample == "y"));
        assert_eq!(g.drain(), []);
    }

    #[test]
    fn the_record_counts_frames_only_when_more_than_one() {
        let one = summary("127.0.0.1:1", 1, "x").record(5);
        assert_eq!((one.frames, one.raw.as_deref()), (None, Some("x")));
        let many = summary("127.0.0.1:1", 7, "x").record(5);
        assert_eq!(many.frames, Some(7));
        assert_eq!(many.client_name.as_deref(), Some("junk"));
    }
}
