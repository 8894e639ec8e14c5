//! The default configuration's risk limits accept everything our default
//! strategy sends in a finite replay at full speed (see the `[ordermanager]`
//! risk comments in `config/default.toml`).
//!
//! Judged at the worst a replay can bring, not at this machine's speed:
//! every order arrives in the same instant (the fastest replay there could
//! be), and the price table the band checks against already holds the
//! replay's last prices (a strategy that falls behind sees the table run
//! ahead of the tick that priced its order: a ring at most when the ring is
//! lossless, the whole rest of the replay when it is not).

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use crate::config::Config;
use crate::gateway::RandomWalk;
use crate::ordermanager::positions::PositionBook;
use crate::ordermanager::risk::{CheckCtx, LastPrice, RateLimiter, RiskChecks};
use crate::price::Price;
use crate::protocol::Order;
use crate::signals::SignalEngine;
use crate::symbol::SymbolIndex;

/// Ticks in the replay: the full-speed run.
const REPLAY_TICKS: usize = 2_000_000;

/// The table as the ordermanager sees it: each symbol's last price, kept a
/// fixed number of ticks ahead of the order being judged.
struct TableAhead(Rc<RefCell<Vec<Option<Price>>>>);

impl LastPrice for TableAhead {
    fn last(&mut self, idx: usize) -> Option<Price> {
        self.0.borrow().get(idx).copied().flatten()
    }
}

#[test]
fn the_default_limits_accept_a_full_speed_replay_of_the_default_strategy() {
    let cfg = Config::load_with_env(None, Some(Default::default())).expect("built-in defaults");
    let om = &cfg.ordermanager;
    let mut params = cfg.signal_params();
    // Without news every crossover is an order: the most our strategy sends.
    params.use_news = false;
    let lag = REPLAY_TICKS;
    let mut walk = RandomWalk::new(&cfg.symbols, cfg.gateway.walk_seed, false);
    let tape: Vec<(usize, Price)> = (0..REPLAY_TICKS)
        .map(|_| {
            let (i, p, _) = walk.step();
            (i, p)
        })
        .collect();

    let mut engine = SignalEngine::new(cfg.symbols.len(), &params).expect("default params");
    let limits = om.risk_limits();
    let now = Instant::now();
    let mut limiter = RateLimiter::new(om.max_orders_per_sec, now);
    let mut book = PositionBook::new();
    // The table `lag` ticks ahead: the last price of each symbol up to `ahead`.
    let table = Rc::new(RefCell::new(vec![None; cfg.symbols.len()]));
    let mut checks = RiskChecks::standard(&limits, TableAhead(table.clone()));
    let mut ahead = 0;
    let (mut orders, mut rejects) = (0u64, Vec::new());
    for (seq, &(sym, price)) in tape.iter().enumerate() {
        let Some(intent) = engine.on_tick(SymbolIndex::new(sym), price.units(), seq as u64) else {
            continue;
        };
        while ahead < tape.len() && ahead <= seq + lag {
            table.borrow_mut()[tape[ahead].0] = Some(tape[ahead].1);
            ahead += 1;
        }
        let symbol = &cfg.symbols[intent.symbol.get()];
        let order = Order {
            timestamp: 0.0,
            side: intent.side,
            quantity: cfg.strategy.quantity,
            symbol,
            price,
            client_order_id: None,
        };
        let mut ctx = CheckCtx {
            halted: false,
            symbol: Some(intent.symbol.get()),
            book: &book,
            client: "strat1",
            limiter: &mut limiter,
            now,
        };
        orders += 1;
        match checks.evaluate(&order, &mut ctx) {
            Ok(()) => {
                book.apply_fill("strat1", symbol, order.side, order.quantity, price);
            }
            Err(reason) => rejects.push((seq, reason)),
        }
    }
    assert!(
        orders > 100_000,
        "the replay makes plenty of orders: {orders}"
    );
    assert!(
        rejects.is_empty(),
        "{} of {orders} orders rejected by the default limits, first: {:?}",
        rejects.len(),
        rejects.first()
    );
}
