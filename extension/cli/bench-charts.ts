// Small SVG charts for the benchmark report, written by hand (no chart library): grouped bars and lines. Pure.

export interface BarGroup {
  label: string;
  values: { series: string; value: number }[];
}

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
}

const PALETTE = ['#3b6fb6', '#e08a2c', '#4c9f50', '#b5443c', '#7d5ba6', '#8c6d31', '#555555'];
const WIDTH = 720;
const HEIGHT = 380;
const MARGIN = { left: 64, right: 170, top: 40, bottom: 70 };

function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** A "nice" step for about `ticks` divisions of [0, max]. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const norm = raw / mag;
  return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

function frame(title: string, yLabel: string, yMax: number, body: string[], legend: string[]): string {
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const step = niceStep(yMax, 5);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    `<text transform="translate(16 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  ];
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    const y = MARGIN.top + plotH - (v / yMax) * plotH;
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="#e3e3e3"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${(y + 4).toFixed(1)}" text-anchor="end">${+v.toFixed(6)}</text>`);
  }
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="black"/>`);
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${MARGIN.top + plotH}" y2="${MARGIN.top + plotH}" stroke="black"/>`);
  out.push(...body);
  legend.forEach((name, i) => {
    const y = MARGIN.top + 8 + i * 18;
    const x = MARGIN.left + plotW + 14;
    out.push(`<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${PALETTE[i % PALETTE.length]}"/>`);
    out.push(`<text x="${x + 18}" y="${y + 1}">${escapeXml(name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Grouped bars; `reference` draws a dashed horizontal line (e.g. speedup 1.0). */
export function barChart(title: string, yLabel: string, groups: BarGroup[], reference?: number): string {
  const series = [...new Set(groups.flatMap((g) => g.values.map((v) => v.series)))];
  const yMax = Math.max(reference ?? 0, ...groups.flatMap((g) => g.values.map((v) => v.value)), 1e-9) * 1.1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const groupW = plotW / Math.max(1, groups.length);
  const barW = (groupW * 0.8) / Math.max(1, series.length);
  const body: string[] = [];
  groups.forEach((g, gi) => {
    const x0 = MARGIN.left + gi * groupW + groupW * 0.1;
    for (const v of g.values) {
      const si = series.indexOf(v.series);
      const h = (v.value / yMax) * plotH;
      const x = x0 + si * barW;
      const y = MARGIN.top + plotH - h;
      body.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${h.toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${escapeXml(`${g.label} ${v.series}: ${v.value.toFixed(3)}`)}</title></rect>`);
      body.push(`<text x="${(x + barW / 2 - 1).toFixed(1)}" y="${(y - 3).toFixed(1)}" text-anchor="middle" font-size="10">${v.value >= 100 ? v.value.toFixed(0) : v.value.toFixed(2)}</text>`);
    }
    const lx = x0 + (groupW * 0.8) / 2;
    body.push(`<text transform="translate(${lx.toFixed(1)} ${MARGIN.top + plotH + 14}) rotate(20)" font-size="11">${escapeXml(g.label)}</text>`);
  });
  if (reference !== undefined) {
    const y = MARGIN.top + plotH - (reference / yMax) * plotH;
    body.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotW}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" stroke="black" stroke-dasharray="5,4"/>`);
  }
  return frame(title, yLabel, yMax, body, series);
}

/** Lines over a numeric x axis (e.g. verification cost vs k). */
export function lineChart(title: string, xLabel: string, yLabel: string, lines: LineSeries[]): string {
  const xs = lines.flatMap((l) => l.points.map((p) => p.x));
  const xMin = Math.min(...xs, 0);
  const xMax = Math.max(...xs, 1);
  const yMax = Math.max(...lines.flatMap((l) => l.points.map((p) => p.y)), 1e-9) * 1.1;
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number): number => MARGIN.top + plotH - (y / yMax) * plotH;
  const body: string[] = [];
  const xStep = niceStep(xMax - xMin, 8);
  for (let x = Math.ceil(xMin / xStep) * xStep; x <= xMax + 1e-9; x += xStep) {
    body.push(`<text x="${sx(x).toFixed(1)}" y="${MARGIN.top + plotH + 16}" text-anchor="middle">${+x.toFixed(6)}</text>`);
  }
  body.push(`<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 24}" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  lines.forEach((l, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = [...l.points].sort((a, b) => a.x - b.x);
    body.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.y).toFixed(1)}`).join(' ')}"/>`);
    for (const p of pts) {
      body.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="3" fill="${color}"><title>${escapeXml(`${l.name}: x=${p.x} y=${p.y.toFixed(3)}`)}</title></circle>`);
    }
  });
  return frame(title, yLabel, yMax, body, lines.map((l) => l.name));
}
