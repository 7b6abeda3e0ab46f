// The roster (GET /api/roster, CONTRACT "Roster"): one row per roster vessel heard, with its state,
// where it is, how far from the strait's exit and its nearest safe haven. Clicking a row selects the
// vessel on the map.
import { fmtDateTime, fmtNum, fmtVoyage } from "../ui.js";
import { createEndpointPanel, table } from "./endpoint.js";

// The rows, whether the endpoint answers with a list or wraps it in an object.
function rowsOf(data) {
  if (Array.isArray(data)) return data;
  for (const key of ["roster", "vessels", "rows"]) if (Array.isArray(data?.[key])) return data[key];
  return [];
}

export function createRosterPanel(ctx) {
  return createEndpointPanel({
    id: "roster",
    title: "Roster",
    path: "/api/roster",
    render: (data) => {
      const rows = rowsOf(data);
      const content = table(rows, [
        ["Vessel", (r) => `${r.name || "(no name)"}${r.flag ? ` · ${r.flag}` : ""}`],
        ["State", (r) => String(r.state || "").replaceAll("_", " ")],
        ["Zone", (r) => (typeof r.zone === "object" && r.zone ? r.zone.name || r.zone.id : r.zone)],
        ["Exit nm", (r) => fmtNum(r.distance_to_exit_nm), "num"],
        ["ETA exit", (r) => (r.eta_exit ? fmtDateTime(r.eta_exit) : null)],
        ["Safe haven", (r) => (r.nearest_safe_haven ? `${r.nearest_safe_haven.name} (${fmtNum(r.nearest_safe_haven.distance_nm)} nm)` : null)],
        ["Voyage", (r) => fmtVoyage(r.voyage, ctx.model.zoneNames)],
        ["Crew", (r) => r.crew],
        ["Alerts", (r) => (Array.isArray(r.open_alerts) ? r.open_alerts.length : r.open_alerts), "num"],
        ["Last seen", (r) => fmtDateTime(r.last_seen)],
      ], (r) => {
        if (r.mmsi !== null && r.mmsi !== undefined) {
          ctx.model.select(r.mmsi);
          ctx.view.panToVessel(r.mmsi);
        }
      });
      return { content, count: rows.length };
    },
  });
}
