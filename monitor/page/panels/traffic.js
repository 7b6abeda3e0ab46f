// Traffic through the straits (GET /api/traffic): per strait and period, transits by direction and by
// class, laden and ballast tankers, against the baseline (CONTRACT "Traffic statistics"; the same
// shape as `stats --format json`). Ports and anchorages, when given, below.
import { CLASSES } from "../model.js";
import { fmtDateTime, fmtNum, h } from "../ui.js";
import { createEndpointPanel, table } from "./endpoint.js";

// Bar colours by class (SVG presentation attributes: the page's Content-Security-Policy allows no inline
// style, and no chart library is vendored for one chart).
const CLASS_COLORS = { tanker: "#e07a1f", cargo: "#3a86ff", passenger: "#8ac926", other: "#9d8df1", unknown: "#8d99ae" };
const CHART_PERIODS = 14; // the last two weeks of days (or hours)
const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) if (value !== null && value !== undefined) el.setAttribute(key, String(value));
  for (const child of children) if (child) el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  return el;
}

// A strait's periods as stacked bars of transits by class, oldest left, with its baseline as a line
// (where there is one): the desk sees at a glance whether today is below its usual traffic.
function chart(id, rows, label) {
  const shown = rows.slice(-CHART_PERIODS);
  const W = 320, H = 140, left = 26, bottom = 18, top = 8;
  const top_value = Math.max(1, ...shown.map((r) => Math.max(r.transits || 0, r.baseline || 0)));
  const y = (v) => H - bottom - (v / top_value) * (H - bottom - top);
  const step = (W - left) / Math.max(shown.length, 1);
  const bars = [];
  const baseline = [];
  shown.forEach((r, i) => {
    const x = left + i * step + step * 0.15;
    let sum = 0;
    for (const [cls] of CLASSES) {
      const n = r.by_class?.[cls] || 0;
      if (!n) continue;
      bars.push(s("rect", { x: x.toFixed(1), y: y(sum + n).toFixed(1), width: (step * 0.7).toFixed(1),
        height: (y(sum) - y(sum + n)).toFixed(1), fill: CLASS_COLORS[cls], "data-class": cls },
      s("title", {}, `${fmtDateTime(r.start)} ${cls}: ${n}`)));
      sum += n;
    }
    if (typeof r.baseline === "number") baseline.push(`${(left + (i + 0.5) * step).toFixed(1)},${y(r.baseline).toFixed(1)}`);
  });
  const first = shown[0]?.start?.slice(5, 10) || "";
  const last = shown[shown.length - 1]?.start?.slice(5, 10) || "";
  return h("div", { class: "traffic-chart", "data-chart": id },
    h("div", { class: "section-title" }, label),
    s("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img", "aria-label": `${label}: transits by class against the baseline` },
      s("line", { x1: left, y1: H - bottom, x2: W, y2: H - bottom, stroke: "#888" }),
      s("text", { x: 2, y: top + 8, fill: "#aaa", "font-size": 9 }, String(top_value)),
      s("text", { x: 2, y: H - bottom, fill: "#aaa", "font-size": 9 }, "0"),
      ...bars,
      baseline.length ? s("polyline", { points: baseline.join(" "), fill: "none", stroke: "#ff4d6d", "stroke-width": 1.5,
        "stroke-dasharray": "4 2", "data-baseline": "1" }) : null,
      s("text", { x: left, y: H - 4, fill: "#aaa", "font-size": 9 }, first),
      s("text", { x: W - 30, y: H - 4, fill: "#aaa", "font-size": 9 }, last)),
    h("div", { class: "legend" },
      CLASSES.map(([cls]) => h("span", {}, s("svg", { width: 10, height: 10 }, s("rect", { width: 10, height: 10, fill: CLASS_COLORS[cls] })), ` ${cls}  `)),
      h("span", {}, s("svg", { width: 14, height: 10 }, s("line", { x1: 0, y1: 5, x2: 14, y2: 5, stroke: "#ff4d6d", "stroke-width": 1.5,
        "stroke-dasharray": "4 2" })), " baseline")));
}

function periods(byId) {
  // {id: [period, ...]} or {id: {current, previous}}: newest first either way.
  const out = [];
  for (const [id, value] of Object.entries(byId || {})) {
    const list = Array.isArray(value) ? value : [value?.current, value?.previous].filter(Boolean);
    for (const p of list) out.push({ id, ...p });
  }
  return out.sort((a, b) => String(b.start).localeCompare(String(a.start)));
}

export function createTrafficPanel(ctx) {
  const name = (id) => ctx.model.zoneNames.get(id) || id;
  const panel = createEndpointPanel({
    id: "traffic",
    title: "Traffic",
    path: "/api/traffic",
    pollMs: 30000,
    render: (data) => {
      const straits = periods(data?.straits);
      const ports = periods(data?.ports).concat(periods(data?.anchorages));
      const charts = Object.entries(data?.straits || {})
        .filter(([, rows]) => Array.isArray(rows) && rows.length)
        .map(([id, rows]) => chart(id, rows, `${name(id)}: transits per ${data?.period || "period"}`));
      const content = h("div", {},
        ...charts,
        h("div", { class: "section-title" }, `Transits per ${data?.period || "period"}`),
        straits.length ? table(straits, [
          ["Strait", (r) => name(r.id)],
          ["Start", (r) => fmtDateTime(r.start)],
          ["Total", (r) => r.transits, "num"],
          ["In / out", (r) => `${r.by_direction?.inbound ?? "–"} / ${r.by_direction?.outbound ?? "–"}`, "num"],
          ["Tankers L/B", (r) => `${r.tankers?.laden ?? "–"} / ${r.tankers?.ballast ?? "–"}`, "num"],
          ["Baseline", (r) => fmtNum(r.baseline), "num"],
          ["Ratio", (r) => fmtNum(r.ratio, 2), "num"],
        ]) : h("div", { class: "empty" }, "No transit counted yet."),
        ports.length ? h("div", { class: "section-title" }, "Port calls") : null,
        ports.length ? table(ports, [
          ["Port / anchorage", (r) => name(r.id)],
          ["Start", (r) => fmtDateTime(r.start)],
          ["Calls", (r) => r.port_calls, "num"],
          ["Waiting max", (r) => r.waiting_max, "num"],
        ]) : null);
      return { content, count: straits.length ? straits[0].transits : 0 };
    },
  });
  ctx.model.on("alerts", (added) => {
    if (added.some((a) => a.kind === "transit" || a.kind === "traffic_drop" || a.kind === "traffic_recovery")) panel.refresh();
  });
  return panel;
}
