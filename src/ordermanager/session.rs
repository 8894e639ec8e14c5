//! One order client as the sink sees it: who it is (after its AUTH frame),
//! where its answers go, and how many malformed frames it sent in a row.

use super::journal::{anonymous_key, ClientRef};
use crate::net::LinkWriter;
use crate::protocol::{is_auth_frame, parse_auth, token_matches};
use std::net::SocketAddr;

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
    /// Malformed frames since its last frame that parsed: the trigger
    /// for cutting a connection that sends nothing else.
    pub malformed_in_a_row: u64,
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
            malformed_in_a_row: 0,
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
}
