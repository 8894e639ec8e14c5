//! A four-process trading stack: gateway, orderbook, strategy and ordermanager.
//!
//! The processes cross boundaries only through TCP streams (text frames ended
//! by `*`, see [`protocol`]) and one shared-memory price table ([`shm`]). This
//! library holds everything the processes share, so the same code runs live,
//! in tests and in benchmarks.
//!
//! # Modules
//!
//! * [`price`] — the fixed-point price every layer uses, so that averages and
//!   crossovers compare exactly instead of through floating-point noise.
//! * [`symbol`] — [`symbol::SymbolIndex`], how every layer names a symbol:
//!   its position in the configured list and in the shm table.
//! * [`protocol`] — parse and format every wire frame, and split a TCP byte
//!   stream into frames; "incomplete" is a normal state, not an error.
//! * [`shm`] — the lock-free shared-memory price table (one seqlocked slot per
//!   symbol) and the lossless tick ring that lets the strategy see every tick.
//! * [`signals`] — pure decision logic: moving-average crossover, news
//!   sentiment, and the combiner that turns both into orders.
//! * [`clock`] — wall-clock nanoseconds, the unit of every timestamp we store.
//! * [`config`] — the one TOML file (plus `TRADING__*` overrides) every
//!   process reads, validated before anything starts.
//! * [`logging`] — slog set-up: a file per process plus terminal lines.
//! * [`lifecycle`] — readiness announcements and shutdown requests.
//! * [`net`] — the one way every role talks over a socket: a reconnecting
//!   framed client ([`net::ClientLink`]), an accept loop with a connection
//!   cap and framed sessions, each reporting `Up`/`Frames`/`Down` to the
//!   actor that owns the connection; framing happens there and only there.
//!
//! One module per process role, each an actix system with the actors of the
//! design, started by `trading-stack --role NAME`:
//!
//! * [`gateway`] — FeedActors streaming market data (CSV replay or random
//!   walk) and news to every subscriber, each with its own bounded queue.
//! * [`orderbook`] — FeedActor (TCP client) → BookWriterActor, the only
//!   writer of the shm table and tick ring.
//! * [`strategy`] — SignalActor: every tick and news frame through the
//!   signals, orders out with ids, answers tracked, resends after reconnects.
//! * [`ordermanager`] — OrderSinkActor: validation, risk, execution, the
//!   durable journal and recovery.
//! * [`supervisor`] — `--all`: the four roles as supervised child processes.
//! * [`dashboard`] — `--all`'s live web view and Prometheus `/metrics`.
//!
//! And one measuring tool:
//!
//! * [`bench`](mod@bench) — `trading-stack bench`: real orderbook, strategy and
//!   ordermanager processes measured against this machine's floors (TCP
//!   round trip, read + parse, `fdatasync`), written to `reports/bench.md`
//!   with SVG plots; the targets are checked there, not in tests.
//!
//! And one research tool:
//!
//! * [`backtest`] — `trading-stack backtest`: the configured strategy over a
//!   CSV (or a recording of a live run) in one process, through the
//!   ordermanager's own checks and books; parameter sweeps in parallel.
#![warn(missing_docs)]
// Unsafe code lives only in the shm layer's `layout` (the mapping's atomics)
// and `sys` (futex and kill syscalls) modules, which allow it explicitly;
// every block there carries a `// SAFETY:` comment that clippy checks.
#![deny(unsafe_code)]
#![warn(clippy::undocumented_unsafe_blocks)]

pub mod backtest;
pub mod bench;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod gateway;
pub mod lifecycle;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod orderbook;
pub mod ordermanager;
pub mod price;
pub mod protocol;
pub mod shm;
pub mod signals;
pub mod strategy;
pub mod supervisor;
pub mod symbol;
