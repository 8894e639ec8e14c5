//! The gateway's side of the resume handshake: a joining subscriber's
//! `#RESUME,N*`, read before it is served (see
//! [`crate::protocol::feed_control`]).

use std::time::Duration;

use actix::Message;
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedReadHalf;

use crate::protocol::{parse_feed_control, FeedControl};

/// Longest first frame looked at: `#RESUME,` and twenty digits fit.
const MAX_RESUME_FRAME: usize = 64;

/// A pending subscriber's handshake is over: serve it from `resume` (the
/// frame position it asked for), or from wherever the stream is (`None`).
#[derive(Message, Debug)]
#[rtype(result = "()")]
pub(super) struct Activate {
    /// Which pending subscriber.
    pub id: u64,
    /// The position its `#RESUME` named, if one came in time.
    pub resume: Option<u64>,
}

/// Reads the subscriber's first frame for at most `wait`: its position if
/// it is `#RESUME,N`, else `None` (a peer that sends nothing, something
/// else, or too late is served from the stream's current position).
pub(super) async fn read_resume(rd: &mut OwnedReadHalf, wait: Duration) -> Option<u64> {
    let mut buf = Vec::with_capacity(MAX_RESUME_FRAME);
    let first_frame = async {
        loop {
            if let Some(end) = buf.iter().position(|&b| b == b'*') {
                return Some(end);
            }
            if buf.len() >= MAX_RESUME_FRAME {
                return None;
            }
            let mut chunk = [0u8; MAX_RESUME_FRAME];
            let want = MAX_RESUME_FRAME - buf.len();
            match rd.read(&mut chunk[..want]).await {
                Ok(n) if n > 0 => buf.extend_from_slice(&chunk[..n]),
                _ => return None,
            }
        }
    };
    let end = tokio::time::timeout(wait, first_frame).await.ok()??;
    match parse_feed_control(&buf[..end]) {
        Ok(FeedControl::Resume(n)) => Some(n),
        _ => None,
    }
}
