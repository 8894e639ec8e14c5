//! One order client as the sink sees it: who it is (after its AUTH frame),
//! where its answers go, and how much garbage it has sent.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::journal::{anonymous_key, ClientRef, JournalRecord};
use crate::net::LinkWriter;
use crate::protocol::{is_auth_frame, parse_auth, token_matches, RejectReason};

/// How the ordermanager admits clients (`ordermanager.auth_token`,
/// `ordermanager.require_auth`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthPolicy {
    /// The token an AUTH frame must carry; `None`: no AUTH can succeed.
    pub token: Option<String>,
    /// Refuse a connection whose first frame is not a valid AUTH.
    pub required: bool,
}

/// Where a connection stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Standing {
    /// Nothing received yet: the first frame decides.
    New,
    /// Trading: as `name` after AUTH, else anonymously (auth not required).
    Trading {
        /// The authenticated name; `None`: anonymous, keyed by address.
        name: Option<String>,
        /// Risk key: the name, or `anon@IP`.
        key: String,
    },
    /// Refused: its refusal is on the way, every later frame is ignored.
    Refused,
}

/// What the first frame of a connection comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admission {
    /// A valid AUTH: answer `AUTH_OK`; the frame is used up.
    Authenticated,
    /// No AUTH and none required: this frame is the first order.
    Anonymous,
    /// Refuse and close; the reason is for the log only (never the token).
    Refused(String),
}

/// Id-less malformed frames of one client: counted, journaled as one
/// summary record per second at most, and the trigger for cutting a client
/// that sends nothing else.
#[derive(Debug, Default)]
pub(crate) struct Garbage {
    /// Malformed frames since the last frame that parsed.
    pub in_a_row: u64,
    /// Id-less malformed frames not yet in the journal.
    unrecorded: u64,
    /// The first of those, and its reason: the summary's `raw` and reason.
    sample: Option<(String, RejectReason)>,
    /// When the last summary was recorded.
    last_record: Option<Instant>,
}

/// Longest sample of a malformed frame kept for its summary record.
const SAMPLE_CHARS: usize = 200;

/// Period of the summary records of one client's id-less malformed frames.
pub(crate) const SUMMARY_PERIOD: Duration = Duration::from_secs(1);

impl Garbage {
    /// Notes an id-less malformed frame; returns the summary record's
    /// (frames, sample, reason) when one is due: at once for the first
    /// frame of a period, so a lone bad frame is journaled as before.
    pub(crate) fn note(
        &mut self,
        frame: &[u8],
        reason: RejectReason,
        now: Instant,
    ) -> Option<(u64, String, RejectReason)> {
        self.unrecorded += 1;
        if self.sample.is_none() {
            let text: String = String::from_utf8_lossy(frame)
                .chars()
                .take(SAMPLE_CHARS)
                .collect();
            self.sample = Some((text, reason));
        }
        if self
            .last_record
            .is_some_and(|t| now.saturating_duration_since(t) < SUMMARY_PERIOD)
        {
            return None;
        }
        self.last_record = Some(now);
        self.take()
    }

    /// What is not yet recorded, at a disconnect or a stop.
    pub(crate) fn take(&mut self) -> Option<(u64, String, RejectReason)> {
        let n = std::mem::take(&mut self.unrecorded);
        let (sample, reason) = self.sample.take()?;
        (n > 0).then_some((n, sample, reason))
    }
}

/// One connected client.
pub(crate) struct Client {
    /// Its address: recorded with every order, names it in the log.
    pub peer: String,
    /// Its IP address, the risk key of an anonymous client.
    pub ip_key: String,
    /// Where its answers go.
    pub replies: LinkWriter,
    /// Set once it was cut (unread answers, garbage, refusal).
    pub cut: bool,
    /// Its connection is down: it is forgotten once the answers it is
    /// owed are sent (its writer then closes after writing them).
    pub gone: bool,
    /// Answers waiting for the commit that makes their orders durable.
    pub pending: Vec<u8>,
    /// Authenticated, anonymous, refused or not yet known.
    pub standing: Standing,
    /// Its malformed frames.
    pub garbage: Garbage,
}

impl Client {
    /// A client that has sent nothing yet.
    pub(crate) fn new(peer: SocketAddr, replies: LinkWriter) -> Client {
        let peer = peer.to_string();
        Client {
            ip_key: anonymous_key(&peer),
            peer,
            replies,
            cut: false,
            gone: false,
            pending: Vec::new(),
            standing: Standing::New,
            garbage: Garbage::default(),
        }
    }

    /// Decides the first frame and updates the standing.
    pub(crate) fn admit(&mut self, frame: &[u8], policy: &AuthPolicy) -> Admission {
        let (standing, admission) = decide(frame, policy, &self.ip_key);
        self.standing = standing;
        admission
    }

    /// Its name and address for a record, and its risk key; `None` unless trading.
    pub(crate) fn who(&self) -> Option<(ClientRef<'_>, &str)> {
        match &self.standing {
            Standing::Trading { name, key } => Some((
                ClientRef {
                    addr: &self.peer,
                    name: name.as_deref(),
                },
                key,
            )),
            _ => None,
        }
    }

    /// The summary record of a tally of its garbage.
    pub(crate) fn summary(
        &self,
        recv_ns: i64,
        tally: (u64, String, RejectReason),
    ) -> JournalRecord {
        let name = match &self.standing {
            Standing::Trading { name, .. } => name.as_deref(),
            _ => None,
        };
        let who = ClientRef {
            addr: &self.peer,
            name,
        };
        summary_record(recv_ns, who, tally)
    }
}

/// The record of `n` id-less malformed frames of `who`, the first of them
/// as `raw`; `frames` is written only when it is more than one.
pub(crate) fn summary_record(
    recv_ns: i64,
    who: ClientRef<'_>,
    (n, sample, reason): (u64, String, RejectReason),
) -> JournalRecord {
    let mut r = JournalRecord::for_raw(recv_ns, who, None, reason, sample.as_bytes());
    r.frames = (n > 1).then_some(n);
    r
}

/// The standing a first frame gives, and what to do with the frame.
fn decide(frame: &[u8], policy: &AuthPolicy, ip_key: &str) -> (Standing, Admission) {
    let refuse = |why: &str| (Standing::Refused, Admission::Refused(why.to_string()));
    if !is_auth_frame(frame) {
        if policy.required {
            return refuse("the first frame is not AUTH");
        }
        let anonymous = Standing::Trading {
            name: None,
            key: ip_key.to_string(),
        };
        return (anonymous, Admission::Anonymous);
    }
    let auth = match parse_auth(frame) {
        Ok(a) => a,
        Err(e) => return refuse(&e.to_string()),
    };
    let expected = policy.token.as_deref().unwrap_or("").as_bytes();
    if !token_matches(auth.token.as_bytes(), expected) {
        return refuse("wrong token");
    }
    let name = auth.client_name.to_string();
    let trading = Standing::Trading {
        key: name.clone(),
        name: Some(name),
    };
    (trading, Admission::Authenticated)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(required: bool) -> AuthPolicy {
        AuthPolicy {
            token: Some("tok".into()),
            required,
        }
    }

    #[test]
    fn the_first_frame_decides() {
        let ip = "anon@127.0.0.1";
        let (s, a) = decide(b"AUTH,strat1,tok", &policy(true), ip);
        assert_eq!(a, Admission::Authenticated);
        assert_eq!(
            s,
            Standing::Trading {
                name: Some("strat1".into()),
                key: "strat1".into()
            }
        );
        for bad in [&b"AUTH,strat1,tok2"[..], b"AUTH,strat1", b"AUTH,x y,tok"] {
            assert_eq!(
                decide(bad, &policy(false), ip).0,
                Standing::Refused,
                "{bad:?}"
            );
        }
        let order = b"1,BUY,1,AAPL,1,x1";
        assert!(matches!(
            decide(order, &policy(true), ip).1,
            Admission::Refused(_)
        ));
        let (s, a) = decide(order, &policy(false), ip);
        assert_eq!(
            (s, a),
            (
                Standing::Trading {
                    name: None,
                    key: ip.into()
                },
                Admission::Anonymous
            )
        );
        let no_token = AuthPolicy {
            token: None,
            required: false,
        };
        assert_eq!(decide(b"AUTH,a,x", &no_token, ip).0, Standing::Refused);
    }

    #[test]
    fn garbage_is_summarized_once_per_period() {
        let t0 = Instant::now();
        let mut g = Garbage::default();
        let bad = RejectReason::BadFrame;
        assert_eq!(
            g.note(b"x", bad, t0),
            Some((1, "x".into(), bad)),
            "the first at once"
        );
        for _ in 0..99 {
            assert_eq!(g.note(b"y", bad, t0 + Duration::from_millis(10)), None);
        }
        let later = t0 + SUMMARY_PERIOD + Duration::from_millis(1);
        assert_eq!(g.note(b"z", bad, later), Some((100, "y".into(), bad)));
        assert_eq!(g.take(), None);
        g.note(b"w", bad, later);
        assert_eq!(
            g.take(),
            Some((1, "w".into(), bad)),
            "the rest at a disconnect"
        );
    }
}
