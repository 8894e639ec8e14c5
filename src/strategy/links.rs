//! The strategy's connections: the settings of its two
//! [`ClientLink`](crate::net::ClientLink)s (orders and news). Each reports to
//! the [`SignalActor`](super::SignalActor) with typed messages and never
//! touches its state. (Ticks come from the shm ring, which the actor waits
//! on itself: see its doorbell.)

use crate::config::Config;
use crate::net::{LinkSettings, ReadLimits};

/// The ordermanager connection, as a link kind: orders out, ACK/REJ in.
pub enum Orders {}

/// The gateway's news stream, as a link kind.
pub enum News {}

/// The order link: on a stop request it stops connecting but keeps reading
/// the established connection, because a stopping strategy still waits for
/// the answers to what it sent; it ends when told to ([`Stop`](crate::lifecycle::Stop)).
pub fn order_link_settings(cfg: &Config) -> LinkSettings {
    let s = &cfg.strategy;
    LinkSettings {
        peer: "ordermanager",
        config_key: "strategy.order_manager_port",
        host: s.order_manager_host.clone(),
        port: s.order_manager_port,
        limits: ReadLimits::frames_only(cfg.protocol.max_frame),
        eof_ends: false,
        read_through_shutdown: true,
    }
}

/// The news link: ends with the process.
pub fn news_link_settings(cfg: &Config) -> LinkSettings {
    let s = &cfg.strategy;
    LinkSettings {
        peer: "news",
        config_key: "strategy.news_port",
        host: s.news_host.clone(),
        port: s.news_port,
        limits: ReadLimits::frames_only(cfg.protocol.max_frame),
        eof_ends: false,
        read_through_shutdown: false,
    }
}
