// The selected vessel: its details (GET /api/vessels/{mmsi} adds draught, destination and the detectors'
// running episodes to the list fields), its last alerts, and its track on the map.
//
// The track: the daemon's recent track of the vessel (GET /api/vessels/{mmsi}/track: a fix a minute, the
// last hour by default), with the positions of its alerts and those the page's own polls have seen since
// (model.trackOf).
import { getJson } from "../api.js";
import { STATES } from "../model.js";
import { fmtDateTime, fmtLatLon, fmtNum, fmtVoyage, h, kindLabel, oncePerFrame } from "../ui.js";

const LAST_ALERTS = 10;

export function createDetails(ctx) {
  const { model } = ctx;
  const card = document.getElementById("details");
  let detail = null; // the /api/vessels/{mmsi} answer for the selected vessel

  async function load(mmsi) {
    detail = null;
    try {
      const [d, t] = await Promise.all([getJson(`/api/vessels/${mmsi}`), getJson(`/api/vessels/${mmsi}/track`)]);
      if (model.selected === mmsi) detail = d;
      model.addTrack(mmsi, t.track);
    } catch (exc) {
      if (exc.status !== 404) console.warn("vessel detail failed", exc); // 404: forgotten meanwhile
    }
    schedule();
  }

  const schedule = oncePerFrame(() => render());

  function render() {
    const mmsi = model.selected;
    if (mmsi === null) {
      card.hidden = true;
      return;
    }
    const v = { ...(model.vessels.get(mmsi) || { mmsi }), ...(detail || {}) };
    const state = model.vessels.get(mmsi)?.state;
    const s = STATES[state];
    const zones = (v.zones || []).map((id) => model.zoneNames.get(id) || id);
    const rows = [
      ["MMSI", v.mmsi], ["IMO", v.imo], ["Call sign", v.callsign], ["Flag", v.flag],
      ["Ship type", v.ship_type === null || v.ship_type === undefined ? null : `${v.ship_type} (${model.vessels.get(mmsi)?.cls ?? ""})`],
      ["State", s ? s.label : null], ["Watchlists", (v.watch || []).join(", ") || "none"],
      ["Position", fmtLatLon(v.position)],
      ["Speed / course", v.position ? `${fmtNum(v.position.sog)} kn / ${fmtNum(v.position.cog, 0)}°` : null],
      ["Fix time", fmtDateTime(v.time)], ["Last heard", fmtDateTime(v.last_heard)],
      ["Zones", zones.join(", ") || "open water"],
      ["Draught", v.draught === null || v.draught === undefined ? null : `${v.draught} m`],
      ["Destination", v.destination],
      ["Loitering since", v.loitering_since ? fmtDateTime(v.loitering_since) : null],
      ["Wrong way since", v.wrong_way_since ? fmtDateTime(v.wrong_way_since) : null],
      ["Voyage", fmtVoyage(v.voyage, model.zoneNames)],
    ].filter(([, value]) => value !== null && value !== undefined && value !== "");
    const alerts = model.alertsOf(mmsi).slice(0, LAST_ALERTS);
    const track = model.trackOf(mmsi).length;
    card.replaceChildren(
      h("button", { type: "button", class: "btn small close", "aria-label": "close", onclick: () => model.select(null) }, "✕"),
      h("h2", {}, v.name || "(no name)"),
      h("dl", {}, rows.map(([k, value]) => [h("dt", {}, k), h("dd", {}, String(value))])),
      h("h3", {}, `Last alerts (${alerts.length})`),
      alerts.length ? h("ul", { "data-list": "vessel-alerts" }, alerts.map((a) => h("li", { class: `sev-${a.severity}` },
        h("strong", {}, kindLabel(a.kind)), ` · ${fmtDateTime(a.time)}`, a.zone ? ` · ${a.zone.name || a.zone.id}` : "",
        a.ack ? h("span", { class: "mark acked" }, "acked") : null)))
        : h("div", { class: "note" }, "None seen by this page."),
      h("div", { class: "note" }, `Track: ${track} position${track === 1 ? "" : "s"}: the daemon's recent track, ` +
        "this vessel's alerts and the positions seen since."));
    card.dataset.mmsi = String(mmsi);
    card.hidden = false;
  }

  model.on("select", (mmsi) => {
    if (mmsi !== null) load(mmsi);
    schedule();
  });
  model.on("vessels", () => { if (model.selected !== null) schedule(); });
  model.on("alerts", () => { if (model.selected !== null) schedule(); });
}
