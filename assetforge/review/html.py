"""The review page: one self-contained ``index.html`` (inline CSS and JS, data inline as JSON,
images beside it), so it works from ``file://`` with no network."""

from __future__ import annotations

import html
import json
from typing import Any

CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f6;color:#222}
header{position:sticky;top:0;background:#1f2430;color:#eee;padding:10px 16px;z-index:2}
header h1{font-size:18px;margin:0 0 6px}header label{margin-right:12px;white-space:nowrap}
main{padding:12px 16px}.card{background:#fff;border-radius:8px;padding:12px;margin:0 0 14px;
box-shadow:0 1px 3px #0002}.card h2{font-size:16px;margin:0 0 4px}
.badge{font-size:12px;padding:1px 7px;border-radius:9px;color:#fff;margin-left:6px}
.new{background:#2e8b57}.changed{background:#d2691e}.removed{background:#b22222}
.why{margin:2px 0;color:#444}.fields code{background:#eef;padding:0 3px;margin-right:4px}
dl{display:grid;grid-template-columns:max-content 1fr;gap:0 10px;margin:6px 0}dt{color:#777}
dd{margin:0}.qa span{display:inline-block;margin:2px 6px 2px 0;padding:0 6px;border-radius:4px}
.pass{background:#e4f5e9}.warn{background:#fff3cd}.fail{background:#f8d7da}
.views{display:flex;flex-wrap:wrap;gap:14px;align-items:flex-start;margin-top:8px}
figure{margin:0;text-align:center;font-size:12px;color:#666}
.checker{background:repeating-conic-gradient(#ccc 0 25%,#fff 0 50%) 0 0/16px 16px}
img.thumb{width:160px;height:auto;cursor:zoom-in;display:block}
.pixelated img,img.pixelated{image-rendering:pixelated}
.stack{position:relative;width:200px;line-height:0}.stack img{width:200px;height:auto}
.stack img.top{position:absolute;left:0;top:0}
input[type=range]{width:200px;display:block}
#lightbox{position:fixed;inset:0;background:#000c;display:none;align-items:center;
justify-content:center;z-index:5;cursor:zoom-out}#lightbox.open{display:flex}
#lightbox img{max-width:95vw;max-height:95vh}
.cands{display:flex;flex-wrap:wrap;gap:10px}.cands code{font-size:11px}
.hidden{display:none}
"""

JS = r"""
const data = JSON.parse(document.getElementById('review-data').textContent);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid) e.append(kid);
  return e;
};
const box = document.getElementById('lightbox');
const boxImg = box.querySelector('img');
box.addEventListener('click', () => box.classList.remove('open'));
function thumb(src, label, pixelated) {
  const img = el('img', {src, alt: label, class: 'thumb' + (pixelated ? ' pixelated' : '')});
  img.addEventListener('click', () => {
    boxImg.src = src;
    boxImg.className = pixelated ? 'pixelated' : '';
    const scale = Math.max(1, Math.floor(512 / Math.max(img.naturalWidth, 1)));
    boxImg.style.width = (img.naturalWidth * scale) + 'px';
    box.classList.add('open');
  });
  return el('figure', {}, el('div', {class: 'checker'}, img), el('figcaption', {text: label}));
}
function stack(it, cls, label, apply, initial) {
  const top = el('img', {src: it.images.new, alt: 'new', class: 'top'});
  const s = el('div', {class: 'stack checker ' + cls}, el('img', {src: it.images.old, alt: 'old'}),
               top);
  const range = el('input', {type: 'range', min: '0', max: '100', value: String(initial),
                             class: cls + '-range', 'aria-label': label});
  const update = () => apply(top, Number(range.value));
  range.addEventListener('input', update);
  update();
  return el('figure', {class: it.pixelated ? 'pixelated' : ''}, s, range,
            el('figcaption', {text: label}));
}
function card(it) {
  const c = el('section', {class: 'card', id: 'item-' + it.key, 'data-status': it.status,
                           'data-kind': it.kind || ''});
  c.append(el('h2', {}, document.createTextNode(it.key),
              el('span', {class: 'badge ' + it.status, text: it.status})));
  for (const r of it.reasons) c.append(el('p', {class: 'why', text: r}));
  if (it.fields.length) {
    const f = el('p', {class: 'fields'}, document.createTextNode('changed fields: '));
    for (const name of it.fields) f.append(el('code', {class: 'field', text: name}));
    c.append(f);
  }
  const dl = el('dl');
  const row = (k, v) => { if (v !== null && v !== undefined && v !== '')
    dl.append(el('dt', {text: k}), el('dd', {text: String(v)})); };
  row('asset', it.asset); row('kind', it.kind); row('output', it.output);
  row('prompt', it.prompt); row('seed', it.seed); row('model', it.model);
  if (it.diff_fraction !== null) row('pixels changed', (100 * it.diff_fraction).toFixed(1) + '%');
  c.append(dl);
  const checks = Object.entries(it.checks || {});
  if (checks.length) {
    const qa = el('p', {class: 'qa'});
    for (const [name, r] of checks) {
      const cls = r.passed ? 'pass' : (r.severity === 'warn' ? 'warn' : 'fail');
      qa.append(el('span', {class: 'check ' + cls, title: r.message || '',
                            text: name + ': ' + (r.passed ? 'ok' : cls)}));
    }
    c.append(qa);
  }
  const v = el('div', {class: 'views'});
  if (it.images.old && it.images.new) {
    v.append(thumb(it.images.old, 'before', it.pixelated),
             thumb(it.images.new, 'after', it.pixelated));
    if (it.images.diff) v.append(thumb(it.images.diff, 'difference', it.pixelated));
    v.append(stack(it, 'swipe', 'swipe: before | after',
                   (top, val) => { top.style.clipPath = `inset(0 ${100 - val}% 0 0)`; }, 50));
    v.append(stack(it, 'onion', 'onion skin: after opacity',
                   (top, val) => { top.style.opacity = String(val / 100); }, 50));
  } else if (it.images.new) v.append(thumb(it.images.new, 'new', it.pixelated));
  else if (it.images.old) v.append(thumb(it.images.old, 'removed', it.pixelated));
  c.append(v);
  return c;
}
const main = document.querySelector('main');
const byKey = Object.fromEntries(data.items.map(it => [it.key, it]));
for (const a of data.animations || []) {  // the animation playing, beside its frames
  const sec = el('section', {class: 'card', 'data-status': 'animations', 'data-kind': ''},
                 el('h2', {text: `${a.asset}/${a.name} (${a.fps} fps, ${a.loop})`}));
  const row = el('div', {class: 'cands'});
  row.append(thumb(a.image, 'animation', false));
  for (const key of a.frames) {
    const it = byKey[key];
    if (it && it.images.new) row.append(thumb(it.images.new, key, it.pixelated));
  }
  sec.append(row);
  main.append(sec);
}
for (const it of data.items) main.append(card(it));
if (data.candidates.length) {
  const sec = el('section', {class: 'card', id: 'candidates', 'data-status': 'candidates',
                             'data-kind': ''}, el('h2', {text: 'Seed candidates'}));
  const row = el('div', {class: 'cands'});
  for (const c of data.candidates) {
    const f = thumb(c.image, `${c.job} #${c.index} (seed ${c.seed})`, false);
    f.append(el('code', {text: c.pick}));
    row.append(f);
  }
  sec.append(row);
  main.append(sec);
}
if (!data.items.length && !data.candidates.length)
  main.append(el('p', {text: 'No asset changed against ' + data.base + '.'}));
const counter = document.getElementById('shown');
function applyFilters() {
  const statuses = new Set([...document.querySelectorAll('.f-status:checked')].map(e => e.value));
  const kind = document.getElementById('f-kind').value;
  let shown = 0;
  for (const c of document.querySelectorAll('main > .card')) {
    const extra = c.dataset.status === 'candidates' || c.dataset.status === 'animations';
    const ok = (statuses.has(c.dataset.status) || c.dataset.status === 'animations') &&
               (!kind || c.dataset.kind === kind || extra);
    c.classList.toggle('hidden', !ok);
    if (ok) shown++;
  }
  counter.textContent = shown + ' shown';
}
const kinds = [...new Set(data.items.map(i => i.kind).filter(Boolean))].sort();
const sel = document.getElementById('f-kind');
for (const k of kinds) sel.append(el('option', {value: k, text: k}));
document.querySelectorAll('.f-status, #f-kind')
  .forEach(e => e.addEventListener('change', applyFilters));
applyFilters();
"""


def render(data: dict[str, Any], title: str) -> str:
    """The page for ``Review.as_dict()`` (with image paths filled in)."""
    payload = json.dumps(data).replace("</", "<\\/")
    s = data["summary"]
    boxes = "".join(
        f'<label><input type="checkbox" class="f-status" value="{st}" checked> {st} '
        f'({s.get(st, 0)})</label>' for st in ("new", "changed", "removed", "candidates"))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>{html.escape(title)}</title><style>{CSS}</style></head>
<body><header><h1>{html.escape(title)}</h1>
<div>{s['new']} new, {s['changed']} changed, {s['removed']} removed, {s['unchanged']} unchanged
against {html.escape(data['base'])}; QA: {s['failures']} failed, {s['warnings']} warnings</div>
<div class="filters">{boxes}<label>kind <select id="f-kind"><option value="">all</option>
</select></label> <span id="shown"></span></div></header>
<main></main>
<div id="lightbox"><img alt="full size"></div>
<script id="review-data" type="application/json">{payload}</script>
<script>{JS}</script>
</body></html>
"""
