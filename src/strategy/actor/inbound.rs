//! What the connections bring a [`SignalActor`]: ACK/REJ frames from the
//! ordermanager and sentiment frames from the news feed (already framed by
//! the links, one batch per read), plus the order connection coming and
//! going.

use std::time::Instant;

use actix::Context;

use super::news_gate::OnArrival;
use bytes::Bytes;

use super::SignalActor;
use crate::net::{LinkDown, LinkWriter};
use crate::protocol::{
    is_feed_control, parse_feed_control, parse_news, parse_reply, write_auth, FrameBatch, Reply,
};
use crate::strategy::orders::Answer;
use crate::symbol::SymbolIndex;

impl SignalActor {
    /// A new order connection: AUTH first (the ordermanager refuses a
    /// connection whose first frame is anything else), then everything
    /// unanswered, then what waited in `out`, in that order, in one write.
    pub(super) fn on_order_link_up(&mut self, link: LinkWriter, ctx: &mut Context<Self>) {
        let mut frames = Vec::new();
        if let Some(token) = &self.settings.auth_token {
            write_auth(&mut frames, &self.settings.client_name, token);
        }
        let n = self
            .tracker
            .resend_all(&mut frames, Instant::now(), &self.settings.symbols);
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
    pub(super) fn on_order_link_down(&mut self, reason: &LinkDown) {
        self.link = None;
        slog::warn!(self.log, "ordermanager disconnected; unanswered orders will be resent";
            "reason" => %reason, "unanswered" => self.tracker.unanswered());
    }

    /// One read of replies from the ordermanager: apply every reply, then
    /// see whether that was the last answer owed.
    pub(super) fn on_replies(&mut self, frames: &FrameBatch, ctx: &mut Context<Self>) {
        let before = self.tracker.unanswered();
        self.handle_replies(frames);
        // Ticks held for answers move on once half of the cap is answered
        // (the ring waiter's periodic wake catches any other case).
        let half = self.settings.max_unanswered.div_ceil(2);
        if before >= half && self.tracker.unanswered() < half {
            self.wake_ring(ctx);
        }
        self.stop_if_due(ctx);
    }

    /// One read of news frames; ignored once stopping (no new orders).
    /// When they let held-back ticks move on, the ring is drained again.
    pub(super) fn on_news(&mut self, frames: &FrameBatch, ctx: &mut Context<Self>) {
        if self.phase.is_trading() {
            if self.handle_news(frames) {
                self.wake_ring(ctx);
            }
            self.flush();
        }
    }

    /// One news item, applied now: the strategy's view, and an order at the
    /// symbol's last price if that view asks for one.
    pub(super) fn apply_news(&mut self, idx: SymbolIndex, sentiment: u8) {
        self.input.news += 1;
        if let Some(intent) = self.decide_news(idx, sentiment) {
            match self.last_price[idx.get()] {
                Some(price) => self.place(intent, price),
                None => {
                    slog::debug!(self.log, "news signal before any price; skipped"; "symbol" => idx)
                }
            }
        }
    }

    fn handle_replies(&mut self, frames: &FrameBatch) {
        for frame in frames.iter() {
            match parse_reply(frame) {
                Ok(Reply::Ack {
                    client_order_id: id,
                }) => match self.tracker.answer(id, false) {
                    Answer::Acked { symbol, .. } => {
                        slog::debug!(self.log, "order acked"; "id" => id, "position" => self.tracker.position(symbol));
                    }
                    _ => slog::debug!(self.log, "ACK for an order already answered"; "id" => id),
                },
                Ok(Reply::Rej {
                    client_order_id: id,
                    reason,
                }) => match self.tracker.answer(id, true) {
                    Answer::Rejected => match self.answer_log.rejected.allow() {
                        Some(skipped) => slog::warn!(self.log, "order rejected";
                            "id" => id, "reason" => reason, "not_logged_before" => skipped),
                        None => {
                            slog::debug!(self.log, "order rejected"; "id" => id, "reason" => reason)
                        }
                    },
                    _ => slog::debug!(self.log, "REJ for an order already answered"; "id" => id),
                },
                Ok(Reply::AuthOk) => {
                    slog::info!(self.log, "authenticated to the ordermanager"; "client" => &self.settings.client_name)
                }
                Ok(Reply::Refused { reason }) => {
                    slog::error!(self.log, "the ordermanager refused this connection: check strategy.auth_token against ordermanager.auth_token";
                        "reason" => reason, "unanswered" => self.tracker.unanswered());
                }
                Err(e) => {
                    if let Some(skipped) = self.bad_log.allow() {
                        slog::warn!(self.log, "malformed reply"; "reason" => %e, "not_logged_before" => skipped);
                    }
                }
            }
        }
    }

    /// Applies or queues each news item (see `news_gate`); true when held
    /// ticks may now be read.
    fn handle_news(&mut self, frames: &FrameBatch) -> bool {
        let mut opened = false;
        for frame in frames.iter() {
            if is_feed_control(frame) {
                match parse_feed_control(frame) {
                    Ok(c) => opened |= self.news_gate.control(c),
                    Err(e) => self.news_ignored(e.to_string()),
                }
                continue;
            }
            let parsed = parse_news(frame).map_err(|e| e.to_string()).and_then(|n| {
                let idx = self
                    .reader
                    .symbol_index(n.symbol)
                    .ok_or_else(|| format!("unknown symbol {:?}", n.symbol))?;
                Ok((idx, n.sentiment))
            });
            match parsed {
                Ok((idx, sentiment)) => {
                    let (what, open) =
                        self.news_gate
                            .arrived(idx, sentiment, self.cursor.next_seq());
                    opened |= open;
                    match what {
                        OnArrival::ApplyNow => self.apply_news(idx, sentiment),
                        OnArrival::Queued => {}
                        OnArrival::Late => {
                            self.input.late_news += 1;
                            self.news_ignored("its tick was already read".into());
                        }
                    }
                }
                Err(reason) => self.news_ignored(reason),
            }
        }
        opened
    }

    fn news_ignored(&mut self, reason: String) {
        if let Some(skipped) = self.bad_log.allow() {
            slog::warn!(self.log, "news frame ignored"; "reason" => reason, "not_logged_before" => skipped);
        }
    }
}
