/** Plain-SVG charts for the summary. */

const SVG = 'http://www.w3.org/2000/svg';

function el<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Colours by the weight's role (the last part of the module name). */
const ROLE_COLORS: Record<string, string> = {
  q_proj: '#4e79a7', k_proj: '#59a14f', v_proj: '#9c755f', o_proj: '#f28e2b',
  gate_proj: '#e15759', up_proj: '#76b7b2', down_proj: '#b07aa1', lm_head: '#edc948',
};

export interface Bar {
  readonly label: string;
  readonly value: number;
}

/**
 * A horizontal bar chart of relative errors (as %), one bar per weight, in
 * the order given; bars are coloured by projection so patterns across
 * layers stand out.
 */
export function errorBarChart(bars: readonly Bar[]): SVGSVGElement {
  const rowH = 14;
  const labelW = Math.min(340, 8 + 6.2 * Math.max(10, ...bars.map((b) => b.label.length)));
  const plotW = 360;
  const top = 22;
  const width = labelW + plotW + 70;
  const height = top + rowH * bars.length + 8;
  const max = Math.max(...bars.map((b) => b.value), Number.MIN_VALUE);
  const svg = el('svg', { width, height, viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'chart' });
  svg.append(el('text', { x: labelW, y: 14, class: 'chart-title' }, 'relative error ‖W − Q(W)‖ / ‖W‖ per weight'));
  bars.forEach((b, i) => {
    const y = top + i * rowH;
    const role = b.label.replace(/\.weight$/, '').split('.').pop() ?? '';
    const w = Math.max(1, (b.value / max) * plotW);
    const g = el('g', { class: 'bar' });
    g.append(el('title', {}, `${b.label}: ${(b.value * 100).toFixed(4)}%`));
    g.append(el('text', { x: labelW - 6, y: y + rowH - 4, 'text-anchor': 'end', class: 'chart-label' }, b.label.replace(/^model\./, '').replace(/\.weight$/, '')));
    g.append(el('rect', { x: labelW, y: y + 2, width: w, height: rowH - 4, fill: ROLE_COLORS[role] ?? '#8c8c8c' }));
    g.append(el('text', { x: labelW + w + 4, y: y + rowH - 4, class: 'chart-value' }, `${(b.value * 100).toFixed(2)}%`));
    svg.append(g);
  });
  return svg;
}
