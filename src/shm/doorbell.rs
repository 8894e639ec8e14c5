//! Doorbells: how the writer wakes a registered ring reader that sleeps in
//! its own event loop, with no thread of the reader's in between.
//!
//! A futex can only be slept on by a blocked thread, so a reader whose
//! event loop (epoll) must also serve sockets and timers would need a
//! second thread to sleep on it and then wake the loop: two wake-ups per
//! tick instead of one, which on a two-core machine is most of the
//! latency. A doorbell is a datagram socket the reader's event loop
//! watches, bound to an abstract Unix address (no file, gone with the
//! socket) named by a random token the reader stores in its slot.
//!
//! The protocol, in the reader's slot (see `cursors` and the layout in the
//! [module docs](super)): word 3 holds the token, word 4 is "armed". A
//! reader that found the ring empty arms (store 1, full fence), then looks
//! at the head once more: a tick published meanwhile is read now, and
//! otherwise it sleeps on the socket. The writer, after each batch (its
//! head stored, full fence), swaps every armed word back to 0 and sends one
//! byte to each reader it disarmed. Either the writer sees the arm or the
//! reader sees the tick, never neither (the two fences order the store
//! before the load on both sides), and a batch costs one `sendto` per
//! sleeping reader and nothing for a reader that is busy reading.

use std::io;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{fence, Ordering};

use super::cursors::RingRegistration;
use super::layout::{READER_SLOTS, READER_SLOT_SIZE};
use super::writer::PriceTable;

/// Abstract-address prefix of every doorbell (the token follows in hex).
const NAME_PREFIX: &str = "trading-stack/ring-doorbell/";
/// Fresh tokens tried when a name is taken (another process chose the
/// same 64 random bits: in practice never).
const BIND_ATTEMPTS: usize = 4;

/// Slot word holding the reader's doorbell token (0: no doorbell).
pub(super) const WORD_TOKEN: usize = 3;
/// Slot word that is 1 while the reader sleeps and wants a ring.
pub(super) const WORD_ARMED: usize = 4;

/// A reader's doorbell: a datagram socket on the reader's tokio event loop
/// that the writer rings; [`rung`](Doorbell::rung) waits for a ring.
#[derive(Debug)]
pub struct Doorbell {
    /// Bound to the abstract address named by `token`.
    socket: tokio::net::UnixDatagram,
    /// Names the address; stored in the reader's slot for the writer.
    token: u64,
}

impl Doorbell {
    /// A doorbell bound to a fresh random abstract address, registered with
    /// the current tokio runtime (call it from within one).
    pub fn bind() -> io::Result<Doorbell> {
        let mut last = None;
        for _ in 0..BIND_ATTEMPTS {
            let token = rand::random::<u64>().max(1);
            match UnixDatagram::bind_addr(&address(token)?) {
                Ok(socket) => {
                    socket.set_nonblocking(true)?;
                    let socket = tokio::net::UnixDatagram::from_std(socket)?;
                    return Ok(Doorbell { socket, token });
                }
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("no doorbell address was free")))
    }

    /// The token the writer finds the doorbell by.
    pub fn token(&self) -> u64 {
        self.token
    }

    /// Waits for a ring, then takes every pending one (one wake-up however
    /// many batches rang); returns how many there were.
    pub async fn rung(&self) -> io::Result<usize> {
        let mut buf = [0u8; 8];
        loop {
            self.socket.readable().await?;
            // A `WouldBlock` here clears the readiness, and only then: a
            // ring that lands meanwhile is never slept through.
            match self.socket.try_recv(&mut buf) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
        let mut n = 1;
        while self.socket.try_recv(&mut buf).is_ok() {
            n += 1;
        }
        Ok(n)
    }
}

/// The abstract address of the doorbell with `token`.
fn address(token: u64) -> io::Result<SocketAddr> {
    SocketAddr::from_abstract_name(format!("{NAME_PREFIX}{token:016x}"))
}

/// Sends one ring to the doorbell with `token` through `from` (the
/// writer's unbound socket). A doorbell that is gone (its reader died) or
/// full (rings it has not taken yet, so it will wake anyway) is not an
/// error worth more than ignoring.
pub(super) fn ring(from: &UnixDatagram, token: u64) {
    if let Ok(to) = address(token) {
        let _ = from.send_to_addr(&[1], &to);
    }
}

impl RingRegistration {
    /// Tells the writer which doorbell to ring when we sleep; call again
    /// after registering anew (a re-created table).
    pub fn use_doorbell(&self, bell: &Doorbell) {
        self.line()[WORD_TOKEN].store(bell.token(), Ordering::Release);
    }

    /// Asks the writer to ring our doorbell after its next batch. Look at
    /// the ring once more after this and before sleeping: a tick published
    /// just before the arm is not rung for (see the module docs).
    pub fn arm(&self) {
        self.line()[WORD_ARMED].store(1, Ordering::SeqCst);
        fence(Ordering::SeqCst);
    }
}

impl PriceTable {
    /// Rings the doorbell of every reader that armed it, disarming it, so
    /// each sleeping reader gets one ring per batch however many ticks the
    /// batch held. Call after the batch's head is stored.
    pub(super) fn ring_doorbells(&self) {
        // Orders our head store before the loads of the armed words; the
        // reader's fence orders its arm before its load of the head.
        fence(Ordering::SeqCst);
        for i in 0..READER_SLOTS {
            let s = self
                .region
                .line(self.layout.readers_offset + i * READER_SLOT_SIZE);
            if s[WORD_ARMED].load(Ordering::Relaxed) == 0
                || s[WORD_ARMED].swap(0, Ordering::AcqRel) == 0
            {
                continue;
            }
            let token = s[WORD_TOKEN].load(Ordering::Relaxed);
            if token != 0 {
                ring(&self.bell, token);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::testutil::{syms, Seg};
    use super::super::PriceTableReader;
    use super::*;
    use crate::symbol::SymbolIndex;

    /// Long enough for a ring that was sent (the send is done before
    /// `notify_readers` returns, so one is already queued or never comes).
    const QUEUED: Duration = Duration::from_millis(50);

    async fn rung_within(bell: &Doorbell, limit: Duration) -> Option<usize> {
        tokio::time::timeout(limit, bell.rung()).await.ok()?.ok()
    }

    #[tokio::test]
    async fn an_armed_reader_is_rung_once_per_batch_and_then_disarmed() {
        let seg = Seg::new();
        let mut table = PriceTable::create(&seg.0, &syms(&["A"]), 8).unwrap();
        let reader = PriceTableReader::attach(&seg.0).unwrap();
        let slot = reader
            .register_ring_reader(&reader.cursor_from_oldest())
            .unwrap();
        let bell = Doorbell::bind().unwrap();
        slot.use_doorbell(&bell);
        table.publish(SymbolIndex(0), 1, 1, 0, 1);
        table.notify_readers();
        assert_eq!(rung_within(&bell, QUEUED).await, None, "not armed: no ring");

        slot.arm();
        for n in 2..5 {
            table.publish(SymbolIndex(0), n, n, 0, n);
        }
        table.notify_readers();
        table.notify_readers();
        assert_eq!(rung_within(&bell, QUEUED).await, Some(1), "one ring");
        table.publish(SymbolIndex(0), 5, 5, 0, 5);
        table.notify_readers();
        assert_eq!(rung_within(&bell, QUEUED).await, None, "disarmed by it");
    }

    #[tokio::test]
    async fn a_released_or_reclaimed_slot_is_never_rung() {
        let seg = Seg::new();
        let table = PriceTable::create(&seg.0, &syms(&["A"]), 8).unwrap();
        let reader = PriceTableReader::attach(&seg.0).unwrap();
        let bell = Doorbell::bind().unwrap();
        let slot = reader
            .register_ring_reader(&reader.cursor_from_oldest())
            .unwrap();
        slot.use_doorbell(&bell);
        slot.arm();
        drop(slot);
        table.notify_readers();
        assert_eq!(rung_within(&bell, QUEUED).await, None);
        // A new claim of the slot starts without a doorbell or an arm.
        let again = reader
            .register_ring_reader(&reader.cursor_from_oldest())
            .unwrap();
        table.notify_readers();
        assert_eq!(rung_within(&bell, QUEUED).await, None);
        again.use_doorbell(&bell);
        again.arm();
        table.notify_readers();
        assert_eq!(rung_within(&bell, QUEUED).await, Some(1));
    }

    #[test]
    fn a_ring_for_a_doorbell_that_is_gone_is_harmless() {
        let from = UnixDatagram::unbound().unwrap();
        ring(&from, 0x5eed_0000_dead_beef);
    }
}
