// Traffic through the straits (GET /api/traffic): per strait and period, transits by direction and by
// class, laden and ballast tankers, against the baseline (CONTRACT "Traffic statistics"; the same
// shape as `stats --format json`). Ports and anchorages, when given, below.
import { fmtDateTime, fmtNum, h } from "../ui.js";
import { createEndpointPanel, table } from "./endpoint.js";

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
      const content = h("div", {},
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
