"""The live page: one HTML document with inline CSS and JS; the first snapshot is inline, the
rest arrive as Server-Sent Events and update the cards in place (no reload)."""

from __future__ import annotations

import html
import json
from typing import Any

CSS = """
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f4f6;color:#222}
header{position:sticky;top:0;background:#1f2430;color:#eee;padding:10px 16px;z-index:2;
display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header h1{font-size:18px;margin:0}#status{font-size:13px;color:#bbb}
#filter{padding:4px 8px;border-radius:4px;border:0;width:220px}
#errors{background:#f8d7da;color:#611;border-left:5px solid #b22222;margin:12px 16px;
padding:8px 12px;font:13px/1.5 ui-monospace,monospace;white-space:pre-wrap}
#errors[hidden]{display:none}
main{padding:4px 16px 16px}section h2{font-size:15px;margin:14px 0 6px;color:#555;
text-transform:capitalize}
.grid{display:flex;flex-wrap:wrap;gap:12px}
.card{background:#fff;border-radius:8px;padding:10px;box-shadow:0 1px 3px #0002;
min-width:200px;max-width:560px}
.card h3{font-size:15px;margin:0 0 2px}.card.fresh{outline:3px solid #2e8b57}
.card.failed{outline:3px solid #b22222}
.why{font-size:12px;color:#555;margin:2px 0 6px}.err{font-size:12px;color:#b22222}
.pair{display:flex;gap:8px;align-items:flex-start;margin:4px 0}
figure{margin:0;text-align:center;font-size:11px;color:#777}
figure img{width:128px;height:auto;display:block;image-rendering:pixelated;
background:repeating-conic-gradient(#ccc 0 25%,#fff 0 50%) 0 0/16px 16px}
.preview img{width:264px}
.cands{display:flex;gap:4px;flex-wrap:wrap;margin-top:6px;align-items:center}
.cands .label{font-size:11px;color:#777}
.cands button{padding:0;border:2px solid transparent;background:none;cursor:pointer}
.cands button.picked{border-color:#2e8b57}.cands img{width:48px;display:block}
.hidden{display:none}
"""

JS = r"""
const token = document.querySelector('meta[name="assetforge-token"]').content;
const main = document.querySelector('main');
const filter = document.getElementById('filter');
const errors = document.getElementById('errors');
const status = document.getElementById('status');
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v; else if (k === 'text') e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const kid of kids) if (kid) e.append(kid);
  return e;
};
function setImg(img, url, hash) {
  // only a new hash changes the src: unchanged images never flicker or reload
  if (img.dataset.hash !== (hash || '')) { img.dataset.hash = hash || ''; img.src = url || ''; }
  img.classList.toggle('hidden', !url);
}
function section(kind) {
  let s = document.getElementById('kind-' + kind);
  if (!s) {
    s = el('section', {id: 'kind-' + kind}, el('h2', {text: kind || 'assets'}),
           el('div', {class: 'grid'}));
    main.append(s);
  }
  return s.querySelector('.grid');
}
function figure(cls, label) {
  return el('figure', {class: cls}, el('img', {alt: label}), el('figcaption', {text: label}));
}
function card(a) {
  let c = document.getElementById('asset-' + a.id);
  if (!c) {
    c = el('div', {class: 'card', id: 'asset-' + a.id, 'data-id': a.id},
           el('h3', {text: a.id}), el('div', {class: 'why'}),
           // kind-specific preview (a terrain set's sample map, an animation) when present
           figure('preview hidden', 'preview'), el('div', {class: 'outs'}),
           el('div', {class: 'err'}), el('div', {class: 'cands'}));
    section(a.kind).append(c);
  }
  return c;
}
function update(a, builds) {
  const c = card(a);
  c.dataset.status = a.status;
  c.classList.toggle('fresh', a.built_at === builds - 1 && a.status !== 'up-to-date');
  c.classList.toggle('failed', a.status === 'failed');
  // what the last rebuild did and why, kept while later builds leave the asset up to date
  const last = a.status === 'up-to-date' && a.last ? a.last : a.status;
  c.querySelector('.why').textContent = a.reason ? last + ': ' + a.reason : a.status;
  const pv = c.querySelector('.preview');
  pv.classList.toggle('hidden', !a.preview);
  if (a.preview) setImg(pv.querySelector('img'), a.preview, a.preview);
  const outs = c.querySelector('.outs');
  const want = a.outputs.filter(o => o.image);
  for (const o of want) {
    let p = outs.querySelector(`[data-path="${CSS.escape(o.path)}"]`);
    if (!p) {
      p = el('div', {class: 'pair', 'data-path': o.path},
             figure('new', o.path), figure('prev', 'before'));
      outs.append(p);
    }
    setImg(p.querySelector('.new img'), o.url, o.hash);
    setImg(p.querySelector('.prev img'), o.prev_url, o.prev_hash);
    p.querySelector('.prev').classList.toggle('hidden', !o.prev_url);
  }
  for (const p of [...outs.children]) {
    if (!want.some(o => o.path === p.dataset.path)) p.remove();
  }
  c.querySelector('.err').textContent = a.errors.join('\n');
  const strip = c.querySelector('.cands');
  strip.replaceChildren(...(a.candidates.length ? [el('span', {class: 'label',
    text: 'candidates:'})] : []), ...a.candidates.map(k => {
    const b = el('button', {class: 'cand' + (k.picked ? ' picked' : ''), title:
                 'candidate ' + k.index + ' (seed ' + k.seed + '): click to pick',
                 'data-index': k.index}, el('img', {src: k.url, alt: 'candidate ' + k.index}));
    b.addEventListener('click', () => pick(a.id, k.index));
    return b;
  }));
  applyFilter(c);
}
function applyFilter(c) {
  const q = filter.value.trim().toLowerCase();
  c.classList.toggle('hidden', q !== '' && !c.dataset.id.toLowerCase().includes(q));
}
function render(s) {
  document.body.dataset.version = s.version;
  document.body.dataset.builds = s.builds;
  status.textContent = (s.building ? 'building' : 'watching') +
    (s.changed.length ? ' · changed: ' + s.changed.join(', ') : '') + ' · builds: ' + s.builds;
  errors.hidden = !s.errors.length;
  errors.textContent = s.errors.join('\n');
  if (!s.building || s.assets.length) {
    const ids = new Set(s.assets.map(a => a.id));
    for (const a of s.assets) update(a, s.builds);
    for (const c of document.querySelectorAll('.card')) if (!ids.has(c.dataset.id)) c.remove();
  }
}
async function pick(id, index) {
  const r = await fetch('/api/pick', {method: 'POST', headers: {
    'Content-Type': 'application/json', 'X-AssetForge-Token': token},
    body: JSON.stringify({asset: id, index})});
  if (!r.ok) { errors.hidden = false; errors.textContent = (await r.json()).error; }
}
filter.addEventListener('input', () => document.querySelectorAll('.card').forEach(applyFilter));
render(JSON.parse(document.getElementById('initial').textContent));
const events = new EventSource('/events');
events.addEventListener('state', e => render(JSON.parse(e.data)));
"""


def render(snapshot: dict[str, Any], token: str) -> str:
    title = html.escape(f"{snapshot['project']}: live assets")
    data = json.dumps(snapshot).replace("<", "\\u003c")
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="assetforge-token" content="{html.escape(token)}">'
            f"<title>{title}</title><style>{CSS}</style></head><body>"
            f'<header><h1>{title}</h1><input id="filter" type="search" '
            f'placeholder="filter by id" aria-label="filter by id"><span id="status"></span>'
            f'</header><div id="errors" role="alert" hidden></div><main></main>'
            f'<script type="application/json" id="initial">{data}</script>'
            f"<script>{JS}</script></body></html>")
