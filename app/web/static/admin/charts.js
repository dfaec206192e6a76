// Small hand-written SVG charts: a rate line chart over days (with ticket-count bars) and the
// grid map coloured by overdue open tickets. No library: our own GeoJSON, over optional map tiles
// (settings.web.tile_url, an XYZ template in Web Mercator with WGS-84 coordinates).
import { centroid, gridLabel, h, pct, polygonPoints, projection, s } from "../web/api.js";

/**
 * days: [{label, tickets, series: {key: rate|null}}]; lines: [{key, name, color}].
 * Rates are 0..1 on the left axis; tickets are grey bars scaled to the tallest day.
 */
export function trendChart(days, lines) {
  const W = 560;
  const H = 220;
  const L = 40;
  const R = 10;
  const T = 10;
  const B = 28;
  const step = (W - L - R) / Math.max(days.length, 1);
  const x = (i) => L + step * (i + 0.5);
  const y = (rate) => T + (1 - rate) * (H - T - B);
  const maxTickets = Math.max(1, ...days.map((d) => d.tickets));
  const grid = [0, 0.5, 1].map((r) => [
    s("line", { class: "axis", x1: L, x2: W - R, y1: y(r), y2: y(r) }),
    s("text", { x: L - 4, y: y(r) + 4, "text-anchor": "end" }, `${r * 100}%`),
  ]);
  const bars = days.map((d, i) => {
    const bh = (d.tickets / maxTickets) * (H - T - B) * 0.5;
    return s(
      "rect",
      { x: x(i) - step * 0.3, y: H - B - bh, width: step * 0.6, height: bh, fill: "#e6e2dc" },
      s("title", null, `${d.label}：${d.tickets} 件`),
    );
  });
  const paths = lines.map(({ key, name, color }) => {
    // A day without due tickets has no rate: the line breaks there instead of dropping to 0.
    let dpath = "";
    let pen = "M";
    const dots = [];
    days.forEach((d, i) => {
      const v = d.series[key];
      if (v === null || v === undefined) {
        pen = "M";
        return;
      }
      dpath += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)} `;
      pen = "L";
      dots.push(s("circle", { cx: x(i), cy: y(v), r: 3, fill: color }, s("title", null, `${d.label} ${name} ${pct(v)}`)));
    });
    return [s("path", { d: dpath, fill: "none", stroke: color, "stroke-width": 2 }), dots];
  });
  const labels = days.map((d, i) =>
    i % Math.ceil(days.length / 10) === 0 ? s("text", { x: x(i), y: H - 8, "text-anchor": "middle" }, d.label) : null,
  );
  return s("svg", { class: "chart", id: "trend", viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": "趋势图" }, grid, bars, paths, labels);
}

export const overdueColor = (open, overdue) => (overdue > 0 ? "#e35d6a" : open > 0 ? "#ffe08a" : "#cfe8d5");

/** grids: GridRead list (WGS-84); counts: Map grid_id -> {open, overdue}. */
// Web Mercator tile numbers (fractional) of a point, and the point of a tile corner, at zoom z.
const tileX = (lng, n) => ((lng + 180) / 360) * n;
const tileY = (lat, n) => {
  const r = (lat * Math.PI) / 180;
  return ((1 - Math.log(Math.tan(r) + 1 / Math.cos(r)) / Math.PI) / 2) * n;
};
const tileLng = (x, n) => (x / n) * 360 - 180;
const tileLat = (y, n) => (Math.atan(Math.sinh(Math.PI * (1 - (2 * y) / n))) * 180) / Math.PI;

/** <image> tiles covering the projection's bounding box, about 256 px each on screen. */
export function tileLayer(proj, url) {
  const [minX, minY, maxX, maxY] = proj.bbox;
  const z = Math.max(3, Math.min(19, Math.round(Math.log2(((proj.width / 256) * 360) / Math.max(maxX - minX, 1e-6)))));
  const n = 2 ** z;
  const images = [];
  for (let x = Math.floor(tileX(minX, n)); x <= Math.floor(tileX(maxX, n)); x++) {
    for (let y = Math.floor(tileY(maxY, n)); y <= Math.floor(tileY(minY, n)); y++) {
      const [x0, y0] = proj.toXY([tileLng(x, n), tileLat(y, n)]);
      const [x1, y1] = proj.toXY([tileLng(x + 1, n), tileLat(y + 1, n)]);
      const href = url.replace("{z}", z).replace("{x}", x).replace("{y}", y);
      images.push(s("image", { href, x: x0, y: y0, width: x1 - x0, height: y1 - y0, preserveAspectRatio: "none" }));
    }
  }
  return s("g", { class: "tiles" }, images);
}

export function gridMap(grids, counts, tiles = {}) {
  const proj = projection(grids, 560);
  const shapes = grids.map((g) => {
    const c = counts.get(g.id) || { open: 0, overdue: 0 };
    const fill = overdueColor(c.open, c.overdue);
    const pts = polygonPoints(g.boundary, proj);
    const [cx, cy] = proj.toXY(centroid(g.boundary));
    const shape = { fill, stroke: "#555", "stroke-width": 1, "fill-opacity": tiles.tile_url ? 0.55 : 1 };
    return s(
      "g",
      { "data-grid": g.code, "data-open": c.open, "data-overdue": c.overdue },
      pts.map((p) => s("polygon", { ...shape, points: p })),
      s("title", null, `${g.name}：未办结 ${c.open} 件，超时 ${c.overdue} 件`),
      gridLabel(g.name).map((line, i) => s("text", { x: cx, y: cy - 8 + i * 13, "text-anchor": "middle" }, line)),
      s("text", { x: cx, y: cy + 20, "text-anchor": "middle" }, c.open ? `${c.open}件${c.overdue ? `/超${c.overdue}` : ""}` : ""),
    );
  });
  return h(
    "div",
    null,
    s(
      "svg",
      { class: "chart map", id: "grid-map", viewBox: `0 0 ${proj.width} ${proj.height}`, role: "img", "aria-label": "网格地图" },
      tiles.tile_url ? tileLayer(proj, tiles.tile_url) : null,
      shapes,
    ),
    tiles.tile_attribution ? h("p", { class: "muted attribution" }, tiles.tile_attribution) : null,
    h(
      "div",
      { class: "legend muted" },
      h("span", null, h("i", { class: "sw-green" }), "无未办结"),
      h("span", null, h("i", { class: "sw-yellow" }), "有未办结"),
      h("span", null, h("i", { class: "sw-red" }), "有超时"),
    ),
  );
}
