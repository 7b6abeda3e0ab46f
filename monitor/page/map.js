// The map: zones drawn from the zone file (no tiles: land is the zone file's `land` features on a sea-
// coloured background, so nothing is fetched from another host), vessels on their own canvas, the
// selected vessel's track, and the legend.
/* global L */
import { STATES } from "./model.js";
import { h, oncePerFrame } from "./ui.js";

// One style per zone kind, chosen to be told apart at a glance on a dark sea: magenta for the TSS as on
// nautical charts, red for hazards, green dashes for corridors, amber dashed lines for gates.
export const ZONE_STYLES = {
  region: { label: "Region", style: { color: "#3d5570", weight: 1, dashArray: "2 6", fill: false } },
  territorial_sea: { label: "Territorial sea", style: { color: "#5f7fa0", weight: 1, dashArray: "6 4", fillColor: "#5f7fa0", fillOpacity: 0.05 } },
  land: { label: "Land", style: { color: "#5a6470", weight: 0.8, fillColor: "#2c3337", fillOpacity: 1 } },
  strait: { label: "Strait", style: { color: "#2bb3c0", weight: 1.2, dashArray: "4 4", fill: false } },
  tss_lane: { label: "TSS lane", style: { color: "#d46cff", weight: 1, fillColor: "#d46cff", fillOpacity: 0.16 } },
  separation_zone: { label: "Separation zone", style: { color: "#d46cff", weight: 1, fillColor: "#d46cff", fillOpacity: 0.45 } },
  anchorage: { label: "Anchorage", style: { color: "#4aa3ff", weight: 1.2, dashArray: "3 3", fillColor: "#4aa3ff", fillOpacity: 0.14 } },
  port: { label: "Port", style: { color: "#c9d1d9", weight: 1, fillColor: "#c9d1d9", fillOpacity: 0.14 } },
  corridor: { label: "Corridor", style: { color: "#3ecf8e", weight: 2.5, dashArray: "10 6", fillColor: "#3ecf8e", fillOpacity: 0.12 } },
  hazard: { label: "Hazard", style: { color: "#ff3b30", weight: 2.5, fillColor: "#ff3b30", fillOpacity: 0.3 } },
  gate: { label: "Transit gate", style: { color: "#ffb020", weight: 2.5, dashArray: "8 5" } },
};
const OTHER_STYLE = { color: "#8b97a6", weight: 1, fillOpacity: 0.1 };
// Drawing order, bottom to top (one canvas draws in the order layers were added).
const ZONE_ORDER = ["region", "territorial_sea", "land", "strait", "tss_lane", "separation_zone", "anchorage",
  "port", "corridor", "hazard", "gate"];
// Big areas that cover the map: not clickable, or every click on the sea would open their popup.
const PASSIVE_KINDS = new Set(["region", "territorial_sea", "land", "strait"]);
export const RUNTIME_KINDS = new Set(["hazard", "corridor"]); // added at run time, and deletable
const HIT_PX = 10; // how near a click must be to a vessel to pick it

// A vessel: a CircleMarker (Leaflet's projection, bounds and redraw bookkeeping) drawn by our own canvas
// routine, an arrow along the course when moving, a dot when stopped or without a course.
const VesselMarker = L.CircleMarker.extend({
  options: { radius: 12, weight: 0, stroke: false, interactive: false, state: "underway", cog: null,
    moving: false, watched: false, selected: false },
  _updatePath() {
    this._renderer._drawVessel(this);
  },
});

L.Canvas.include({
  _drawVessel(layer) {
    if (!this._drawing || layer._empty()) return;
    const ctx = this._ctx;
    const p = layer._point;
    const o = layer.options;
    const color = (STATES[o.state] || STATES.underway).color;
    ctx.save();
    ctx.translate(p.x, p.y);
    if (o.selected) {
      ctx.beginPath();
      ctx.arc(0, 0, 11, 0, Math.PI * 2);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffffff";
      ctx.stroke();
    }
    if (o.watched) {
      ctx.beginPath();
      ctx.arc(0, 0, 8, 0, Math.PI * 2);
      ctx.lineWidth = 2;
      ctx.strokeStyle = "#ffd84d";
      ctx.stroke();
    }
    ctx.beginPath();
    if (o.moving && typeof o.cog === "number") {
      ctx.rotate((o.cog * Math.PI) / 180); // canvas y points down: a clockwise turn from north
      ctx.moveTo(0, -7.5);
      ctx.lineTo(4.5, 5.5);
      ctx.lineTo(0, 3);
      ctx.lineTo(-4.5, 5.5);
      ctx.closePath();
    } else {
      ctx.arc(0, 0, 3.8, 0, Math.PI * 2);
    }
    ctx.globalAlpha = o.state === "dark" ? 0.45 : 1;
    ctx.fillStyle = color;
    ctx.fill();
    ctx.globalAlpha = 1;
    ctx.lineWidth = 1;
    ctx.strokeStyle = o.state === "dark" ? color : "#071018";
    ctx.stroke();
    ctx.restore();
  },
});

function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

export class MapView {
  constructor(element, model) {
    this.model = model;
    this.map = L.map(element, { zoomControl: true, minZoom: 3, maxZoom: 15, zoomSnap: 0.25,
      doubleClickZoom: true, attributionControl: true });
    for (const [name, z] of [["zones", 350], ["areas", 380], ["tracks", 390], ["vessels", 420], ["drawing", 430]]) {
      this.map.createPane(name).style.zIndex = String(z);
    }
    // Vessels on a canvas of their own: a vessel refresh repaints markers only, never the land
    // polygons; the padding keeps markers drawn beyond the edges while a pan is dragged.
    this.renderers = {
      zones: L.canvas({ pane: "zones", padding: 0.5 }),
      areas: L.canvas({ pane: "areas", padding: 0.5 }),
      tracks: L.canvas({ pane: "tracks", padding: 0.5 }),
      vessels: L.canvas({ pane: "vessels", padding: 0.5 }),
      drawing: L.canvas({ pane: "drawing", padding: 0.5 }),
    };
    // Only the zones canvas takes clicks (zone popups); vessels are picked by our own hit test (see
    // vesselAt). A canvas stacked above it would swallow every click meant for it.
    for (const pane of ["areas", "tracks", "vessels", "drawing"]) this.map.getPane(pane).style.pointerEvents = "none";
    L.control.scale({ imperial: false, position: "bottomright" }).addTo(this.map);
    this.map.setView([26.3, 56.4], 8);
    this.zoneLayer = null;
    this.markers = new Map();
    this.track = null;
    this.drawing = false; // while a hazard is drawn, clicks add vertices and select nothing
    this._hover = L.tooltip({ direction: "top", offset: [0, -8], opacity: 0.95 });
    this.map.on("click", (e) => this._onClick(e));
    this._hoverTest = oncePerFrame(() => this._testHover());
    this.map.on("mousemove", (e) => this._onMove(e));
    this.map.on("mouseout", () => this.map.closeTooltip(this._hover));
    model.on("zones", (zones) => this.drawZones(zones));
    model.on("vessels", (removed) => this.syncVessels(removed));
    model.on("select", () => {
      this.syncVessels([]);
      this.drawTrack();
    });
    model.on("alerts", () => {
      if (model.selected !== null) this.drawTrack();
    });
    model.on("track", (mmsi) => {
      if (model.selected === mmsi) this.drawTrack();
    });
    this.buildLegend(document.getElementById("legend"));
  }

  drawZones(collection) {
    if (this.zoneLayer) this.zoneLayer.remove();
    const features = [...(collection.features || [])].sort(
      (a, b) => rank(a.properties.kind) - rank(b.properties.kind));
    this.zoneLayer = L.geoJSON({ type: "FeatureCollection", features }, {
      renderer: this.renderers.zones,
      style: (f) => ({ ...(ZONE_STYLES[f.properties.kind]?.style || OTHER_STYLE),
        interactive: !PASSIVE_KINDS.has(f.properties.kind) }),
      onEachFeature: (f, layer) => {
        if (PASSIVE_KINDS.has(f.properties.kind)) return;
        layer.on("click", (e) => {
          if (this.drawing || this.vesselAt(e.containerPoint)) return; // the vessel or the vertex wins
          L.DomEvent.stopPropagation(e);
          this.openZonePopup(f, e.latlng);
        });
      },
    }).addTo(this.map);
    const attribution = collection.properties?.attribution;
    if (Array.isArray(attribution) && !this._attributed) {
      this._attributed = true;
      this.map.attributionControl.addAttribution(escapeHtml(`Zones: ${attribution.map((a) => a.split(":")[0]).join("; ")}`));
    }
    this.onStraits?.(this.straits());
    if (!this._fitted) {
      this._fitted = true;
      this.fit("strait");
    }
  }

  // The straits of the zones in force, in file order: one per chokepoint the daemon watches.
  straits() {
    return (this.model.zones.features || []).filter((f) => f.properties.kind === "strait");
  }

  // "strait": the chosen strait (`strait`, else the first) with its gates and the TSS lanes of its
  // approaches; "all": every region (with several chokepoints, all of them at once).
  fit(what) {
    const features = this.model.zones.features || [];
    const strait = this.straits().find((f) => f.properties.id === this.strait) || this.straits()[0];
    if (what === "strait" && strait) {
      this.strait = strait.properties.id;
      const gates = new Set(strait.properties.gates || []);
      const bounds = L.geoJSON(strait).getBounds();
      for (const g of features.filter((f) => gates.has(f.properties.id))) bounds.extend(L.geoJSON(g).getBounds());
      // Lanes near this strait only: another chokepoint's lanes lie thousands of kilometres off.
      const near = bounds.pad(0.5);
      for (const f of features.filter((x) => x.properties.kind === "tss_lane")) {
        const b = L.geoJSON(f).getBounds();
        if (near.intersects(b)) bounds.extend(b);
      }
      this.map.fitBounds(bounds.pad(0.35), { animate: false });
      return;
    }
    const regions = features.filter((f) => f.properties.kind === "region");
    const use = regions.length ? regions : features;
    if (!use.length) return;
    this.map.fitBounds(L.geoJSON({ type: "FeatureCollection", features: use }).getBounds(), { animate: false });
  }

  openZonePopup(f, latlng) {
    const p = f.properties;
    const rows = [["kind", p.kind], ["id", p.id]];
    if (p.bearing !== undefined) rows.push(["lane bearing", `${p.bearing}°`]);
    if (p.country) rows.push(["country", p.country]);
    if (p.expires) rows.push(["expires", p.expires]);
    const body = h("div", {}, h("h4", {}, p.name || p.id),
      h("div", {}, rows.map(([k, v]) => h("div", {}, h("span", { class: "muted" }, `${k}: `), String(v)))));
    // Runtime zones only (GET /api/zones marks them `runtime`; a hazard of the zone file is edited there).
    const runtime = p.runtime === true || (p.runtime === undefined && RUNTIME_KINDS.has(p.kind));
    if (runtime && this.onDeleteZone) {
      body.append(h("div", { style: "margin-top:8px" }, h("button", { type: "button", class: "btn small danger",
        "data-action": "delete-zone", onclick: () => { this.map.closePopup(); this.onDeleteZone(f); } }, "Delete zone")));
    }
    L.popup({ maxWidth: 320 }).setLatLng(latlng).setContent(body).openOn(this.map);
  }

  syncVessels(removed) {
    const selected = this.model.selected;
    for (const mmsi of removed) {
      this.markers.get(mmsi)?.remove();
      this.markers.delete(mmsi);
    }
    for (const v of this.model.vessels.values()) {
      const pos = v.position;
      let m = this.markers.get(v.mmsi);
      if (!pos || typeof pos.lat !== "number") {
        if (m) {
          m.remove();
          this.markers.delete(v.mmsi);
        }
        continue;
      }
      const o = { state: v.state, cog: pos.cog, moving: typeof pos.sog === "number" && pos.sog >= 0.5,
        watched: (v.watch || []).length > 0, selected: v.mmsi === selected };
      if (!m) {
        m = new VesselMarker([pos.lat, pos.lon], { ...o, renderer: this.renderers.vessels });
        m.mmsi = v.mmsi;
        this.markers.set(v.mmsi, m);
        m.addTo(this.map);
        continue;
      }
      const old = m.options;
      const ll = m.getLatLng();
      const moved = ll.lat !== pos.lat || ll.lng !== pos.lon;
      const changed = old.state !== o.state || old.cog !== o.cog || old.moving !== o.moving ||
        old.watched !== o.watched || old.selected !== o.selected;
      if (changed) Object.assign(m.options, o);
      if (moved) m.setLatLng([pos.lat, pos.lon]); // redraws it
      else if (changed) m.redraw();
    }
  }

  // The vessel drawn nearest to a container point, within HIT_PX, or null.
  vesselAt(point) {
    let best = null;
    let bestD = HIT_PX * HIT_PX;
    for (const m of this.markers.values()) {
      const q = this.map.latLngToContainerPoint(m.getLatLng());
      const d = (q.x - point.x) ** 2 + (q.y - point.y) ** 2;
      if (d <= bestD) {
        bestD = d;
        best = m.mmsi;
      }
    }
    return best;
  }

  _onClick(e) {
    if (this.drawing) return;
    const mmsi = this.vesselAt(e.containerPoint);
    if (mmsi !== null) this.model.select(mmsi);
  }

  _onMove(e) {
    // One hit test per animation frame at most: with 5,000 vessels a test costs about a millisecond.
    this._lastMove = e;
    this._hoverTest();
  }

  _testHover() {
    const ev = this._lastMove;
    const mmsi = this.drawing ? null : this.vesselAt(ev.containerPoint);
    this.map.getContainer().style.cursor = mmsi !== null ? "pointer" : "";
    if (mmsi === null) {
      this.map.closeTooltip(this._hover);
      return;
    }
    const v = this.model.vessels.get(mmsi);
    const m = this.markers.get(mmsi);
    // An element, not a string: Leaflet would parse a string as HTML, and AIS names are anyone's input.
    this._hover.setContent(h("span", {}, `${v?.name || "(no name)"} · ${mmsi}`));
    this._hover.setLatLng(m.getLatLng());
    this.map.openTooltip(this._hover);
  }

  drawTrack() {
    if (this.track) this.track.remove();
    this.track = null;
    const mmsi = this.model.selected;
    if (mmsi === null) return;
    const points = this.model.trackOf(mmsi);
    if (points.length < 2) return;
    this.track = L.polyline(points, { renderer: this.renderers.tracks, color: "#ffffff", weight: 2,
      opacity: 0.75, dashArray: "5 5", interactive: false }).addTo(this.map);
  }

  panToVessel(mmsi) {
    const m = this.markers.get(mmsi);
    if (m && !this.map.getBounds().pad(-0.1).contains(m.getLatLng())) this.map.panTo(m.getLatLng());
  }

  buildLegend(el) {
    const zoneItem = (kind) => {
      const s = ZONE_STYLES[kind].style;
      const sw = h("span", { class: "sw" });
      sw.style.border = `${Math.max(1, s.weight)}px ${s.dashArray ? "dashed" : "solid"} ${s.color}`;
      if (kind === "gate") {
        sw.style.border = "0";
        sw.style.borderTop = `3px dashed ${s.color}`;
        sw.style.height = "0";
      } else if (s.fill !== false) {
        sw.style.background = hexAlpha(s.fillColor || s.color, Math.max(s.fillOpacity ?? 0.2, 0.12));
      }
      return h("div", { class: "item" }, sw, ZONE_STYLES[kind].label);
    };
    const vesselItem = (state) => h("div", { class: "item" },
      h("span", { class: "dot", style: `background:${STATES[state].color}` }), STATES[state].label);
    el.replaceChildren(h("details", { open: true },
      h("summary", {}, "Legend"),
      h("div", { class: "cols" },
        h("h4", {}, "Zones"),
        ["land", "territorial_sea", "tss_lane", "separation_zone", "gate", "port", "anchorage", "strait",
          "hazard", "corridor"].map(zoneItem),
        h("h4", {}, "Vessels (arrow: course)"),
        Object.keys(STATES).map(vesselItem),
        h("div", { class: "item" }, h("span", { class: "dot watched", style: "background:#3ecf8e" }), "Watchlisted"),
        h("div", { class: "item" }, h("span", { class: "sw", style: "border-top:2px dashed #fff;height:0" }), "Track"))));
  }
}

function rank(kind) {
  const i = ZONE_ORDER.indexOf(kind);
  return i < 0 ? ZONE_ORDER.length : i;
}

function hexAlpha(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${alpha})`;
}
