// Widget Factory dashboard: renders server-sent snapshots; controls POST to the server,
// which validates them and produces the orders and commands to Kafka. Every control
// request is JSON and carries this run's token, which the server put in the page.
"use strict";

const TOKEN = document.querySelector('meta[name="widget-factory-token"]').content;

const $ = (id) => document.getElementById(id);
const tiles = new Map();
let widgetTypesFilled = false;

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function setText(id, value) {
  const node = $(id);
  const text = String(value);
  if (node && node.textContent !== text) node.textContent = text;
}

const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + "%");
const num = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en"));

function message(text, ok) {
  const node = $("control-message");
  node.textContent = text;
  node.className = "message " + (ok ? "ok" : "bad");
}

async function post(url, body) {
  try {
    const response = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Widget-Factory-Token": TOKEN },
      body: JSON.stringify(body || {}),
    });
    const data = await response.json();
    message(data.ok ? data.message : data.error, data.ok);
    return data;
  } catch (error) {
    message("the dashboard server did not answer: " + error, false);
    return { ok: false };
  }
}

function tile(machine) {
  let entry = tiles.get(machine.id);
  if (entry) return entry;
  const status = el("div", { class: "status" }, "–");
  const meta = el("div", { class: "meta" }, "");
  const oee = el("div", { class: "meta oee" }, "");
  const truth = el("div", { class: "meta true-oee" }, "");
  const fault = el("div", { class: "true-fault" }, "");
  const anomaly = el("button", { class: "danger", type: "button", "data-action": "anomaly" }, "anomaly");
  const toggle = el("button", { class: "secondary", type: "button", "data-action": "stop" }, "stop");
  anomaly.addEventListener("click", () => post(`/api/machines/${machine.id}/anomaly`));
  toggle.addEventListener("click", () =>
    post(`/api/machines/${machine.id}/${toggle.getAttribute("data-action")}`));
  const node = el(
    "div",
    { class: "machine unknown", "data-machine": machine.id },
    el("div", { class: "name" }, machine.id),
    status,
    meta,
    oee,
    truth,
    fault,
    el("div", { class: "actions" }, anomaly, toggle),
  );
  const group = machine.kind === "station" ? "Assembly" : "Building " + machine.location.building;
  let box = document.querySelector(`.building[data-group="${group}"] .machines`);
  if (!box) {
    const building = el("div", { class: "building", "data-group": group }, el("h3", {}, group));
    box = el("div", { class: "machines" });
    building.append(box);
    const floor = $("floor");
    const groups = [...floor.children].map((c) => c.getAttribute("data-group"));
    groups.push(group);
    groups.sort((a, b) => (a === "Assembly") - (b === "Assembly") || a.localeCompare(b));
    floor.insertBefore(building, floor.children[groups.indexOf(group)] || null);
  }
  box.append(node);
  entry = { node, status, meta, oee, truth, fault, toggle };
  tiles.set(machine.id, entry);
  return entry;
}

function renderFloor(machines) {
  for (const machine of machines) {
    const t = tile(machine);
    t.node.className = "machine " + machine.status;
    t.status.className = "status " + machine.status;
    t.status.textContent = machine.status;
    const made = machine.kind === "station" ? "widgets" : machine.makes || "made";
    const bits = [`${num(machine.made)} ${made}`];
    if (machine.temperature !== undefined) bits.push(`${machine.temperature} °C`);
    if (machine.efficiency !== undefined) bits.push(`eff ${machine.efficiency}%`);
    t.meta.textContent = bits.join(" · ");
    t.oee.textContent = machine.oee ? `OEE ${pct(machine.oee.oee)} (A ${pct(machine.oee.availability)}, P ${pct(machine.oee.performance)}, Q ${pct(machine.oee.quality)})` : "";
    const o = machine.true_oee;
    t.truth.textContent = o ? `true OEE ${pct(o.oee)} (A ${pct(o.availability)}, P ${pct(o.performance)}, Q ${pct(o.quality)})` : "";
    const f = machine.true_fault;
    const faultText = f ? `true fault: ${f.kind} (${f.cause}) since ${f.since.slice(11, 19)}` : "";
    if (t.fault.textContent !== faultText) t.fault.textContent = faultText;
    t.node.classList.toggle("in-fault", Boolean(f));
    const action = machine.status === "shutdown" ? "start" : "stop";
    if (t.toggle.getAttribute("data-action") !== action) {
      t.toggle.setAttribute("data-action", action);
      t.toggle.textContent = action;
    }
  }
}

function fillRows(tableId, rows) {
  const body = document.querySelector(`#${tableId} tbody`);
  body.replaceChildren(...rows.map((cells) => el("tr", {}, ...cells.map((c) => el("td", {}, c)))));
}

function progress(built, quantity) {
  const bar = el("span");
  bar.style.width = `${Math.round((100 * built) / Math.max(quantity, 1))}%`;
  return el("span", {}, el("span", { class: "progress" }, bar), ` ${built}/${quantity}`);
}

function renderStock(stock, kanban) {
  const max = Math.max(1, ...stock.map((s) => s.level));
  $("stock").replaceChildren(...stock.map((s) => {
    const bar = el("div", { class: "bar " + s.kind });
    bar.style.width = `${(100 * s.level) / max}%`;
    const k = s.kind === "component" ? kanban[s.sku] : undefined;
    const limits = k ? `${num(k.reorder)} / ${num(k.ceiling)}` : "";
    const low = k && s.level <= k.reorder ? " low" : "";
    return el("div", { class: "row" + low, "data-sku": s.sku }, el("span", {}, s.sku), el("div", {}, bar),
      el("span", { class: "n" }, num(s.level)), el("span", { class: "limits" }, limits));
  }));
}

function renderThroughput(perMinute) {
  const canvas = $("throughput");
  const ctx = canvas.getContext("2d");
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const max = Math.max(1, ...perMinute);
  const w = canvas.width / Math.max(perMinute.length, 1);
  ctx.fillStyle = "#2f6fdf";
  perMinute.forEach((n, i) => {
    const h = ((canvas.height - 2) * n) / max;
    ctx.fillRect(i * w, canvas.height - h, Math.max(1, w - 1), h);
  });
}

function render(s) {
  setText("sim-time", s.sim_time ? s.sim_time.replace("T", " ").slice(0, 19) + " UTC" : "–");
  setText("components-total", num(s.totals.components));
  setText("widgets-total", num(s.totals.widgets));
  setText("checks-total", num(s.totals.checks));
  setText("pass-rate", pct(s.totals.pass_rate));
  setText("orders-total", num(s.totals.orders));
  setText("orders-open", num(s.totals.open_orders));
  setText("units-open", num(s.totals.units_open));
  setText("machines-down", num(s.totals.down));
  setText("machines-error", num(s.totals.in_error));
  setText("machines-reporting", num(s.totals.reporting));
  setText("components-per-hour", num(s.throughput.components_per_hour));
  setText("widgets-per-hour", num(s.throughput.widgets_per_hour));
  renderThroughput(s.throughput.components_per_minute);
  renderFloor(s.machines);
  renderStock(s.stock, s.kanban || {});
  fillRows("orders", s.orders.map((o) => [o.order_id, o.widget_type, o.priority, progress(o.built, o.quantity)]));
  fillRows("quality", s.quality.map((q) => [q.widget_type, num(q.checks), pct(q.pass_rate), pct(q.recent_pass_rate)]));
  fillRows("quality-parts", s.quality_by_parts.map((q) => [q.components, num(q.checks), pct(q.pass_rate)]));
  fillRows("assembly", s.assembly.length ? s.assembly.map((a) => [a.widget_type, num(a.widgets), a.avg_s ?? "–", a.p95_s ?? "–"])
    : [["waiting for widget-factory analytics", "", "", ""]]);
  fillRows("lag", Object.entries(s.lag).map(([group, g]) => [
    group,
    g.active ? num(g.total) : "not started",
    Object.entries(g.topics).map(([t, n]) => `${t} ${n}`).join(", "),
  ]));
  $("alerts").replaceChildren(...s.alerts.map((a) =>
    el("li", { class: a.severity }, `${a.at.slice(11, 19)} ${a.message}`)));
  $("answer-key").replaceChildren(...(s.answer_key.length ? s.answer_key.map((f) => el(
    "li",
    { class: f.ended_at ? "ended" : "ongoing", "data-target": f.target, "data-kind": f.kind },
    `${f.started_at.slice(11, 19)} ${f.target} ${f.kind} (${f.cause}) `
      + (f.ended_at ? `ended ${f.ended_at.slice(11, 19)}${f.open_at_end ? " (run ended)" : ""}` : "ongoing"),
  )) : [el("li", { class: "none" }, "no fault yet")]));
  if (!widgetTypesFilled && s.quality.length) {
    widgetTypesFilled = true;
    $("order-type").replaceChildren(...s.quality.map((q) => el("option", { value: q.widget_type }, q.widget_type)));
  }
}

$("order-form").addEventListener("submit", (event) => {
  event.preventDefault();
  post("/api/orders", {
    widget_type: $("order-type").value,
    quantity: $("order-quantity").value,
    priority: $("order-priority").value,
  });
});

function connect() {
  const source = new EventSource("/api/events");
  source.onmessage = (event) => {
    const connection = $("connection");
    connection.textContent = "live";
    connection.className = "connection live";
    render(JSON.parse(event.data));
  };
  source.onerror = () => {
    const connection = $("connection");
    connection.textContent = "reconnecting…";
    connection.className = "connection lost";
  };
}

connect();
