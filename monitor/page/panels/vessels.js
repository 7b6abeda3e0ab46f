// The vessel list: searchable by name or MMSI, filterable by watchlist, zone, ship class and state.
// Filtering is done here on the vessels the page already polls (it has them all for the map), so a
// filter answers at once. The list is virtual: only the rows in view exist in the DOM, so 5,000
// vessels scroll as smoothly as fifty.
import { CLASSES, STATES } from "../model.js";
import { h } from "../ui.js";

const ROW_PX = 28;
const OVERSCAN = 8;
const ZONE_KINDS = ["strait", "tss_lane", "separation_zone", "anchorage", "port", "region", "territorial_sea",
  "hazard", "corridor"];

export function createVesselsPanel(ctx) {
  const { model } = ctx;
  const search = h("input", { type: "search", placeholder: "Name or MMSI", "aria-label": "search vessels", oninput: () => refilter() });
  const watch = h("select", { "aria-label": "watchlist", onchange: () => refilter() });
  const zone = h("select", { "aria-label": "zone", onchange: () => refilter() });
  const cls = h("select", { "aria-label": "type", onchange: () => refilter() },
    h("option", { value: "" }, "All types"), CLASSES.map(([v, label]) => h("option", { value: v }, label)));
  const state = h("select", { "aria-label": "state", onchange: () => refilter() },
    h("option", { value: "" }, "All states"), Object.entries(STATES).map(([v, s]) => h("option", { value: v }, s.label)));
  const inner = h("div", { class: "vlist" });
  const body = h("div", { class: "panel-body", "data-list": "vessels", onscroll: () => draw() }, inner);
  const foot = h("div", { class: "panel-foot" });
  const badge = h("span", { class: "count" }, "0");
  const element = h("div", { class: "panel" },
    h("div", { class: "panel-tools" }, search, watch, zone, cls, state), body, foot);
  let rows = []; // the filtered vessels, sorted
  let watchlists = "";

  function fillWatch() {
    const names = new Set();
    for (const v of model.vessels.values()) for (const w of v.watch || []) names.add(w);
    const key = [...names].sort().join("\n");
    if (key === watchlists) return;
    watchlists = key;
    const current = watch.value;
    watch.replaceChildren(h("option", { value: "" }, "All vessels"), h("option", { value: "*" }, "Any watchlist"),
      [...names].sort().map((n) => h("option", { value: n }, `Watchlist: ${n}`)));
    watch.value = current;
  }

  function fillZones() {
    const current = zone.value;
    const feats = (model.zones.features || []).filter((f) => ZONE_KINDS.includes(f.properties.kind))
      .sort((a, b) => ZONE_KINDS.indexOf(a.properties.kind) - ZONE_KINDS.indexOf(b.properties.kind) ||
        String(a.properties.name).localeCompare(String(b.properties.name)));
    zone.replaceChildren(h("option", { value: "" }, "All zones"),
      feats.map((f) => h("option", { value: f.properties.id }, `${f.properties.name || f.properties.id} (${f.properties.kind.replaceAll("_", " ")})`)));
    zone.value = current;
  }

  function refilter() {
    const q = search.value.trim().toLowerCase();
    const w = watch.value;
    const z = zone.value;
    rows = [];
    for (const v of model.vessels.values()) {
      if (q && !String(v.mmsi).includes(q) && !(v.name || "").toLowerCase().includes(q)) continue;
      if (w === "*" ? !(v.watch || []).length : w && !(v.watch || []).includes(w)) continue;
      if (z && !(v.zones || []).includes(z)) continue;
      if (cls.value && v.cls !== cls.value) continue;
      if (state.value && v.state !== state.value) continue;
      rows.push(v);
    }
    // Watched first, then by name (unnamed last), then MMSI: the desk's own ships head the list.
    rows.sort((a, b) => ((b.watch || []).length > 0) - ((a.watch || []).length > 0) ||
      (a.name ? 0 : 1) - (b.name ? 0 : 1) || String(a.name || "").localeCompare(String(b.name || "")) || a.mmsi - b.mmsi);
    inner.style.height = `${rows.length * ROW_PX}px`;
    foot.textContent = `${rows.length} of ${model.vessels.size} vessels`;
    badge.textContent = String(model.vessels.size);
    draw();
  }

  function draw() {
    if (element.hidden) return;
    const top = body.scrollTop;
    const first = Math.max(0, Math.floor(top / ROW_PX) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((top + body.clientHeight) / ROW_PX) + OVERSCAN);
    const out = [];
    for (let i = first; i < last; i += 1) out.push(row(rows[i], i));
    inner.replaceChildren(...out);
  }

  function row(v, i) {
    const s = STATES[v.state] || STATES.underway;
    const watched = (v.watch || []).length > 0;
    const sog = v.position?.sog;
    return h("div", { class: `vrow${v.mmsi === model.selected ? " selected" : ""}`, style: `top:${i * ROW_PX}px`,
      dataset: { mmsi: v.mmsi, state: v.state }, title: `${s.label}${watched ? ` · watchlist ${v.watch.join(", ")}` : ""}`,
      onclick: () => { model.select(v.mmsi); ctx.view.panToVessel(v.mmsi); } },
    h("span", { class: `dot${watched ? " watched" : ""}`, style: `background:${s.color}` }),
    h("span", { class: "name" }, v.name || "(no name)", v.flag ? ` · ${v.flag}` : ""),
    h("span", { class: "mmsi" }, String(v.mmsi)),
    h("span", { class: "cls" }, v.cls),
    h("span", { class: "sog" }, typeof sog === "number" ? `${sog.toFixed(1)} kn` : "–"));
  }

  model.on("vessels", () => {
    fillWatch();
    refilter();
  });
  model.on("zones", () => {
    fillZones();
    refilter();
  });
  model.on("select", () => draw());
  fillWatch();
  return { id: "vessels", title: "Vessels", badge, element, onShow: () => refilter() };
}
