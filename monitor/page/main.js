// The page's entry point: builds the model, the map and the panels, then keeps them live: vessels polled
// every few seconds (the API has no vessel stream), alerts over the SSE stream, zones and posture
// refreshed now and then and at once after a change.
import { allVessels, askToken, getJson, hasToken } from "./api.js";
import { MapView } from "./map.js";
import { Model } from "./model.js";
import { createAlertsPanel } from "./panels/alerts.js";
import { createDetails } from "./panels/details.js";
import { createFeedsPanel } from "./panels/feeds.js";
import { createHazardTool } from "./panels/hazard.js";
import { createInterferencePanel } from "./panels/interference.js";
import { createPosture } from "./panels/posture.js";
import { createRosterPanel } from "./panels/roster.js";
import { createTrafficPanel } from "./panels/traffic.js";
import { createVesselsPanel } from "./panels/vessels.js";
import { fmtDateTime, h, toast } from "./ui.js";

const VESSEL_POLL_MS = 3000;
// Runtime zones another operator (or a script) adds show up within this; an unchanged zone file is not
// drawn again (see loadZones).
const ZONES_POLL_MS = 10000;
const ALERTS_POLL_MS = 15000; // picks up acknowledgements made elsewhere, and fills any stream gap
const INITIAL_ALERTS = 2000;

const model = new Model();
const view = new MapView(document.getElementById("map"), model);
// Performance figures of the last vessel refresh, read by tests/test_page.py and bench/page.py.
const stats = { refreshes: 0, fetchMs: null, applyMs: null, paintMs: null, vessels: 0 };
const ctx = { model, view, stats, loadZones, selectTab, toast };
// Read-only handle for the browser tests and the benchmark (they measure, they never drive the page
// through it); harmless to an operator.
window.chokepoint = ctx;

const panels = [createAlertsPanel(ctx), createVesselsPanel(ctx), createRosterPanel(ctx),
  createInterferencePanel(ctx), createTrafficPanel(ctx), createFeedsPanel(ctx)];
createPosture(ctx);
createDetails(ctx);
createHazardTool(ctx);

const tabs = document.getElementById("tabs");
const panelBox = document.getElementById("panels");
for (const p of panels) {
  p.tab = h("button", { type: "button", role: "tab", id: `tab-${p.id}`, "aria-controls": `panel-${p.id}`,
    onclick: () => selectTab(p.id) }, p.title, p.badge || null);
  p.element.id = `panel-${p.id}`;
  p.element.setAttribute("role", "tabpanel");
  tabs.append(p.tab);
  panelBox.append(p.element);
}
selectTab("alerts");

function selectTab(id) {
  for (const p of panels) {
    const on = p.id === id;
    p.tab.setAttribute("aria-selected", String(on));
    p.element.hidden = !on;
    if (on) p.onShow?.();
  }
}

let zonesSignature = null;
async function loadZones() {
  try {
    const zones = await getJson("/api/zones");
    // The zone file itself never changes while the daemon runs; runtime zones are added and removed
    // whole, by id. So the ids with their properties tell whether anything must be drawn again.
    const signature = JSON.stringify((zones.features || []).map((f) => f.properties));
    if (signature === zonesSignature) return;
    zonesSignature = signature;
    model.setZones(zones);
  } catch (exc) {
    toast(`Zones: ${exc.message}`, "error");
  }
}

let refreshing = false;
async function refreshVessels() {
  if (refreshing) return; // a slow daemon: never two refreshes at once
  refreshing = true;
  try {
    const t0 = performance.now();
    const list = await allVessels();
    const t1 = performance.now();
    model.setVessels(list);
    const t2 = performance.now();
    Object.assign(stats, { fetchMs: t1 - t0, applyMs: t2 - t1, vessels: list.length });
    // The markers are repainted in the next animation frame (Leaflet batches the canvas redraw there,
    // ahead of this callback): paintMs is data in hand to the new picture drawn.
    requestAnimationFrame(() => {
      stats.paintMs = performance.now() - t1;
      stats.refreshes += 1;
    });
    document.getElementById("vessel-count").textContent = `${list.length} vessels`;
    document.getElementById("feed-time").textContent = `feed ${fmtDateTime(model.feedTime)}`;
  } catch (exc) {
    document.getElementById("vessel-count").textContent = "vessels: no answer";
    console.warn("vessel refresh failed", exc); // a warning, not an error: the next poll retries
  } finally {
    refreshing = false;
  }
}

async function refreshAlerts(limit = 500) {
  try {
    const body = await getJson(`/api/alerts?limit=${limit}`);
    model.addAlerts(body.alerts);
  } catch (exc) {
    console.warn("alert refresh failed", exc);
  }
}

// Live alerts. EventSource reconnects by itself; after a reconnect the recent alerts are fetched again
// (merged by id), so nothing raised while the stream was down is missed.
function connectStream() {
  const live = document.getElementById("live");
  const source = new EventSource("/api/alerts/stream");
  let opened = false;
  source.addEventListener("open", () => {
    live.dataset.state = "live";
    live.textContent = "live";
    if (opened) refreshAlerts();
    opened = true;
  });
  source.addEventListener("error", () => {
    live.dataset.state = source.readyState === EventSource.CLOSED ? "down" : "connecting";
    live.textContent = source.readyState === EventSource.CLOSED ? "stream closed" : "reconnecting";
    if (source.readyState === EventSource.CLOSED) setTimeout(connectStream, 5000);
  });
  source.addEventListener("alert", (event) => {
    try {
      model.addAlerts([JSON.parse(event.data)], { live: true });
    } catch (exc) {
      console.warn("bad alert event", exc);
    }
  });
}

const tokenButton = document.getElementById("token-button");
function showToken() {
  tokenButton.textContent = hasToken() ? "Token ✓" : "Token";
}
tokenButton.addEventListener("click", async () => {
  await askToken("Operator actions (posture, acknowledge, snooze, hazard zones) need the bearer token.");
  showToken();
});
window.addEventListener("storage", showToken);
document.addEventListener("token", showToken);
showToken();

// The chokepoint shown: one per strait in the zones (several zone files: Hormuz, Malacca, Bab el-Mandeb);
// `#strait=ID` in the address opens on that one, so a desk can bookmark each.
const chokepoint = document.getElementById("chokepoint");
const wanted = new URLSearchParams(location.hash.slice(1)).get("strait");
if (wanted) view.strait = wanted;
view.onStraits = (straits) => {
  chokepoint.replaceChildren(...straits.map((f) => {
    const option = document.createElement("option");
    option.value = f.properties.id;
    option.textContent = f.properties.name || f.properties.id;
    return option;
  }));
  chokepoint.hidden = straits.length < 2;
  if (view.strait) chokepoint.value = view.strait;
};
chokepoint.addEventListener("change", () => {
  view.strait = chokepoint.value;
  history.replaceState(null, "", `#strait=${encodeURIComponent(chokepoint.value)}`);
  view.fit("strait");
});
document.getElementById("fit-strait").addEventListener("click", () => view.fit("strait"));
document.getElementById("fit-all").addEventListener("click", () => view.fit("all"));

await loadZones();
await refreshAlerts(INITIAL_ALERTS);
connectStream();
await refreshVessels();
setInterval(refreshVessels, VESSEL_POLL_MS);
setInterval(loadZones, ZONES_POLL_MS);
setInterval(() => refreshAlerts(), ALERTS_POLL_MS);
document.body.dataset.ready = "true"; // the first picture is complete (tests wait for it)
