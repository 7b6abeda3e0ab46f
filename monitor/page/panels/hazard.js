// Drawing a hazard zone: "Draw hazard", click the corners on the map, then Finish (or double-click, or
// click the first corner again); Esc or Cancel gives up. The zone is sent as a GeoJSON Feature of kind
// `hazard` (POST /api/zones, with the token), optionally with `expires`: the daemon checks it as it checks
// the zone file and answers with the reason when it refuses. Runtime zones (hazard, corridor) are deleted
// from their popup on the map (DELETE /api/zones/{id}).
/* global L */
import { send } from "../api.js";
import { formDialog, h, toast } from "../ui.js";

const EXPIRY = [["", "never (until deleted)"], ["1", "in 1 hour"], ["6", "in 6 hours"], ["24", "in 24 hours"],
  ["72", "in 3 days"], ["168", "in 7 days"]];
const CLOSE_PX = 10; // a click this near the first corner closes the polygon

export function createHazardTool(ctx) {
  const { view, model } = ctx;
  const map = view.map;
  const button = document.getElementById("draw-hazard");
  const hint = document.getElementById("draw-hint");
  let points = [];
  let preview = null;

  function redraw() {
    if (preview) preview.remove();
    preview = points.length ? L.polygon(points, { renderer: view.renderers.drawing, color: "#ff3b30", weight: 2,
      dashArray: "6 4", fillColor: "#ff3b30", fillOpacity: 0.15, interactive: false }).addTo(map) : null;
    const finish = h("button", { type: "button", class: "btn small primary", id: "draw-finish", disabled: points.length < 3, onclick: () => finishDrawing() }, "Finish");
    const cancel = h("button", { type: "button", class: "btn small", onclick: () => stop() }, "Cancel");
    hint.replaceChildren(`Hazard: ${points.length} corner${points.length === 1 ? "" : "s"}. Click the map to add corners; `,
      "double-click or Finish to close (3 at least); Esc cancels. ", finish, " ", cancel);
  }

  function start() {
    points = [];
    view.drawing = true;
    map.doubleClickZoom.disable(); // a double-click closes the polygon instead
    map.getContainer().classList.add("drawing");
    button.classList.add("active");
    hint.hidden = false;
    redraw();
  }

  function stop() {
    points = [];
    view.drawing = false;
    map.doubleClickZoom.enable();
    map.getContainer().classList.remove("drawing");
    button.classList.remove("active");
    hint.hidden = true;
    if (preview) preview.remove();
    preview = null;
  }

  async function finishDrawing() {
    if (points.length < 3) return;
    const ring = points.map((p) => [round6(p.lng), round6(p.lat)]);
    ring.push(ring[0]); // GeoJSON rings are closed
    const feedNow = model.feedTime ?? Date.now();
    const stamp = new Date(feedNow).toISOString().slice(0, 16).replace(/[-:T]/g, "");
    const values = await formDialog({
      title: "New hazard zone",
      text: "Vessels entering it raise hazard_enter (critical for watched vessels). Needs the bearer token.",
      fields: [
        { name: "name", label: "Name", required: true, placeholder: "e.g. tanker struck, debris field" },
        { name: "id", label: "Id (unique slug)", required: true, value: `hazard-${stamp}` },
        { name: "expires", label: "Expires (feed time)", type: "select", value: "", options: EXPIRY },
      ],
      ok: "Add hazard",
      danger: true,
      submit: async (v) => {
        const properties = { id: v.id, name: v.name, kind: "hazard" };
        if (v.expires) {
          properties.expires = new Date(feedNow + Number(v.expires) * 3600 * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
        }
        await send("POST", "/api/zones", { type: "Feature", properties, geometry: { type: "Polygon", coordinates: [ring] } });
      },
    });
    if (!values) return; // cancelled: the corners stay, the operator may go on or cancel
    stop();
    toast(`Hazard ${values.name} added`);
    await ctx.loadZones();
  }

  view.onDeleteZone = async (feature) => {
    const p = feature.properties;
    const values = await formDialog({
      title: `Delete ${p.kind} ${p.name || p.id}?`,
      text: "It stops applying from the next fix on. Needs the bearer token.",
      fields: [],
      ok: "Delete",
      danger: true,
      submit: async () => send("DELETE", `/api/zones/${encodeURIComponent(p.id)}`),
    });
    if (!values) return;
    toast(`Deleted ${p.name || p.id}`);
    await ctx.loadZones();
  };

  map.on("click", (e) => {
    if (!view.drawing) return;
    if (points.length >= 3) {
      const first = map.latLngToContainerPoint(points[0]);
      if (first.distanceTo(e.containerPoint) <= CLOSE_PX) {
        finishDrawing();
        return;
      }
    }
    points.push(e.latlng);
    redraw();
  });
  map.on("dblclick", () => {
    // The double-click's two clicks added the same corner twice: keep one, then close.
    if (!view.drawing) return;
    if (points.length >= 2 && points[points.length - 1].equals(points[points.length - 2])) points.pop();
    redraw();
    finishDrawing();
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && view.drawing && !document.querySelector("dialog[open]")) stop();
  });
  button.addEventListener("click", () => (view.drawing ? stop() : start()));
}

function round6(x) {
  return Math.round(x * 1e6) / 1e6;
}
