// What the page knows: zones, vessels (with the positions seen since load), alerts; and how a vessel's
// state and class are derived from the fields /api/vessels gives. Panels read it and subscribe to changes.

// Vessel states, as the roster's `state` names them (CONTRACT): colour and legend label.
export const STATES = {
  underway: { label: "Underway", color: "#3ecf8e" },
  at_anchor: { label: "At anchor / stopped", color: "#4aa3ff" },
  in_port: { label: "In port", color: "#c7a9ff" },
  dark: { label: "Dark (silent)", color: "#8b97a6" },
  spoofed: { label: "Spoofed / on land", color: "#ff4d6d" },
};

// Ship classes from the AIS ship type, as CONTRACT's traffic statistics define them.
export const CLASSES = [
  ["tanker", "Tanker (80–89)"],
  ["cargo", "Cargo (70–79)"],
  ["passenger", "Passenger (60–69)"],
  ["other", "Other"],
  ["unknown", "Unknown (no static report)"],
];

export function shipClass(type) {
  if (typeof type !== "number") return "unknown";
  if (type >= 80 && type <= 89) return "tanker";
  if (type >= 70 && type <= 79) return "cargo";
  if (type >= 60 && type <= 69) return "passenger";
  return "other";
}

const STOPPED_KN = 0.5; // below this a vessel outside ports and anchorages is shown as stopped
const SPOOF_MEMORY_S = 1800; // an on_land alert marks its vessel spoofed for 30 min of feed time
const TRACK_POINTS = 120; // positions kept per vessel for its track
const MAX_ALERTS = 5000; // alerts kept by the page, oldest dropped first

// The state from the list fields of /api/vessels (service._vessel_dict): `dark`, `zones` (the zones of
// the last fix, `land` included even though no detector tracks it) and the speed. A fix in a land zone
// outside every port is the on_land detector's own rule, so the page agrees with the alerts; an on_land
// alert seen by the page keeps the mark while the trusted position (which a spoofed fix does not move)
// is back at sea.
export function vesselState(v, zoneKinds, spoofedUntil) {
  if (v.dark) return "dark";
  let land = false;
  let port = false;
  let anchorage = false;
  for (const id of v.zones || []) {
    const kind = zoneKinds.get(id);
    if (kind === "land") land = true;
    else if (kind === "port") port = true;
    else if (kind === "anchorage") anchorage = true;
  }
  const t = Date.parse(v.time || "");
  if ((land && !port) || (spoofedUntil !== undefined && t <= spoofedUntil)) return "spoofed";
  if (port) return "in_port";
  const sog = v.position?.sog;
  if (anchorage || (typeof sog === "number" && sog < STOPPED_KN)) return "at_anchor";
  return "underway";
}

class Emitter {
  constructor() { this.listeners = new Map(); }
  on(event, fn) {
    if (!this.listeners.has(event)) this.listeners.set(event, new Set());
    this.listeners.get(event).add(fn);
  }
  emit(event, ...args) {
    for (const fn of this.listeners.get(event) || []) {
      try {
        fn(...args);
      } catch (exc) {
        console.warn(`listener of ${event} failed`, exc); // one broken panel must not stop the others
      }
    }
  }
}

export class Model extends Emitter {
  constructor() {
    super();
    this.zones = { type: "FeatureCollection", features: [] };
    this.zoneKinds = new Map(); // zone id -> kind
    this.zoneNames = new Map(); // zone id -> name
    this.vessels = new Map(); // mmsi -> vessel as the API gives it, plus `state`, `cls`
    // mmsi -> [[t_ms, lat, lon]], oldest first: the positions this page has seen since it loaded (the API
    // gives no track; the alerts' positions are added when a vessel is selected).
    this.history = new Map();
    this.spoofedUntil = new Map(); // mmsi -> feed time (ms) until which it is shown spoofed
    this.alerts = new Map(); // id -> alert
    this.selected = null; // mmsi
    this.feedTime = null; // newest vessel fix time seen (ms)
    this._seq = 0;
  }

  setZones(collection) {
    this.zones = collection;
    this.zoneKinds.clear();
    this.zoneNames.clear();
    for (const f of collection.features || []) {
      this.zoneKinds.set(f.properties.id, f.properties.kind);
      this.zoneNames.set(f.properties.id, f.properties.name || f.properties.id);
    }
    for (const v of this.vessels.values()) v.state = vesselState(v, this.zoneKinds, this.spoofedUntil.get(v.mmsi));
    this.emit("zones", collection);
  }

  // A complete list from the API: vessels not in it were forgotten by the daemon.
  setVessels(list) {
    const seen = new Set();
    let newest = this.feedTime ?? 0;
    for (const v of list) {
      seen.add(v.mmsi);
      v.state = vesselState(v, this.zoneKinds, this.spoofedUntil.get(v.mmsi));
      v.cls = shipClass(v.ship_type);
      this.vessels.set(v.mmsi, v);
      if (v.position && v.time) {
        const t = Date.parse(v.time);
        if (t > newest) newest = t;
        let track = this.history.get(v.mmsi);
        if (!track) this.history.set(v.mmsi, (track = []));
        const last = track[track.length - 1];
        if (!last || last[0] !== t) {
          track.push([t, v.position.lat, v.position.lon]);
          if (track.length > TRACK_POINTS) track.splice(0, track.length - TRACK_POINTS);
        }
      }
    }
    const removed = [];
    for (const mmsi of this.vessels.keys()) {
      if (!seen.has(mmsi)) removed.push(mmsi);
    }
    for (const mmsi of removed) {
      this.vessels.delete(mmsi);
      this.history.delete(mmsi);
    }
    this.feedTime = newest || this.feedTime;
    this.emit("vessels", removed);
  }

  // Alerts, from the initial load, the live stream, or a refresh (which carries `ack`/`snoozed` set since).
  addAlerts(alerts, { live = false } = {}) {
    const added = [];
    for (const a of alerts) {
      if (!a || !a.id) continue;
      const known = this.alerts.get(a.id);
      if (known) {
        Object.assign(known, a);
        continue;
      }
      a._seq = ++this._seq; // arrival order: the tie-break of alerts with the same time
      this.alerts.set(a.id, a);
      added.push(a);
      if (a.kind === "on_land" && a.mmsi !== null && a.time) {
        const until = Date.parse(a.time) + SPOOF_MEMORY_S * 1000;
        if (until > (this.spoofedUntil.get(a.mmsi) ?? 0)) this.spoofedUntil.set(a.mmsi, until);
        const v = this.vessels.get(a.mmsi);
        if (v) v.state = vesselState(v, this.zoneKinds, until);
      }
    }
    // Bounded: a long shift's alerts must not grow the tab without end (the API keeps the history).
    const excess = this.alerts.size - MAX_ALERTS;
    if (excess > 0) {
      let n = 0;
      for (const id of this.alerts.keys()) {
        if (n++ >= excess) break;
        this.alerts.delete(id);
      }
    }
    this.emit("alerts", added, live);
  }

  updateAlert(id, fields) {
    const a = this.alerts.get(id);
    if (!a) return;
    Object.assign(a, fields);
    this.emit("alerts", [], false);
  }

  alertsOf(mmsi) {
    const out = [];
    for (const a of this.alerts.values()) {
      if (a.mmsi === mmsi || a.details?.other_mmsi === mmsi) out.push(a);
    }
    return out.sort(byTimeDesc);
  }

  // The selected vessel's recent track: the daemon's (addTrack), its alerts' positions and the positions
  // seen since load. The positions of on_land and position_jump alerts are left out: they are the spoofed
  // or jumped fixes the daemon refused as the vessel's track.
  trackOf(mmsi) {
    const points = new Map();
    for (const a of this.alerts.values()) {
      if (a.mmsi !== mmsi || !a.position || !a.time || a.kind === "on_land" || a.kind === "position_jump") continue;
      points.set(Date.parse(a.time), [a.position.lat, a.position.lon]);
    }
    for (const [t, lat, lon] of this.history.get(mmsi) || []) points.set(t, [lat, lon]);
    return [...points.entries()].sort((x, y) => x[0] - y[0]).map(([, p]) => p);
  }

  // The daemon's recent track of a vessel (the details panel fetches it on selection), merged with the
  // positions seen since: [{time, lat, lon}] oldest first.
  addTrack(mmsi, points) {
    const seen = this.history.get(mmsi) || [];
    const merged = new Map(points.map((p) => [Date.parse(p.time), [Date.parse(p.time), p.lat, p.lon]]));
    for (const p of seen) merged.set(p[0], p);
    const track = [...merged.values()].sort((a, b) => a[0] - b[0]);
    this.history.set(mmsi, track.slice(-TRACK_POINTS));
    this.emit("track", mmsi);
  }

  select(mmsi) {
    this.selected = mmsi;
    this.emit("select", mmsi);
  }
}

export function byTimeDesc(a, b) {
  const ta = Date.parse(a.time || "") || 0;
  const tb = Date.parse(b.time || "") || 0;
  return tb - ta || (b._seq ?? 0) - (a._seq ?? 0);
}
