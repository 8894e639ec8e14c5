//! What the connections bring a [`SignalActor`]: ACK/REJ frames from the
//! ordermanager and sentiment frames from the news feed, plus the order
//! connection coming and going. The message handlers only call these, so
//! the transport underneath can change without touching them.

use std::time::Instant;

use actix::Context;
use bytes::Bytes;

use super::SignalActor;
use crate::net::WriterQueue;
use crate::protocol::{parse_news, parse_reply, FrameSplitter, Reply};
use crate::strategy::orders::Answer;

impl SignalActor {
    /// A new order connection: resend everything unanswered, then what
    /// waited in `out`, in that order.
    pub(super) fn on_order_link_up(&mut self, link: WriterQueue, ctx: &mut Context<Self>) {
        self.replies = FrameSplitter::new(self.settings.max_frame);
        let mut frames = Vec::new();
        let n = self.tracker.resend_all(&mut frames, Instant::now());
        // Tracked orders created while disconnected are in the tracker;
        // untracked ones (no ids) waited in `out`.
        frames.append(&mut self.out);
        if !frames.is_empty() {
            let _ = link.send(Bytes::from(frames));
        }
        slog::info!(self.log, "ordermanager connected"; "resent_unanswered" => n);
        self.link = Some(link);
        // An untracked finite run was only waiting for `out` to go.
        self.stop_if_due(ctx);
    }

    /// The order connection broke: orders stay pending for the next one.
    pub(super) fn on_order_link_down(&mut self, reason: &str) {
        self.link = None;
        slog::warn!(self.log, "ordermanager disconnected; unanswered orders will be resent";
            "reason" => reason, "unanswered" => self.tracker.unanswered());
    }

    /// Bytes from the ordermanager: apply every whole reply, then see
    /// whether that was the last answer owed.
    pub(super) fn on_replies(&mut self, bytes: &[u8], ctx: &mut Context<Self>) {
        self.handle_replies(bytes);
        self.stop_if_due(ctx);
    }

    /// Bytes from the news feed; ignored once stopping (no new orders).
    pub(super) fn on_news(&mut self, bytes: &[u8]) {
        if self.phase.is_trading() {
            self.handle_news(bytes);
            self.flush();
        }
    }

    /// A new news connection: a partial frame of the last one is garbage.
    pub(super) fn on_news_link_up(&mut self) {
        self.news = FrameSplitter::new(self.settings.max_frame);
    }

    fn handle_replies(&mut self, bytes: &[u8]) {
        self.replies.push(bytes);
        loop {
            let frame = match self.replies.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    slog::error!(self.log, "reply stream unframeable; discarding it"; "reason" => %e);
                    self.replies = FrameSplitter::new(self.settings.max_frame);
                    break;
                }
            };
            match parse_reply(frame) {
                Ok(Reply::Ack {
                    client_order_id: id,
                }) => match self.tracker.answer(id, false) {
                    Answer::Acked { symbol, .. } => {
                        slog::info!(self.log, "order acked"; "id" => id, "position" => self.tracker.position(symbol));
                    }
                    _ => slog::debug!(self.log, "ACK for an order already answered"; "id" => id),
                },
                Ok(Reply::Rej {
                    client_order_id: id,
                    reason,
                }) => match self.tracker.answer(id, true) {
                    Answer::Rejected => {
                        slog::warn!(self.log, "order rejected"; "id" => id, "reason" => reason)
                    }
                    _ => slog::debug!(self.log, "REJ for an order already answered"; "id" => id),
                },
                Err(e) => {
                    if let Some(skipped) = self.bad_log.allow() {
                        slog::warn!(self.log, "malformed reply"; "reason" => %e, "not_logged_before" => skipped);
                    }
                }
            }
        }
    }

    fn handle_news(&mut self, bytes: &[u8]) {
        self.news.push(bytes);
        loop {
            let frame = match self.news.next_frame() {
                Ok(Some(f)) => f,
                Ok(None) => break,
                Err(e) => {
                    slog::error!(self.log, "news stream unframeable; discarding it"; "reason" => %e);
                    self.news = FrameSplitter::new(self.settings.max_frame);
                    break;
                }
            };
            let parsed = parse_news(frame).map_err(|e| e.to_string()).and_then(|n| {
                let idx = self
                    .reader
                    .symbol_index(n.symbol)
                    .ok_or_else(|| format!("unknown symbol {:?}", n.symbol))?;
                Ok((idx, n.sentiment))
            });
            match parsed {
                Ok((idx, sentiment)) => {
                    self.input.news += 1;
                    if let Some(intent) = self.engine.on_news(idx, sentiment) {
                        match self.last_price[idx] {
                            Some(price) => self.place(intent, price),
                            None => {
                                slog::debug!(self.log, "news signal before any price; skipped"; "symbol" => idx)
                            }
                        }
                    }
                }
                Err(reason) => {
                    if let Some(skipped) = self.bad_log.allow() {
                        slog::warn!(self.log, "news frame ignored"; "reason" => reason, "not_logged_before" => skipped);
                    }
                }
            }
        }
    }
}
