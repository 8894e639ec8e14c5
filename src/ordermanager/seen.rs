//! Every recorded client order id, scoped to its client, with its answer
//! and what it ordered — in memory bounded by the recent ids, not by the
//! journal's history.
//!
//! Scoping: an id belongs to the name its client authenticated with, so one
//! client's id can never answer (or block) another's order; every
//! unauthenticated client shares the scope `""`, as all clients did before
//! authentication existed. Content: a resend must repeat the recorded
//! order's side, quantity, symbol and price, or it gets `ID_MISMATCH`
//! instead of the recorded answer, so an id reused for another order is
//! never acknowledged without being executed.
//!
//! # What a resend of an old id gets
//!
//! The last [`RECENT_IDS_PER_SCOPE`] ids of each scope are kept exactly
//! (id, answer, content). An older id is compacted when it leaves that
//! window, by its form:
//!
//! * **Sequence ids**, `<prefix>-<hex>` (ours: `<name>-<run>-<hex seq>`),
//!   whose prefix has only ever been recorded with increasing numbers: only
//!   a high-water mark per (scope, prefix) is kept. A resend of such an id
//!   at or below the mark — or any id at or below it that was never
//!   recorded — gets `REJ,ID,ID_EXPIRED*`: it is never executed (again),
//!   but its first answer is no longer known. Our strategy resends only its
//!   unanswered orders, so it never gets there.
//! * **Every other id** (and a sequence prefix once it went backwards):
//!   a fixed-size entry keyed by a 64-bit hash of the id, holding the answer
//!   and a 64-bit fingerprint of the content. A resend still gets its exact
//!   answer or `ID_MISMATCH`; two ids (or two contents) of one scope must
//!   collide in 64 bits to be confused, which is accepted.
//!
//! Memory: the window (about 150 bytes an id, in one ring and an index
//! keyed by the id's hash; an id or symbol of up to 30 bytes is held in
//! its entry, not allocated apart), a mark per sequence prefix (one per strategy
//! run) and a 24-byte entry (plus the hash table's slack) per compacted
//! non-sequence id.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

pub use self::content::OrderContent;
use self::content::{content_key, fingerprint, ContentKey, KeptContent};
use self::short_text::ShortText;
use super::journal::JournalRecord;
use crate::protocol::{Order, RejectReason};

/// Ids of one scope kept exactly before the oldest is compacted: four times
/// what our strategy ever has unanswered (it stops at 4,096 and resends only
/// those), few enough that the window stays a few MB per client.
pub const RECENT_IDS_PER_SCOPE: usize = 16_384;

/// One recorded id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenOrder {
    /// What it was answered (None = ACK).
    pub answer: Option<RejectReason>,
    /// What it ordered; `None`: the frame did not parse.
    pub content: Option<OrderContent>,
}

/// What a resend of a recorded id comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resend {
    /// The same content: the recorded answer again (None = ACK).
    Replay(Option<RejectReason>),
    /// Other content than recorded: `ID_MISMATCH`.
    Mismatch,
    /// At or below the high-water mark of a compacted sequence: `ID_EXPIRED`.
    Expired,
}

/// A compacted non-sequence id: its answer and its content's fingerprint.
#[derive(Debug, Clone, Copy)]
struct Compacted {
    /// [`fingerprint`] of the recorded content.
    fingerprint: u64,
    /// What it was answered (None = ACK).
    answer: Option<RejectReason>,
}

/// The state of one id prefix `<prefix>-<hex>` in a scope.
#[derive(Debug, Clone, Copy)]
struct SequenceMark {
    /// Highest number recorded under the prefix.
    last: u64,
    /// Highest number compacted into the mark: at or below it, an id not
    /// in the window is expired.
    expired_upto: Option<u64>,
    /// Whether every number was higher than the one before: only then may
    /// compacted ids become a mark (else they are kept hashed).
    increasing: bool,
}

/// Hashes a key that already is a keyed hash (of an id or a prefix) by
/// taking it as it is: hashing it again would only cost time.
#[derive(Debug, Default, Clone, Copy)]
struct PreHashed(u64);

impl Hasher for PreHashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys are hashed with it; fold anything else in anyway.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// A map keyed by a hash from [`SeenIds`]' keyed hasher.
type ByHash<V> = HashMap<u64, V, BuildHasherDefault<PreHashed>>;

/// An id in the window, with its answer and what compacting it needs.
#[derive(Debug)]
struct WindowEntry {
    /// The id, exactly.
    id: ShortText,
    /// Its keyed hash: its key in `ScopeIds::index`.
    hash: u64,
    /// What it was answered (None = ACK).
    answer: Option<RejectReason>,
    /// What it ordered; `None`: the frame did not parse.
    content: Option<KeptContent>,
    /// Hash of its prefix and its number, for a sequence id.
    sequence: Option<(u64, u64)>,
    /// Compacted early, when a later id of the same hash took its place
    /// in the index: its eviction then does nothing.
    displaced: bool,
}

/// The ids of one scope.
#[derive(Debug, Default)]
struct ScopeIds {
    /// The recent ids, exactly, oldest first: entry number `first + i` at
    /// `window[i]`, compacted in this order. Kept in one ring so that the
    /// millions of inserts and evictions of a recovery touch little memory.
    window: VecDeque<WindowEntry>,
    /// Entry number of `window[0]`.
    first: u64,
    /// Entry number of each id in the window, by the id's hash; also, for
    /// a while, of ids evicted since (a number below `first`: stale), as
    /// removing each at its eviction cost a cache miss per id. They go in
    /// one pass over the table ([`ScopeIds::drop_stale`]) once there are
    /// half a window of them, or when an id of the same hash comes.
    index: ByHash<u64>,
    /// By hash of the prefix.
    marks: ByHash<SequenceMark>,
    /// Compacted non-sequence ids, by hash of the id.
    compacted: ByHash<Compacted>,
    /// The last sequence prefix seen and its hash: a client's ids share
    /// one prefix, so most inserts compare it instead of hashing it again.
    last_prefix: Option<(ShortText, u64)>,
}

/// Every recorded id by (scope, id): recent ones exactly, older ones
/// compacted (see the module docs for the rule).
#[derive(Debug)]
pub struct SeenIds {
    /// By scope (the authenticated name, `""` for the unauthenticated).
    scopes: HashMap<Box<str>, ScopeIds>,
    /// Exact ids kept per scope.
    window: usize,
    /// Keyed hashes for ids, prefixes and fingerprints: a client cannot aim
    /// a collision at a key it does not know (so the maps keyed by them use
    /// the hash as it is, [`PreHashed`]).
    hasher: RandomState,
    /// Ids recorded, exact or compacted.
    recorded: u64,
}

impl Default for SeenIds {
    fn default() -> SeenIds {
        SeenIds::with_window(RECENT_IDS_PER_SCOPE)
    }
}

impl SeenIds {
    /// No ids; [`RECENT_IDS_PER_SCOPE`] kept exactly per scope.
    pub fn new() -> SeenIds {
        SeenIds::default()
    }

    /// No ids; `window` (at least 1) kept exactly per scope (tests use a
    /// small one to reach compaction).
    pub fn with_window(window: usize) -> SeenIds {
        SeenIds {
            scopes: HashMap::new(),
            window: window.max(1),
            hasher: RandomState::new(),
            recorded: 0,
        }
    }

    /// What a resend of `id` in `scope` comes to, `None` if the id was
    /// never recorded there. `order` is the resend's content, `None` when
    /// its frame did not parse (it then repeats a recorded unparsable frame).
    pub fn resend(&self, scope: &str, id: &str, order: Option<&Order<'_>>) -> Option<Resend> {
        let ids = self.scopes.get(scope)?;
        let hash = self.hasher.hash_one(id);
        if let Some(entry) = ids.recent(id, hash) {
            let same = entry.content.as_ref().map(KeptContent::key) == order.map(content_key);
            return Some(match same {
                true => Resend::Replay(entry.answer),
                false => Resend::Mismatch,
            });
        }
        if let Some(old) = ids.compacted.get(&hash) {
            let same = old.fingerprint == fingerprint(&self.hasher, order.map(content_key));
            return Some(match same {
                true => Resend::Replay(old.answer),
                false => Resend::Mismatch,
            });
        }
        let (prefix, seq) = parse_sequence(id)?;
        let mark = ids.marks.get(&self.hasher.hash_one(prefix))?;
        (Some(seq) <= mark.expired_upto).then_some(Resend::Expired)
    }

    /// Records the first answer of an id; the scope's oldest exact id is
    /// compacted once the window is full.
    pub fn insert(&mut self, scope: &str, id: &str, seen: SeenOrder) {
        let content = seen.content.as_ref().map(OrderContent::key);
        self.record(scope, id, seen.answer, content);
    }

    /// [`insert`](Self::insert) of borrowed parts: recovery takes in
    /// millions of records and copies nothing out of them but this.
    fn record(
        &mut self,
        scope: &str,
        id: &str,
        answer: Option<RejectReason>,
        content: Option<ContentKey<'_>>,
    ) {
        let ids = match self.scopes.get_mut(scope) {
            Some(ids) => ids,
            None => self.scopes.entry(scope.into()).or_default(),
        };
        let hash = self.hasher.hash_one(id);
        let in_window = ids.index.get(&hash).and_then(|&n| n.checked_sub(ids.first));
        if let Some(entry) = in_window.and_then(|i| ids.window.get_mut(i as usize)) {
            if entry.id.is(id.as_bytes()) {
                entry.answer = answer;
                entry.content = content.map(KeptContent::of);
                return;
            }
            // Another id with the same 64-bit hash: it leaves the window
            // early (compacted as if old), so the index keeps one per hash.
            let (sequence, old_answer) = (entry.sequence, entry.answer);
            let old_content = entry.content.take();
            entry.displaced = true;
            ids.compact(
                &self.hasher,
                hash,
                sequence,
                old_answer,
                old_content.as_ref(),
            );
        }
        let sequence = parse_sequence(id).map(|(prefix, seq)| {
            let prefix = match &ids.last_prefix {
                Some((text, hash)) if text.is(prefix.as_bytes()) => *hash,
                _ => {
                    let hash = self.hasher.hash_one(prefix);
                    ids.last_prefix = Some((ShortText::new(prefix.as_bytes()), hash));
                    hash
                }
            };
            ids.marks
                .entry(prefix)
                .and_modify(|m| match seq > m.last {
                    true => m.last = seq,
                    false => m.increasing = false,
                })
                .or_insert(SequenceMark {
                    last: seq,
                    expired_upto: None,
                    increasing: true,
                });
            (prefix, seq)
        });
        // The oldest leaves before the new one comes, so the ring never
        // grows past the window (a ring twice as big costs cache misses).
        while ids.window.len() >= self.window {
            let Some(old) = ids.window.pop_front() else {
                break;
            };
            ids.first += 1;
            // Its index entry is stale from now on (see `index`).
            if !old.displaced {
                let content = old.content.as_ref();
                ids.compact(&self.hasher, old.hash, old.sequence, old.answer, content);
            }
        }
        if ids.index.len() >= self.window + self.window / 2 {
            ids.drop_stale();
        }
        ids.index.insert(hash, ids.first + ids.window.len() as u64);
        ids.window.push_back(WindowEntry {
            id: ShortText::new(id.as_bytes()),
            hash,
            answer,
            content: content.map(KeptContent::of),
            sequence,
            displaced: false,
        });
        self.recorded += 1;
    }

    /// Ids recorded, exact or compacted.
    pub fn len(&self) -> u64 {
        self.recorded
    }

    /// Whether no id is recorded.
    pub fn is_empty(&self) -> bool {
        self.recorded == 0
    }

    /// Ids kept exactly, over every scope.
    pub fn exact_len(&self) -> usize {
        let exact = |s: &ScopeIds| s.window.iter().filter(|e| !e.displaced).count();
        self.scopes.values().map(exact).sum()
    }

    /// Takes in a journal record at recovery. An `ID_MISMATCH` record is the
    /// refusal of a resend, not the id's answer: it never replaces the
    /// original's.
    pub fn recover(&mut self, r: &JournalRecord) {
        let Some(id) = &r.client_order_id else { return };
        if r.reason == Some(RejectReason::IdMismatch) {
            return;
        }
        let answer = r.reason.or(match r.outcome {
            super::Outcome::Accepted => None,
            // A rejected record always answers REJ; a missing code reads as
            // BAD_FRAME (an unknown one already does).
            super::Outcome::Rejected => Some(RejectReason::BadFrame),
        });
        let content = match (r.side, r.quantity, &r.symbol, r.price) {
            (Some(side), Some(quantity), Some(symbol), Some(price)) => {
                Some((side, quantity, symbol.as_bytes(), price.units()))
            }
            _ => None,
        };
        self.record(r.id_scope(), id, answer, content);
    }
}

impl ScopeIds {
    /// Drops the index entries of evicted ids: one pass over the table,
    /// read in order (cheap), instead of a lookup per eviction.
    fn drop_stale(&mut self) {
        let first = self.first;
        self.index.retain(|_, n| *n >= first);
    }

    /// The window's entry for `id` (of hash `hash`), if it is there.
    fn recent(&self, id: &str, hash: u64) -> Option<&WindowEntry> {
        let n = *self.index.get(&hash)?;
        let entry = self.window.get(n.checked_sub(self.first)? as usize)?;
        entry.id.is(id.as_bytes()).then_some(entry)
    }

    /// Moves the id of hash `hash` out of the window: into its prefix's
    /// mark when it is a sequence id of an increasing prefix, else into the
    /// hashed entries.
    fn compact(
        &mut self,
        hasher: &RandomState,
        hash: u64,
        sequence: Option<(u64, u64)>,
        answer: Option<RejectReason>,
        content: Option<&KeptContent>,
    ) {
        if let Some((prefix, seq)) = sequence {
            if let Some(mark) = self.marks.get_mut(&prefix) {
                if mark.increasing {
                    mark.expired_upto = mark.expired_upto.max(Some(seq));
                    return;
                }
            }
        }
        let fingerprint = fingerprint(hasher, content.map(KeptContent::key));
        self.compacted.insert(
            hash,
            Compacted {
                fingerprint,
                answer,
            },
        );
    }
}

/// `(prefix, number)` of an id `<prefix>-<hex>`: 1 to 16 hex digits after
/// the last `-`, with something before it.
pub fn parse_sequence(id: &str) -> Option<(&str, u64)> {
    // `-` is ASCII: cutting the bytes there cuts the text at a boundary.
    let dash = id.as_bytes().iter().rposition(|&b| b == b'-')?;
    let (prefix, tail) = (id.get(..dash)?, id.get(dash + 1..)?);
    let hex = !tail.is_empty() && tail.len() <= 16 && tail.bytes().all(|b| b.is_ascii_hexdigit());
    if prefix.is_empty() || !hex {
        return None;
    }
    u64::from_str_radix(tail, 16).ok().map(|n| (prefix, n))
}

mod content;
mod short_text;

#[cfg(test)]
mod tests;
