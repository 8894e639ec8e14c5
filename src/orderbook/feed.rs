//! [`FeedActor`]: the TCP client of the gateway's market data stream.
//!
//! It is the shared [`ClientLink`]: it connects with backoff, frames each
//! read (up to 64 KiB) once and hands its frames to the writer as one
//! message, waiting for each to be handled before reading again, so a slow
//! writer pushes back on the socket instead of growing a mailbox.

use crate::config::Config;
use crate::net::{ClientLink, LinkSettings, ReadLimits};

/// The market data stream, as a link kind: the writer handles
/// `NetEvent<MarketData>`.
pub enum MarketData {}

/// The orderbook's market data client (the design's FeedActor).
pub type FeedActor = ClientLink<MarketData>;

/// Where the feed connects and how. Only a finite replay from a
/// three-field gateway ends at its end of stream; with our gateway's
/// `#END` frame an end of stream is a cut connection, and the link
/// reconnects so the writer can resume (see [`super::FeedEnding`]).
pub fn feed_settings(cfg: &Config) -> LinkSettings {
    LinkSettings {
        peer: "gateway",
        config_key: "orderbook.md_port",
        host: cfg.orderbook.md_host.clone(),
        port: cfg.orderbook.md_port,
        limits: ReadLimits::frames_only(cfg.protocol.max_frame),
        eof_ends: super::feed_ending(cfg) == super::FeedEnding::AtEof,
        read_through_shutdown: false,
    }
}
