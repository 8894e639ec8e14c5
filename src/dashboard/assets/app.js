// The dashboard's only script: one EventSource on /events, each message a
// whole snapshot of the run (see src/dashboard/snapshot.rs), drawn in place.
"use strict";

let received = 0;

const $ = (id) => document.getElementById(id);
const fixed = (x, d = 2) => Number(x).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d });
const whole = (x) => Math.round(x).toLocaleString("en-US");
const signed = (el, x) => {
  el.textContent = (x > 0 ? "+" : "") + fixed(x);
  el.classList.toggle("pos", x > 0);
  el.classList.toggle("neg", x < 0);
};
const micros = (us) => us >= 1000 ? fixed(us / 1000, 2) + " ms" : us + " µs";

function row(tbody, key, cells) {
  let tr = tbody.querySelector(`tr[data-key="${key}"]`);
  if (!tr) {
    tr = document.createElement("tr");
    tr.dataset.key = key;
    for (let i = 0; i < cells; i++) tr.appendChild(document.createElement("td"));
    tbody.appendChild(tr);
  }
  return tr.children;
}

function chart(td, symbol, prices) {
  let c = td.querySelector("canvas");
  if (!c) {
    c = document.createElement("canvas");
    c.width = 160; c.height = 28; c.id = "chart-" + symbol;
    td.appendChild(c);
  }
  const g = c.getContext("2d");
  g.clearRect(0, 0, c.width, c.height);
  if (prices.length < 2) return;
  const lo = Math.min(...prices), hi = Math.max(...prices), span = hi - lo || 1;
  g.strokeStyle = prices[prices.length - 1] >= prices[0] ? "#13652a" : "#9b1c10";
  g.lineWidth = 1.5;
  g.beginPath();
  prices.forEach((p, i) => {
    const x = (i / (prices.length - 1)) * c.width, y = c.height - 2 - ((p - lo) / span) * (c.height - 4);
    i ? g.lineTo(x, y) : g.moveTo(x, y);
  });
  g.stroke();
}

function draw(s) {
  $("state").textContent = s.state;
  $("state").className = "state " + s.state;
  $("elapsed").textContent = fixed(s.elapsed_s, 1);
  $("ticks-rate").textContent = whole(s.ticks_per_s);
  $("ticks").textContent = s.ticks;
  $("ring-lag").textContent = whole(s.ring_lag);
  $("orders-rate").textContent = whole(s.orders_per_s);
  $("orders").textContent = s.accepted;
  $("rejected").textContent = s.rejected;
  signed($("pnl"), s.total_pnl);
  signed($("realized"), s.realized_pnl);
  signed($("unrealized"), s.unrealized_pnl);
  const l = s.latency;
  $("lat-n").textContent = l.samples + (l.unmeasured ? ` (+${l.unmeasured} unmeasured)` : "");
  for (const [id, v] of [["lat-p50", l.p50_us], ["lat-p90", l.p90_us], ["lat-p99", l.p99_us], ["lat-max", l.max_us]]) {
    $(id).textContent = l.samples ? micros(v) : "–";
  }
  const body = $("symbols").tBodies[0];
  for (const v of s.symbols) {
    const td = row(body, v.symbol, 7);
    td[0].textContent = v.symbol;
    td[1].textContent = v.price === null ? "–" : fixed(v.price);
    td[1].id = "price-" + v.symbol;
    chart(td[2], v.symbol, v.history);
    td[3].textContent = v.position;
    td[4].textContent = v.position ? fixed(v.avg_cost) : "–";
    signed(td[5], v.realized);
    signed(td[6], v.unrealized);
  }
  const rejects = $("rejects").tBodies[0];
  const reasons = Object.entries(s.rejects);
  if (reasons.length) rejects.querySelector("tr:not([data-key])")?.remove();
  for (const [reason, n] of reasons) {
    const td = row(rejects, reason, 2);
    td[0].textContent = reason;
    td[1].textContent = n;
  }
  for (const [role, n] of Object.entries(s.restarts)) {
    const td = row($("restarts").tBodies[0], role, 2);
    td[0].textContent = role;
    td[1].textContent = n;
  }
  $("warning").textContent = s.journal_error ? "journal unreadable: " + s.journal_error : "";
}

const events = new EventSource("/events");
events.onmessage = (e) => { received++; $("events").textContent = received; draw(JSON.parse(e.data)); };
events.onerror = () => {
  // The stream ends with the run; EventSource would retry a stopped server forever.
  if (received) { $("state").textContent = "ended"; $("state").className = "state ended"; events.close(); }
};
