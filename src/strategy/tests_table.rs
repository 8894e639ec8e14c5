//! A restarted orderbook re-creates the table: the actor follows it,
//! registers with the new one and names its doorbell there, so the new
//! table's ticks reach it as the first table's did.

use super::*;

#[actix_rt::test]
async fn a_recreated_table_is_followed_and_its_ticks_become_orders() {
    let Harness {
        seg,
        mut table,
        addr,
        listener,
        ..
    } = start(false).await;
    let (mut conn, _) = listener.accept().await.unwrap();
    let id = |t: &PriceTable, seq: u64| format!("t-{:08x}-{seq}", t.generation() as u32);
    publish(&mut table, 0, &PRICES);
    let first = read_orders(&mut conn, 2).await;
    assert_eq!([&first[0].0, &first[1].0], [&id(&table, 3), &id(&table, 5)]);

    table.unlink().unwrap();
    let mut table = PriceTable::create(&seg.0, &symbols(), 64).unwrap();
    let new_table = &table;
    wait_until(
        "the actor registered with the new table",
        PATIENCE,
        || async move { !new_table.registered_readers().is_empty() },
    )
    .await;
    // Another symbol, so the windows start empty: the same two crossovers.
    publish(&mut table, 1, &PRICES);
    let second = read_orders(&mut conn, 2).await;
    assert_eq!(
        [&second[0].0, &second[1].0],
        [&id(&table, 3), &id(&table, 5)]
    );
    wait_for_counts(&addr, "every tick of both tables", |c| {
        c.input.ticks == 2 * PRICES.len() as u64 && c.input.lost == 0
    })
    .await;
}
