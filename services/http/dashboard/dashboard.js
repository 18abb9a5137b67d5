// kretslopp dashboard: plain JavaScript, no library, nothing from another origin.
// Every value from an event (supplier, org unit, category names) goes into the page with
// textContent or as an SVG text node, never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const store = window.sessionStorage;

const DEFINITIONS = {
  lifespan_mean_years: "Mean years from purchase to end of use (first take-back or recycling), of devices whose use ended in the period.",
  lifespan_median_years: "Median of the same lifespans.",
  taken_back_share: "Devices taken back / devices whose use ended in the period (taken back + recycled directly).",
  internal_reuse_share: "Devices that had a second internal user (a new org unit) before their use ended / devices whose use ended in the period. No separate saving: it counts through the longer life.",
  certification_share: "Purchases in the period with a recognised sustainability certificate valid on the purchase date (UTC) / purchases.",
  refurbished_purchase_share: "Purchases of refurbished devices / purchases in the period.",
  savings_longer_life_kg_co2e: "Avoided embodied emissions from using devices longer than the baseline lifespan.",
  savings_reuse_after_take_back_kg_co2e: "Avoided emissions of taken-back devices given a second life, times the displacement rate.",
  savings_refurbished_purchase_kg_co2e: "Avoided emissions of buying refurbished instead of new, net of refurbishment.",
  savings_primary_data_share: "Share of saving rows computed from supplier (primary) data rather than the default factor table.",
};

const TILES = [
  ["lifespan_mean_years", "Mean lifespan", "years", 2],
  ["lifespan_median_years", "Median lifespan", "years", 2],
  ["taken_back_share", "Take-back share", "%", 1],
  ["internal_reuse_share", "Internal re-use", "%", 1],
  ["certification_share", "Certification share", "%", 1],
  ["refurbished_purchase_share", "Refurbished purchases", "%", 1],
  ["savings_longer_life_kg_co2e", "Avoided: longer life", "t CO2e", 2],
  ["savings_reuse_after_take_back_kg_co2e", "Avoided: reuse after take-back", "t CO2e", 2],
  ["savings_refurbished_purchase_kg_co2e", "Avoided: refurbished purchases", "t CO2e", 2],
  ["savings_primary_data_share", "Primary-data share", "%", 1],
];

let session = null;        // {tenant, key}
let state = {};            // the last data shown
let stream = null;         // AbortController of the live stream
let lastEventId = null;

function format(value, unit, digits) {
  if (value === null || value === undefined) return "n/a";
  if (unit === "%") return (value * 100).toFixed(digits) + " %";
  if (unit === "t CO2e") return (value / 1000).toLocaleString("en", { maximumFractionDigits: digits }) + " t CO2e";
  return value.toFixed(digits) + " " + unit;
}

function monthString(date) {
  return date.toISOString().slice(0, 7);
}

function shiftMonths(month, delta) {
  const [y, m] = month.split("-").map(Number);
  return monthString(new Date(Date.UTC(y, m - 1 + delta, 1)));
}

function monthsBetween(from, to) {
  const [fy, fm] = from.split("-").map(Number);
  const [ty, tm] = to.split("-").map(Number);
  return (ty - fy) * 12 + (tm - fm) + 1;
}

async function api(path) {
  const response = await fetch(`/v1/tenants/${encodeURIComponent(session.tenant)}${path}`, {
    headers: { Authorization: `Bearer ${session.key}` },
    cache: "no-store",
  });
  if (response.status === 401 || response.status === 403) {
    const body = await response.json().catch(() => ({}));
    throw Object.assign(new Error(body.detail || "not allowed"), { auth: true });
  }
  if (!response.ok) throw new Error(`${response.status} on ${path}`);
  return response.json();
}

function filterQuery() {
  const q = new URLSearchParams({ from: $("from").value, to: $("to").value });
  for (const name of ["category", "supplier", "org_unit"]) {
    if ($(name).value) q.set(name, $(name).value);
  }
  return q;
}

async function load() {
  const q = filterQuery();
  const length = monthsBetween($("from").value, $("to").value);
  if (length < 1) { $("error").textContent = "To must not be before From."; return; }
  const prev = new URLSearchParams(q);
  prev.set("from", shiftMonths($("from").value, -length));
  prev.set("to", shiftMonths($("from").value, -1));
  const byMonth = new URLSearchParams(q); byMonth.append("group_by", "month");
  const bySupplier = new URLSearchParams(q); bySupplier.append("group_by", "supplier");
  const byOrgUnit = new URLSearchParams({ from: $("from").value, to: $("to").value });
  byOrgUnit.append("group_by", "org_unit");
  try {
    const period = new URLSearchParams({ from: $("from").value, to: $("to").value });
    const survivalQuery = new URLSearchParams();
    if ($("category").value) survivalQuery.set("category", $("category").value);
    if ($("supplier").value) survivalQuery.set("supplier", $("supplier").value);
    const [now, before, months, suppliers, orgUnits, fleet, status, survival, offers, market] =
      await Promise.all([
        api(`/kpis?${q}`), api(`/kpis?${prev}`), api(`/kpis?${byMonth}`),
        api(`/kpis?${bySupplier}`), api(`/kpis?${byOrgUnit}`), api("/fleet"), api("/status"),
        api(`/lifespan/survival?${survivalQuery}`), api("/offers"), api(`/offers/kpis?${period}`),
      ]);
    state = { now, before, months, suppliers, orgUnits, fleet, status, survival, offers, market };
    $("error").textContent = "";
    render();
    $("changed").textContent = "updated " + new Date().toLocaleTimeString();
    $("changed").dataset.at = String(Date.now());
  } catch (error) {
    if (error.auth) { signOut(error.message); return; }
    $("error").textContent = "Could not load: " + error.message;
  }
}

function kpisOf(report) {
  return report.slices.length ? report.slices[0].kpis : null;
}

function render() {
  const { now, before, months, suppliers, orgUnits, fleet, status, survival, offers, market } = state;
  $("factor-source").textContent = `factors: ${now.factor_source} ${now.factor_version}`;
  renderTiles(kpisOf(now), kpisOf(before), fleet, now);
  renderOps(status);
  renderTrend(months);
  renderFleetAge(fleet);
  renderRoutes(kpisOf(now));
  renderSuppliers(suppliers);
  renderSurvival(survival);
  renderMarketplace(offers, market);
  fillOptions("category", Object.keys(fleet.by_category).filter((c) => c));
  fillOptions("supplier", suppliers.slices.map((s) => s.dimensions.supplier));
  fillOptions("org_unit", orgUnits.slices.map((s) => s.dimensions.org_unit));
}

function fillOptions(id, values) {
  const select = $(id);
  const chosen = select.value;
  const known = new Set([...select.options].map((o) => o.value));
  for (const value of values.sort()) {
    if (value && !known.has(value)) {
      const option = document.createElement("option");
      option.value = value;
      option.textContent = value;
      select.appendChild(option);
    }
  }
  select.value = chosen;
}

function tile(id, label, text, previousText, definition, compact = false) {
  const div = document.createElement("div");
  div.className = "tile";
  div.dataset.kpi = id;
  const h = document.createElement("h3"); h.textContent = label;
  const v = document.createElement("p"); v.className = compact ? "value compact" : "value"; v.textContent = text;
  const p = document.createElement("p"); p.className = "muted previous"; p.textContent = previousText;
  const d = document.createElement("details");
  const s = document.createElement("summary"); s.textContent = "definition";
  const t = document.createElement("p"); t.textContent = definition;
  d.append(s, t);
  div.append(h, v, p, d);
  return div;
}

function renderTiles(now, before, fleet, report) {
  const tiles = $("tiles");
  tiles.replaceChildren();
  for (const [id, label, unit, digits] of TILES) {
    const value = now ? now[id] : null;
    const previous = before ? before[id] : null;
    let definition = DEFINITIONS[id];
    if (id.startsWith("savings_")) definition += ` Factor table: ${report.factor_source} ${report.factor_version}. Never summed into one net figure.`;
    tiles.appendChild(tile(id, label, format(value, unit, digits), "previous period: " + format(previous, unit, digits), definition));
  }
  const targets = Object.entries(fleet.target_lifespan_years).map(([c, y]) => `${c} ${y} y`).join(", ");
  tiles.appendChild(tile("target_lifespan", "Target lifespan", targets || "n/a",
    `past target now: ${format(fleet.past_target_lifespan_share, "%", 1)}`,
    "The tenant's target lifespan per category (tenant settings); share of active devices older than it.", true));
  const schemes = now ? Object.entries(now.certification_share_by_scheme) : [];
  tiles.appendChild(tile("certification_by_scheme", "Certification by scheme",
    schemes.map(([s, v]) => `${s} ${format(v, "%", 0)}`).join(" · ") || "n/a", "",
    "Purchases certified on the purchase date, per certification scheme.", true));
}

function renderOps(status) {
  const ops = $("ops");
  ops.replaceChildren();
  const age = status.last_recorded_at ? (Date.now() - Date.parse(status.last_recorded_at)) / 1000 : null;
  const rows = [
    ["events applied, last minute", String(status.events_applied_last_minute)],
    ["freshness (age of the last applied event)", age === null ? "n/a" : `${age.toFixed(0)} s`],
    ["consumer lag per partition", Object.entries(status.pipeline_lag_by_partition).map(([p, n]) => `p${p}: ${n}`).join("  ") || "n/a"],
    ["dead letters waiting", Object.entries(status.dead_letters_by_reason).map(([r, n]) => `${r}: ${n}`).join(", ") || "none"],
  ];
  for (const [label, value] of rows) {
    const dt = document.createElement("dt"); dt.textContent = label;
    const dd = document.createElement("dd"); dd.textContent = value;
    ops.append(dt, dd);
  }
}

function svg(width, height) {
  const s = document.createElementNS(SVG, "svg");
  s.setAttribute("viewBox", `0 0 ${width} ${height}`);
  s.setAttribute("role", "img");
  return s;
}

function add(parent, name, attributes, text) {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attributes)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  parent.appendChild(node);
  return node;
}

function renderTrend(report) {
  const series = [
    ["taken_back_share", "take-back share", "#1b7f5f"],
    ["certification_share", "certification share", "#3366cc"],
    ["refurbished_purchase_share", "refurbished purchases", "#b35900"],
  ];
  const points = report.slices.map((s) => [s.dimensions.month, s.kpis]).sort();
  const w = 520, h = 220, left = 40, bottom = 30;
  const chart = svg(w, h);
  add(chart, "line", { x1: left, y1: h - bottom, x2: w - 10, y2: h - bottom, class: "axis" });
  for (const tick of [0, 0.5, 1]) {
    const y = h - bottom - tick * (h - bottom - 10);
    add(chart, "text", { x: 2, y: y + 4, class: "tick" }, `${tick * 100}%`);
  }
  const x = (i) => left + (points.length < 2 ? 0 : (i * (w - left - 20)) / (points.length - 1));
  series.forEach(([id, label, colour], n) => {
    const coords = points.map(([, k], i) => (k[id] === null ? null : [x(i), h - bottom - k[id] * (h - bottom - 10)]))
      .filter((c) => c !== null);
    if (coords.length) add(chart, "polyline", { points: coords.map((c) => c.join(",")).join(" "), stroke: colour, class: "series" });
    add(chart, "text", { x: left + n * 160, y: h - 5, fill: colour, class: "legend" }, label);
  });
  if (points.length) {
    add(chart, "text", { x: left, y: h - bottom + 14, class: "tick" }, points[0][0]);
    add(chart, "text", { x: w - 60, y: h - bottom + 14, class: "tick" }, points[points.length - 1][0]);
  }
  $("trend").replaceChildren(chart);
}

function bars(rows, max, unit) {
  const w = 520, rowHeight = 26, h = rows.length * rowHeight + 10, left = 150;
  const chart = svg(w, Math.max(h, 40));
  rows.forEach(([label, value, marker], i) => {
    const y = 5 + i * rowHeight;
    add(chart, "text", { x: 0, y: y + 15, class: "label" }, label);
    const width = max > 0 && value !== null ? (value / max) * (w - left - 80) : 0;
    add(chart, "rect", { x: left, y, width, height: 18, class: "bar" });
    add(chart, "text", { x: left + width + 4, y: y + 15, class: "tick" }, value === null ? "n/a" : `${value.toFixed(unit === "" ? 0 : 1)}${unit}`);
    if (marker !== undefined && max > 0) {
      const mx = left + (marker / max) * (w - left - 80);
      add(chart, "line", { x1: mx, y1: y - 2, x2: mx, y2: y + 20, class: "target" });
    }
  });
  return chart;
}

function renderFleetAge(fleet) {
  const rows = Object.entries(fleet.by_category).map(([category, f]) => [
    category || "(unknown)", f.average_age_years, fleet.target_lifespan_years[category],
  ]);
  const max = Math.max(1, ...rows.map((r) => Math.max(r[1] || 0, r[2] || 0)));
  const chart = bars(rows, max, " y");
  $("fleet-age").replaceChildren(chart);
  const note = document.createElement("p"); note.className = "muted";
  note.textContent = "bar: average age of active devices; line: target lifespan";
  $("fleet-age").appendChild(note);
}

function renderRoutes(kpis) {
  const c = kpis ? kpis.ended_by_channel : {};
  const rows = [
    ["reuse", (c.taken_back_resale || 0) + (c.taken_back_donation || 0)],
    ["preparation for reuse", c.taken_back_refurbishment || 0],
    ["recycling", (c.taken_back_recycling || 0) + (c.recycled_directly || 0)],
    ["disposal", 0],
  ];
  $("routes").replaceChildren(bars(rows, Math.max(1, ...rows.map((r) => r[1])), ""));
}

// S(t) as a step line with its 95 % band, the median and the target lifespan marked.
function renderSurvival(report) {
  const w = 520, h = 220, left = 40, bottom = 30;
  const chart = svg(w, h);
  const steps = report.curve;
  const maxYears = Math.max(1, report.target_years || 0, ...report.by_year.map((r) => r.year));
  const x = (t) => left + (t / maxYears) * (w - left - 20);
  const y = (s) => h - bottom - s * (h - bottom - 10);
  add(chart, "line", { x1: left, y1: h - bottom, x2: w - 10, y2: h - bottom, class: "axis" });
  for (const tick of [0, 0.5, 1]) add(chart, "text", { x: 2, y: y(tick) + 4, class: "tick" }, `${tick * 100}%`);
  for (let t = 0; t <= maxYears; t += Math.max(1, Math.round(maxYears / 8))) {
    add(chart, "text", { x: x(t) - 4, y: h - bottom + 14, class: "tick" }, `${t} y`);
  }
  const line = (key) => {
    let previous = 1, points = [[x(0), y(1)]];
    for (const step of steps) {
      points.push([x(step.years), y(previous)], [x(step.years), y(step[key])]);
      previous = step[key];
    }
    points.push([x(maxYears), y(previous)]);
    return points.map((p) => p.join(",")).join(" ");
  };
  add(chart, "polyline", { points: line("ci_lower"), class: "survival-band" });
  add(chart, "polyline", { points: line("ci_upper"), class: "survival-band" });
  add(chart, "polyline", { points: line("survival"), class: "survival-line" });
  if (report.target_years) {
    add(chart, "line", { x1: x(report.target_years), y1: 10, x2: x(report.target_years), y2: h - bottom, class: "target" });
  }
  const median = report.median_years === null ? "not reached" : `${report.median_years.toFixed(1)} y`;
  const reach = report.reached_target_share === null ? "" :
    ` · reaching the ${report.target_years} y target: ${format(report.reached_target_share, "%", 0)}`;
  add(chart, "text", { x: left, y: h - 5, class: "legend" },
    `median survival ${median}${reach} · ${report.assets} devices, ${report.censored} still in use`);
  $("survival").replaceChildren(chart);
}

function fact(list, label, text) {
  const dt = document.createElement("dt"); dt.textContent = label;
  const dd = document.createElement("dd"); dd.textContent = text;
  list.append(dt, dd);
}

function renderMarketplace(offers, market) {
  const list = $("marketplace-kpis");
  list.replaceChildren();
  const then = market.expired_unused_devices_now;
  fact(list, "open offers now", String(market.offers_open_now));
  fact(list, "handed over in the period", String(market.offers_handed_over));
  fact(list, "median days on offer", market.median_days_on_offer === null ? "n/a" : market.median_days_on_offer.toFixed(1));
  fact(list, "expired unused", `${market.offers_expired_unused} (now: ${then.in_use} in use, ${then.taken_back} taken back, ${then.refurbished} refurbished, ${then.recycled} recycled)`);
  fact(list, "internal re-use share", format(market.internal_reuse_share, "%", 1));
  const body = $("offers").tBodies[0];
  body.replaceChildren();
  const shown = 10;
  $("offers-more").textContent = offers.offers.length > shown
    ? `${offers.offers.length - shown} more: GET /v1/tenants/{tenant}/offers or kretslopp offers list` : "";
  for (const o of offers.offers.slice(0, shown)) {
    const tr = document.createElement("tr");
    const status = o.holder_org_unit ? `reserved by ${o.holder_org_unit}` : o.status;
    for (const text of [o.asset_id, o.category || "?", o.age_years === null ? "?" : `${o.age_years.toFixed(1)} y`,
      o.condition, o.org_unit, o.days_on_offer.toFixed(0), status]) {
      const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

const SUPPLIER_COLUMNS = [
  ["supplier", "supplier", null],
  ["purchases", "purchases", ""],
  ["certification_share", "certified", "%"],
  ["refurbished_purchase_share", "refurbished", "%"],
  ["lifespan_mean_years", "mean lifespan", "years"],
  ["taken_back_share", "take-back", "%"],
  ["savings_longer_life_kg_co2e", "avoided, longer life", "t CO2e"],
];
let sortBy = ["purchases", -1];

function renderSuppliers(report) {
  const head = document.createElement("tr");
  for (const [id, label] of SUPPLIER_COLUMNS) {
    const th = document.createElement("th");
    th.textContent = label + (sortBy[0] === id ? (sortBy[1] > 0 ? " ▲" : " ▼") : "");
    th.dataset.column = id;
    th.addEventListener("click", () => {
      sortBy = [id, sortBy[0] === id ? -sortBy[1] : -1];
      renderSuppliers(report);
    });
    head.appendChild(th);
  }
  $("suppliers").tHead.replaceChildren(head);
  const value = (slice, id) => (id === "supplier" ? slice.dimensions.supplier : slice.kpis[id]);
  const rows = [...report.slices].sort((a, b) => {
    const x = value(a, sortBy[0]), y = value(b, sortBy[0]);
    if (x === y) return 0;
    if (x === null) return 1;
    if (y === null) return -1;
    return (x < y ? -1 : 1) * sortBy[1];
  });
  const body = $("suppliers").tBodies[0];
  body.replaceChildren();
  for (const slice of rows) {
    const tr = document.createElement("tr");
    for (const [id, , unit] of SUPPLIER_COLUMNS) {
      const td = document.createElement("td");
      const v = value(slice, id);
      td.textContent = unit === null ? v : unit === "" ? String(v) : format(v, unit, 1);
      tr.appendChild(td);
    }
    body.appendChild(tr);
  }
}

// Live: Server-Sent Events read with fetch, so the key travels in the Authorization header.
async function listen() {
  if (stream) stream.abort();
  stream = new AbortController();
  const controller = stream;
  while (!controller.signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${session.key}` };
      if (lastEventId) headers["Last-Event-ID"] = lastEventId;
      const response = await fetch(`/v1/tenants/${encodeURIComponent(session.tenant)}/stream`, {
        headers, signal: controller.signal, cache: "no-store",
      });
      if (response.status === 401 || response.status === 403) { signOut("key no longer valid"); return; }
      if (!response.ok || !response.body) throw new Error(String(response.status));
      setLive(true);
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          handleEvent(buffer.slice(0, end));
          buffer = buffer.slice(end + 2);
        }
      }
    } catch (error) {
      if (controller.signal.aborted) return;
    }
    setLive(false);
    await new Promise((resolve) => setTimeout(resolve, 1000)); // the API restarted: retry
  }
}

function handleEvent(text) {
  const fields = {};
  for (const line of text.split("\n")) {
    if (line.startsWith(":")) continue;
    const at = line.indexOf(":");
    if (at > 0) fields[line.slice(0, at)] = line.slice(at + 1).trim();
  }
  if (fields.id) lastEventId = fields.id;
  if (fields.event === "resync") { load(); return; }
  if (fields.event !== "changed") return;
  const change = JSON.parse(fields.data || "{}");
  const from = $("from").value, to = $("to").value;
  const relevant = change.months === null || change.months.some((m) => m >= shiftMonths(from, -monthsBetween(from, to)) && m <= to);
  if (relevant || change.applied > 0) load();
}

function setLive(on) {
  $("live").textContent = on ? "live" : "reconnecting";
  $("live").className = "live " + (on ? "on" : "off");
}

function signOut(message) {
  if (stream) stream.abort();
  store.removeItem("kretslopp.session");
  session = null;
  $("board").hidden = true;
  $("sign-in").hidden = false;
  $("sign-out").hidden = true;
  $("sign-in-error").textContent = message || "";
  setLive(false);
  $("live").textContent = "offline";
}

function start() {
  $("tenant-name").textContent = session.tenant;
  $("sign-in").hidden = true;
  $("board").hidden = false;
  $("sign-out").hidden = false;
  if (!$("to").value) {
    const to = monthString(new Date());
    $("to").value = to;
    $("from").value = shiftMonths(to, -11);
  }
  load();
  listen();
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in-form").addEventListener("submit", (event) => {
    event.preventDefault();
    session = { tenant: $("tenant").value.trim(), key: $("key").value.trim() };
    store.setItem("kretslopp.session", JSON.stringify(session));
    $("key").value = "";
    start();
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("filters").addEventListener("change", load);
  setInterval(() => {  // the freshness figure and "updated" age move between pushes too
    if (session && state.status) renderOps(state.status);
  }, 5000);
  const saved = store.getItem("kretslopp.session");
  if (saved) { session = JSON.parse(saved); start(); }
});
