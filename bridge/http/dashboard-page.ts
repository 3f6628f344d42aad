// The dashboard at GET /: one self-contained page (no build step, nothing fetched from elsewhere:
// gateways often have no Internet) that polls /api/overview every second and derives rates from
// the counters' differences; the chart draws the node's own last two minutes (overview.throughput),
// so it is full on a freshly opened page. When the API needs a token the page asks for it once and keeps it in
// sessionStorage for the tab's life. Its element ids are what test/bridge/http/dashboard.test.ts reads.
export const DASHBOARD_PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Tributary</title>
<style>
  :root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #6b7385; --line: #e3e6ec; --accent: #1f6feb; --bad: #c62828; --ok: #2e7d32; }
  * { box-sizing: border-box; }
  body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--ink); }
  header { display: flex; align-items: baseline; gap: 16px; padding: 12px 20px; background: var(--ink); color: #fff; }
  header h1 { margin: 0; font-size: 18px; }
  header .meta { color: #c6cbd6; font-size: 13px; }
  #state { padding: 2px 8px; border-radius: 10px; font-size: 12px; background: var(--muted); }
  #state.ready { background: var(--ok); } #state.down { background: var(--bad); }
  main { padding: 16px 20px; display: grid; gap: 16px; }
  .tiles { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; }
  .tile, section { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; }
  .tile .label { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
  .tile .value { font-size: 26px; font-variant-numeric: tabular-nums; margin-top: 4px; }
  .tile .sub { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
  section h2 { margin: 0 0 8px; font-size: 15px; }
  table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid var(--line); }
  th { color: var(--muted); font-weight: 600; font-size: 12px; }
  td.num, th.num { text-align: right; }
  .empty { color: var(--muted); }
  .err { color: var(--bad); }
  canvas { width: 100%; height: 80px; display: block; }
  #login { display: none; gap: 8px; align-items: center; }
  #login.shown { display: flex; }
  .cols { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 16px; }
</style>
</head>
<body>
<header>
  <h1>Tributary</h1>
  <span class="meta" id="node">connecting…</span>
  <span id="state">starting</span>
  <span class="meta" id="process"></span>
</header>
<main>
  <form id="login" class="tile">
    <label for="token">This node's API needs its token (http.token):</label>
    <input id="token" type="password" autocomplete="off" size="40">
    <button type="submit">Open</button>
  </form>
  <div class="tiles">
    <div class="tile"><div class="label">Publishes / s</div><div class="value" id="rate-received">–</div><div class="sub" id="total-received"></div></div>
    <div class="tile"><div class="label">Stored / s</div><div class="value" id="rate-stored">–</div><div class="sub" id="total-stored"></div></div>
    <div class="tile"><div class="label">Ingest</div><div class="value" id="rate-bytes">–</div><div class="sub" id="total-bytes"></div></div>
    <div class="tile"><div class="label">Connected devices</div><div class="value" id="connections">–</div><div class="sub" id="refused"></div></div>
    <div class="tile"><div class="label">Upstream lag</div><div class="value" id="upstream-lag">–</div><div class="sub" id="upstream-rate"></div></div>
    <div class="tile"><div class="label">Disk</div><div class="value" id="disk-used">–</div><div class="sub" id="disk-budget"></div></div>
  </div>
  <section><h2>Throughput, last 2 minutes (publishes / s)</h2><canvas id="chart"></canvas></section>
  <div class="cols">
    <section><h2>Topics and partitions</h2>
      <table><thead><tr><th>topic</th><th class="num">partition</th><th class="num">start offset</th><th class="num">end offset</th><th class="num">records</th><th class="num">size</th></tr></thead>
      <tbody id="partitions"><tr><td colspan="6" class="empty">–</td></tr></tbody></table>
    </section>
    <section><h2>Upstream (Kafka)</h2>
      <table><thead><tr><th>topic</th><th class="num">partition</th><th class="num">forwarded</th><th class="num">end offset</th><th class="num">lag</th><th>last error</th></tr></thead>
      <tbody id="upstream"><tr><td colspan="6" class="empty">–</td></tr></tbody></table>
    </section>
  </div>
  <section><h2>Corrupt batches <span id="corrupt-count" class="sub"></span></h2>
    <table><thead><tr><th>first seen</th><th>topic</th><th class="num">partition</th><th class="num">offsets</th><th>reason</th></tr></thead>
    <tbody id="corrupt"><tr><td colspan="5" class="empty">none</td></tr></tbody></table>
  </section>
  <section><h2>Recent errors</h2>
    <table><thead><tr><th>last seen</th><th>component</th><th>problem</th><th class="num">count</th><th>latest</th></tr></thead>
    <tbody id="errors"><tr><td colspan="5" class="empty">none</td></tr></tbody></table>
  </section>
</main>
<script>
"use strict";
var TOKEN_KEY = "tributary.token";
var previous = null;
var samples = [];
var HISTORY = 120;

function el(id) { return document.getElementById(id); }
function fmtInt(n) { return Math.round(n).toLocaleString("en-US"); }
function count(n, one, many) { return fmtInt(n) + " " + (n === 1 ? one : many); }
function fmtRate(n) { return n >= 100 ? fmtInt(n) : n.toFixed(1); }
function fmtBytes(n) {
  var units = ["B", "KiB", "MiB", "GiB", "TiB"];
  var i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + units[i];
}
function fmtDuration(s) {
  var d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d > 0 ? d + "d " + h + "h" : h > 0 ? h + "h " + m + "m" : m + "m " + Math.floor(s % 60) + "s";
}
function cell(text, cls) {
  var td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}
function fillRows(tbody, rows, columns, emptyText) {
  tbody.textContent = "";
  if (rows.length === 0) {
    var tr = document.createElement("tr");
    var td = cell(emptyText, "empty");
    td.colSpan = columns;
    tr.appendChild(td);
    tbody.appendChild(tr);
    return;
  }
  rows.forEach(function (cells) {
    var tr = document.createElement("tr");
    cells.forEach(function (c) { tr.appendChild(c); });
    tbody.appendChild(tr);
  });
}

function render(o) {
  el("node").textContent = o.node + " · up " + fmtDuration(o.uptimeSeconds);
  el("state").textContent = o.ready ? "ready" : "not ready";
  el("state").className = o.ready ? "ready" : "down";
  el("process").textContent = "RSS " + fmtBytes(o.process.rssBytes);

  var rate = { received: 0, stored: 0, bytes: 0, forwarded: null };
  if (previous !== null && o.time > previous.time) {
    var dt = (o.time - previous.time) / 1000;
    rate.received = Math.max(0, o.mqtt.publishesReceived - previous.mqtt.publishesReceived) / dt;
    rate.stored = Math.max(0, o.mqtt.publishesStored - previous.mqtt.publishesStored) / dt;
    rate.bytes = Math.max(0, o.mqtt.bytesReceived - previous.mqtt.bytesReceived) / dt;
    if (o.upstream && previous.upstream) rate.forwarded = Math.max(0, o.upstream.recordsForwarded - previous.upstream.recordsForwarded) / dt;
  }
  samples = o.throughput.slice(-HISTORY).map(function (s) { return s.publishesPerSecond; });
  previous = o;
  el("rate-received").textContent = fmtRate(rate.received);
  el("total-received").textContent = fmtInt(o.mqtt.publishesReceived) + " since start";
  el("rate-stored").textContent = fmtRate(rate.stored);
  el("total-stored").textContent = fmtInt(o.mqtt.publishesStored) + " stored";
  el("rate-bytes").textContent = fmtBytes(rate.bytes) + "/s";
  el("total-bytes").textContent = fmtBytes(o.mqtt.bytesReceived) + " payload since start";
  el("connections").textContent = fmtInt(o.mqtt.connections);
  el("refused").textContent = count(o.mqtt.refused, "refused publish", "refused publishes") + " · " + count(o.mqtt.connectionsRefused, "refused connection", "refused connections");

  var partitions = [];
  o.log.topics.forEach(function (t) {
    t.partitions.forEach(function (p) {
      partitions.push([cell(t.name), cell(String(p.partition), "num"), cell(fmtInt(p.logStartOffset), "num"), cell(fmtInt(p.logEndOffset), "num"),
        cell(fmtInt(p.logEndOffset - p.logStartOffset), "num"), cell(fmtBytes(p.bytes), "num")]);
    });
  });
  fillRows(el("partitions"), partitions, 6, "no topics");
  var d = o.log.disk;
  el("disk-used").textContent = fmtBytes(d.usedBytes) + (d.maxBytes !== null ? " of " + fmtBytes(d.maxBytes) : "");
  el("disk-budget").textContent = (d.holding ? "budget reached: appends held; " : "") + fmtBytes(d.freeBytes) + " free" +
    (d.minFreeBytes !== null ? " (keeps " + fmtBytes(d.minFreeBytes) + ")" : "") + (d.reclaimedBytes > 0 ? "; " + fmtBytes(d.reclaimedBytes) + " forwarded data deleted early" : "");

  if (o.upstream === null) {
    el("upstream-lag").textContent = "off";
    el("upstream-rate").textContent = "no Kafka configured";
    fillRows(el("upstream"), [], 6, "upstream is off");
  } else {
    var lag = o.upstream.partitions.reduce(function (a, p) { return a + p.lag; }, 0);
    el("upstream-lag").textContent = fmtInt(lag);
    el("upstream-rate").textContent = (o.upstream.connected ? "connected" : "disconnected") + (rate.forwarded === null ? "" : " · " + fmtRate(rate.forwarded) + " records/s");
    fillRows(el("upstream"), o.upstream.partitions.map(function (p) {
      return [cell(p.topic), cell(String(p.partition), "num"), cell(fmtInt(p.forwardedOffset), "num"), cell(fmtInt(p.highWatermark), "num"),
        cell(fmtInt(p.lag), "num"), cell(p.lastError || "", p.lastError ? "err" : "")];
    }), 6, "no partitions");
  }

  el("corrupt-count").textContent = o.log.corruptBatches > 0 ? "(" + fmtInt(o.log.corruptBatches) + " met by reads; never served)" : "";
  fillRows(el("corrupt"), o.log.corrupt.map(function (c) {
    return [cell(new Date(c.firstSeen).toLocaleTimeString()), cell(c.topic), cell(String(c.partition), "num"), cell(fmtInt(c.fromOffset) + "–" + fmtInt(c.toOffset), "num"), cell(c.reason, "err")];
  }), 5, "none");
  fillRows(el("errors"), o.errors.map(function (e) {
    return [cell(new Date(e.lastAt).toLocaleTimeString()), cell(e.component), cell(e.summary, "err"), cell(fmtInt(e.count), "num"), cell(e.detail)];
  }), 5, "none");
  drawChart();
}

function drawChart() {
  var canvas = el("chart");
  // Drawn at the element's own size and the screen's pixel ratio, so text and lines stay crisp.
  var ratio = window.devicePixelRatio || 1;
  var w = canvas.clientWidth, h = canvas.clientHeight;
  canvas.width = Math.round(w * ratio);
  canvas.height = Math.round(h * ratio);
  canvas.setAttribute("data-points", String(samples.length));
  var ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, w, h);
  var max = Math.max.apply(null, samples.concat([1]));
  ctx.strokeStyle = "#e3e6ec";
  ctx.beginPath(); ctx.moveTo(0, h - 0.5); ctx.lineTo(w, h - 0.5); ctx.stroke();
  ctx.fillStyle = "#6b7385";
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillText(fmtRate(max) + " /s", 4, 12);
  if (samples.length < 2) return;
  var step = w / (HISTORY - 1);
  var x0 = w - (samples.length - 1) * step;
  ctx.strokeStyle = "#1f6feb";
  ctx.lineWidth = 2;
  ctx.beginPath();
  samples.forEach(function (v, i) {
    var x = x0 + i * step, y = h - 2 - (v / max) * (h - 20);
    if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
  });
  ctx.stroke();
}

function poll() {
  var headers = {};
  var token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.authorization = "Bearer " + token;
  fetch("api/overview", { headers: headers, cache: "no-store" }).then(function (res) {
    if (res.status === 401) {
      el("login").className = "tile shown";
      el("state").textContent = "token needed";
      el("state").className = "down";
      return null;
    }
    if (!res.ok) throw new Error("HTTP " + res.status);
    el("login").className = "tile";
    return res.json();
  }).then(function (o) {
    if (o) render(o);
  }).catch(function () {
    el("state").textContent = "unreachable";
    el("state").className = "down";
  }).finally(function () {
    setTimeout(poll, 1000);
  });
}

el("login").addEventListener("submit", function (event) {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, el("token").value);
  el("token").value = "";
});
poll();
</script>
</body>
</html>
`;
