//! Stale ticks and the live-feed-only age limit.

use super::*;

/// Publishes `prices` for `symbol` as sent by the gateway at `send_ns`.
fn publish_sent_at(table: &mut PriceTable, symbol: usize, prices: &[i64], send_ns: i64) {
    for &p in prices {
        let now = crate::clock::unix_now_ns();
        table.publish(SymbolIndex::new(symbol), p * 100_000_000, 0, send_ns, now);
    }
    table.notify_readers();
}

#[actix_rt::test]
async fn stale_ticks_update_the_averages_but_send_nothing_and_fresh_ones_trade_again() {
    let seg = Seg::new();
    let minute = Duration::from_secs(60);
    let (mut table, addr, _done) = actor_with(
        &seg,
        false,
        StrategySettings {
            max_tick_age: Some(minute),
            ..settings(true)
        },
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let _trigger = link(&addr, &listener);
    let (mut conn, _) = listener.accept().await.unwrap();
    let two_minutes_ago = crate::clock::unix_now_ns() - 120_000_000_000;
    publish_sent_at(&mut table, 0, &PRICES, two_minutes_ago);
    wait_for_counts(&addr, "the stale ticks are read", |c| {
        c.input.ticks == PRICES.len() as u64
    })
    .await;
    let c = counts(&addr).await;
    assert_eq!(
        (c.input.stale, c.input.skipped, c.orders.sent),
        (PRICES.len() as u64, 2, 0),
        "both crossovers of the stale ticks were skipped, not sent"
    );
    publish_sent_at(&mut table, 1, &PRICES, crate::clock::unix_now_ns());
    let got = read_orders(&mut conn, 2).await;
    assert_eq!(got.len(), 2, "fresh ticks trade again: {got:?}");
    let c = counts(&addr).await;
    assert_eq!((c.input.stale, c.input.skipped), (PRICES.len() as u64, 2));
}

#[test]
fn the_age_limit_applies_to_live_feeds_only() {
    let mut cfg = crate::config::Config::load_with_env(None, Some(Default::default())).unwrap();
    cfg.strategy.max_tick_age_ms = 1000;
    let limit = |cfg: &crate::config::Config| super::max_tick_age(cfg);
    cfg.gateway.loop_replay = true;
    cfg.gateway.rate = 1000;
    assert_eq!(limit(&cfg), Some(Duration::from_secs(1)));
    cfg.gateway.rate = 0;
    assert_eq!(limit(&cfg), None, "full speed: send times measure the lead");
    cfg.gateway.rate = 1000;
    cfg.gateway.loop_replay = false;
    assert_eq!(limit(&cfg), None, "finite runs stay exact");
    cfg.gateway.loop_replay = true;
    cfg.strategy.max_tick_age_ms = 0;
    assert_eq!(limit(&cfg), None, "0 = off");
}
