/**
 * The console's one page, rendered on the server, and the small script that keeps it live.
 *
 * Everything shown is escaped: merchant ids (and every other field) are the producer's free text,
 * so the server renders them through escape-html and the script only ever sets `textContent`.
 * The Content-Security-Policy (server.ts) allows no inline script, handler or style besides, so
 * markup that slipped through would still not run.
 *
 * Markup contract (tests and users rely on it): the feed is `#alerts`, each row a `tr` carrying
 * `data-event-id` (the alert's event_id) and `data-payment-id` (its payment_event_id).
 */
import escapeHtml from 'escape-html';
import { HISTORY_DAYS } from './history.js';
import type { ConsoleAlert } from './view.js';

/** Rows the page keeps in its feed (older ones are dropped from the DOM, not from the server). */
export const PAGE_ROWS = 200;

const COLUMNS = ['time', 'card', 'amount', 'merchant', 'window (UTC)', 'flags'] as const;

function flags(a: ConsoleAlert): string {
  return [a.late ? 'late' : '', a.retro ? 'retro' : ''].filter(Boolean).join(' ');
}

/** A row's cells as text, in COLUMNS order (the script builds the same from the same data). */
export function cellsOf(a: ConsoleAlert): string[] {
  return [
    a.created_at,
    a.card_masked,
    `${a.amount.toFixed(2)} ${a.currency}`,
    a.merchant_id,
    `${a.window_start.slice(11, 19)}–${a.window_end.slice(11, 19)}`,
    flags(a),
  ];
}

function row(a: ConsoleAlert): string {
  const cells = cellsOf(a)
    .map((c) => `<td>${escapeHtml(c)}</td>`)
    .join('');
  return `<tr data-event-id="${escapeHtml(a.event_id)}" data-payment-id="${escapeHtml(a.payment_event_id)}" data-card-token="${escapeHtml(a.card_token)}">${cells}</tr>`;
}

export function renderPage(alerts: readonly ConsoleAlert[], csrfToken: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="csrf-token" content="${escapeHtml(csrfToken)}">
<title>Stolen-card alerts</title>
<link rel="stylesheet" href="/vendor/uplot.css">
<link rel="stylesheet" href="/console.css">
<script src="/vendor/uplot.js" defer></script>
<script src="/console.js" defer></script>
</head>
<body>
<header><h1>Stolen-card alerts</h1><span id="status">connecting…</span></header>
<main>
<section id="feed">
<h2>Live alerts</h2>
<table>
<thead><tr>${COLUMNS.map((c) => `<th>${c}</th>`).join('')}</tr></thead>
<tbody id="alerts">${alerts.slice(0, PAGE_ROWS).map(row).join('')}</tbody>
</table>
</section>
<aside>
<section id="rate">
<h2>Alerts per minute</h2>
<div id="rate-chart"></div>
</section>
<section id="fleet">
<h2>Processors</h2>
<table>
<thead><tr><th>processor</th><th>shard</th><th>state</th><th>behind tip</th><th>watermark lag</th></tr></thead>
<tbody id="fleet-rows"><tr><td colspan="5">not polled yet</td></tr></tbody>
</table>
</section>
<section id="card" hidden>
<h2>Card <span id="card-masked"></span></h2>
<p>token <code id="card-token"></code></p>
<dl id="card-summary"></dl>
<ul id="card-alerts"></ul>
<h3>History (warehouse)</h3>
<p id="card-history-status"></p>
<ul id="card-history"></ul>
</section>
<section id="report">
<h2>Report a card</h2>
<form id="report-form">
<label>Card number <input name="card_number" inputmode="numeric" autocomplete="off" required></label>
<label>Status <select name="status"><option value="STOLEN">stolen</option><option value="ACTIVE">recovered</option></select></label>
<label>From <input name="effective_at" placeholder="now, or an ISO time"></label>
<label>Reason <input name="reason" maxlength="256"></label>
<button type="submit">Report</button>
</form>
<p id="report-result" role="status"></p>
</section>
</aside>
</main>
</body>
</html>
`;
}

export const CONSOLE_CSS = `body{font:14px system-ui,sans-serif;margin:0}header{display:flex;gap:1em;align-items:baseline;padding:.5em 1em;background:#222;color:#eee}
main{display:grid;grid-template-columns:minmax(0,1fr) 28em;gap:1em;padding:1em}aside,#feed{min-width:0}#feed{overflow-x:auto}table{border-collapse:collapse;width:100%}
td,th{padding:2px 6px;border-bottom:1px solid #ddd;text-align:left;white-space:nowrap;overflow:hidden;max-width:22em;text-overflow:ellipsis}
#alerts tr{cursor:pointer}#alerts tr:hover{background:#f3f3f3}label{display:block;margin:.3em 0}#status.down{color:#f66}
#fleet table{font-size:12px}#fleet td{max-width:8em}#card-token{word-break:break-all}dd{margin:0 0 .2em 1em}#fleet tr.down td,#fleet tr.not-ready td{color:#b00}`;

/**
 * The page's script: a server-sent event stream of alert batches, rows built with textContent and
 * added once per animation frame (at 100 alerts/s the page does one DOM update per frame, not one
 * per alert), the feed trimmed to PAGE_ROWS; a row's card view; the report form (CSRF token from
 * the page, refreshed once if the console restarted since).
 */
export const CONSOLE_JS = `'use strict';
(() => {
  const ROWS = ${PAGE_ROWS};
  const tbody = document.getElementById('alerts');
  const status = document.getElementById('status');
  let csrf = document.querySelector('meta[name="csrf-token"]').content;
  let pending = [];
  let scheduled = false;
  const cell = (text) => { const td = document.createElement('td'); td.textContent = text; return td; };
  const flags = (a) => [a.late ? 'late' : '', a.retro ? 'retro' : ''].filter(Boolean).join(' ');
  function rowOf(a) {
    const tr = document.createElement('tr');
    tr.dataset.eventId = a.event_id;
    tr.dataset.paymentId = a.payment_event_id;
    tr.dataset.cardToken = a.card_token;
    for (const text of [a.created_at, a.card_masked, a.amount.toFixed(2) + ' ' + a.currency, a.merchant_id, a.window_start.slice(11, 19) + '–' + a.window_end.slice(11, 19), flags(a)]) tr.appendChild(cell(text));
    return tr;
  }
  function flush() {
    scheduled = false;
    const batch = pending;
    pending = [];
    const fragment = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0 && fragment.childNodes.length < ROWS; i--) {
      if (document.querySelector('tr[data-event-id="' + CSS.escape(batch[i].event_id) + '"]')) continue;
      fragment.appendChild(rowOf(batch[i]));
    }
    tbody.insertBefore(fragment, tbody.firstChild);
    while (tbody.rows.length > ROWS) tbody.deleteRow(tbody.rows.length - 1);
  }
  const enqueue = (alerts) => {
    for (const a of alerts) pending.push(a);
    if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
  };
  let opened = false;
  function connect() {
    const events = new EventSource('/events');
    events.addEventListener('open', () => {
      status.textContent = 'live';
      status.className = '';
      // Back after a drop (a console restart): what arrived meanwhile is fetched, rows already shown are kept once.
      if (opened) void fetch('/api/alerts').then((res) => (res.ok ? res.json() : [])).then((alerts) => enqueue(alerts.reverse()));
      opened = true;
    });
    events.addEventListener('error', () => { status.textContent = 'reconnecting…'; status.className = 'down'; });
    events.addEventListener('alerts', (e) => enqueue(JSON.parse(e.data)));
  }
  let cardShown = 0;
  async function showCard(token) {
    // A later click wins: answers for an earlier card are dropped.
    const mine = ++cardShown;
    const res = await fetch('/api/cards/' + encodeURIComponent(token));
    if (!res.ok || mine !== cardShown) return;
    const card = await res.json();
    document.getElementById('card').hidden = false;
    document.getElementById('card-token').textContent = token;
    document.getElementById('card-masked').textContent = card.alerts[0] ? card.alerts[0].card_masked : (card.summary ? card.summary.card_masked : '');
    const dl = document.getElementById('card-summary');
    dl.replaceChildren();
    const s = card.summary;
    const add = (k, v) => { const dt = document.createElement('dt'); dt.textContent = k; const dd = document.createElement('dd'); dd.textContent = v; dl.append(dt, dd); };
    if (s) {
      add('last 60 min, up to', s.window_end);
      add('payments', String(s.payment_count));
      for (const [cur, t] of Object.entries(s.amounts)) add(cur, t.total.toFixed(2) + ' (' + t.count + ')');
      add('merchants', String(s.merchant_count));
      add('first payment', s.first_payment_at);
      add('last payment', s.last_payment_at);
    } else add('summary', 'none yet');
    const ul = document.getElementById('card-alerts');
    const item = (at, a) => { const li = document.createElement('li'); li.textContent = at + ' ' + a.amount.toFixed(2) + ' ' + a.currency + ' at ' + a.merchant_id + (a.retro ? ' (retro)' : ''); return li; };
    ul.replaceChildren(...card.alerts.map((a) => item(a.created_at, a)));
    // Older alerts from the warehouse (a minute or so behind the live feed).
    const historyStatus = document.getElementById('card-history-status');
    const history = document.getElementById('card-history');
    historyStatus.textContent = 'loading…';
    history.replaceChildren();
    const h = await fetch('/api/cards/' + encodeURIComponent(token) + '/history').catch(() => undefined);
    const body = h ? await h.json().catch(() => ({})) : {};
    if (mine !== cardShown) return;
    if (!h || !h.ok) { historyStatus.textContent = 'not available: ' + (body.error || 'no answer'); return; }
    historyStatus.textContent = body.alerts.length + ' alerts in the last ${HISTORY_DAYS} days';
    history.replaceChildren(...body.alerts.map((a) => item(a.created_at, a.data)));
  }
  tbody.addEventListener('click', (e) => { const tr = e.target.closest('tr'); if (tr) void showCard(tr.dataset.cardToken); });
  async function report(body, retried) {
    const res = await fetch('/api/cards/status', { method: 'POST', headers: { 'content-type': 'application/json', 'x-csrf-token': csrf }, body: JSON.stringify(body) });
    if (res.status === 403 && !retried) {
      csrf = (await (await fetch('/api/csrf-token')).json()).token;
      return report(body, true);
    }
    return res;
  }
  document.getElementById('report-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const form = new FormData(e.target);
    const body = { card_number: String(form.get('card_number')).replace(/[\\s-]/g, ''), status: form.get('status') };
    if (form.get('effective_at')) body.effective_at = String(form.get('effective_at'));
    if (form.get('reason')) body.reason = String(form.get('reason'));
    const res = await report(body, false);
    const out = await res.json();
    document.getElementById('report-result').textContent = res.ok ? 'published ' + out.event_id : 'refused: ' + out.error;
    if (res.ok) e.target.reset();
  });
  // Alerts per minute over the last hour, redrawn every 10 s (uPlot, a canvas).
  let chart;
  async function drawRate() {
    const res = await fetch('/api/alerts-per-minute');
    if (!res.ok) return;
    const rows = await res.json();
    const data = [rows.map((r) => Date.parse(r.minute) / 1000), rows.map((r) => r.alerts)];
    if (chart) chart.setData(data);
    else chart = new uPlot({ width: 380, height: 160, axes: [{}, { size: 60 }], scales: { x: { time: true, range: () => { const t = Date.now() / 1000; return [t - 3600, t + 60]; } } }, series: [{}, { label: 'alerts', stroke: '#c33', fill: 'rgba(204,51,51,0.15)' }] }, data, document.getElementById('rate-chart'));
  }
  void drawRate();
  setInterval(() => void drawRate(), 10000);
  // Fleet health: one row per shard of each processor (one row for a processor that owns none or is down).
  const seconds = (ms) => (ms === null ? '–' : (ms / 1000).toFixed(1) + ' s');
  async function drawFleet() {
    const res = await fetch('/api/fleet').catch(() => undefined);
    if (!res || !res.ok) return;
    const members = await res.json();
    const rows = [];
    for (const m of members) {
      const name = m.url.replace(/^https?:[/][/]/, '');
      const tr = (cells, cls, title) => { const r = document.createElement('tr'); r.className = cls; if (title) r.title = title; for (const c of cells) r.appendChild(cell(c)); r.dataset.processor = m.url; rows.push(r); };
      if (!m.up) tr([name, '', 'down', '', ''], 'down', m.reason || '');
      else if (m.shards.length === 0) tr([name, '', m.reason || 'no shard', '', ''], m.ready ? '' : 'not-ready', m.reason || '');
      else for (const s of m.shards) tr([name, s.shardId.replace(/^shardId-0*/, ''), s.ready ? s.state : s.state + ' (not ready)', seconds(s.millisBehindLatest), seconds(s.watermarkLagMs)], s.ready ? '' : 'not-ready', s.reason || '');
    }
    if (rows.length === 0) rows.push((() => { const r = document.createElement('tr'); const td = cell('no processor configured (PROCESSOR_URLS)'); td.colSpan = 5; r.appendChild(td); return r; })());
    document.getElementById('fleet-rows').replaceChildren(...rows);
  }
  void drawFleet();
  setInterval(() => void drawFleet(), 5000);
  connect();
})();
`;
