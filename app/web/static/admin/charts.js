// Small hand-written SVG charts: a rate line chart over days (with ticket-count bars) and the
// grid map coloured by overdue open tickets. No library, no tiles: our own GeoJSON only.
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
export function gridMap(grids, counts) {
  const proj = projection(grids, 560);
  const shapes = grids.map((g) => {
    const c = counts.get(g.id) || { open: 0, overdue: 0 };
    const fill = overdueColor(c.open, c.overdue);
    const pts = polygonPoints(g.boundary, proj);
    const [cx, cy] = proj.toXY(centroid(g.boundary));
    return s(
      "g",
      { "data-grid": g.code, "data-open": c.open, "data-overdue": c.overdue },
      pts.map((p) => s("polygon", { points: p, fill, stroke: "#555", "stroke-width": 1 })),
      s("title", null, `${g.name}：未办结 ${c.open} 件，超时 ${c.overdue} 件`),
      gridLabel(g.name).map((line, i) => s("text", { x: cx, y: cy - 8 + i * 13, "text-anchor": "middle" }, line)),
      s("text", { x: cx, y: cy + 20, "text-anchor": "middle" }, c.open ? `${c.open}件${c.overdue ? `/超${c.overdue}` : ""}` : ""),
    );
  });
  return h(
    "div",
    null,
    s("svg", { class: "chart map", id: "grid-map", viewBox: `0 0 ${proj.width} ${proj.height}`, role: "img", "aria-label": "网格地图" }, shapes),
    h(
      "div",
      { class: "legend muted" },
      h("span", null, h("i", { class: "sw-green" }), "无未办结"),
      h("span", null, h("i", { class: "sw-yellow" }), "有未办结"),
      h("span", null, h("i", { class: "sw-red" }), "有超时"),
    ),
  );
}
