// GNSS interference areas (GET /api/interference: a GeoJSON FeatureCollection, each area's properties the
// alert's details with running counts): listed here and drawn on the map, hatched orange for jamming and
// magenta for spoofing, with the point spoofed positions converge on.
/* global L */
import { fmtDateTime, fmtNum, h } from "../ui.js";
import { createEndpointPanel, table } from "./endpoint.js";

const COLORS = { jamming: "#ff9f1a", spoofing: "#ff4dd2" };

export function createInterferencePanel(ctx) {
  const { view } = ctx;
  let layer = null;

  function draw(data) {
    if (layer) layer.remove();
    layer = null;
    const features = Array.isArray(data?.features) ? data.features : [];
    if (!features.length) return;
    layer = L.geoJSON({ type: "FeatureCollection", features }, {
      renderer: view.renderers.areas,
      interactive: false,
      style: (f) => ({ color: COLORS[f.properties?.type] || "#ff9f1a", weight: 2, dashArray: "4 3",
        fillOpacity: 0.18, interactive: false }),
      pointToLayer: (f, latlng) => L.circleMarker(latlng, { renderer: view.renderers.areas, radius: 6 }),
    }).addTo(view.map);
    for (const f of features) {
      const t = f.properties?.target;
      if (t && typeof t.lat === "number") {
        L.circleMarker([t.lat, t.lon], { renderer: view.renderers.areas, radius: 5, color: COLORS.spoofing,
          weight: 2, fillOpacity: 0.6, interactive: false }).addTo(layer);
      }
    }
  }

  const panel = createEndpointPanel({
    id: "interference",
    title: "Interference",
    path: "/api/interference",
    onData: draw,
    render: (data) => {
      const areas = (Array.isArray(data?.features) ? data.features : []).map((f) => ({ ...f.properties, _f: f }));
      if (!areas.length) return { content: h("div", { class: "empty" }, "No active interference area."), count: 0 };
      const content = table(areas, [
        ["Area", (a) => a.area_id],
        ["Type", (a) => a.type],
        ["Affected", (a) => `${a.vessels_affected ?? "?"} / ${a.vessels_heard ?? "?"}`, "num"],
        ["Ratio", (a) => fmtNum(a.ratio, 2), "num"],
        ["Target", (a) => (a.target ? `${fmtNum(a.target.lat, 3)}, ${fmtNum(a.target.lon, 3)}` : "")],
        ["Since", (a) => fmtDateTime(a.started)],
      ], (a) => view.map.fitBounds(L.geoJSON(a._f).getBounds().pad(0.5)));
      return { content, count: areas.length };
    },
  });
  // A new or cleared area: refresh at once rather than at the next poll.
  ctx.model.on("alerts", (added) => {
    if (added.some((a) => a.kind === "interference" || a.kind === "interference_cleared")) panel.refresh();
  });
  return panel;
}
