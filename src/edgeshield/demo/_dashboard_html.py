"""Server-rendered pages of the dashboard, with inline CSS and an inline chart script.

Kept apart from the routes so that the HTML can be read in one place; every value from a
run is escaped (text with :func:`html.escape`, embedded JSON with ``<``, ``>`` and ``&``
turned into unicode escapes) because a run directory is data, not markup.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import quote

__all__ = ["index_page", "run_page"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1d2733;
 background:#f4f6f8}
header{background:#16324f;color:#fff;padding:14px 28px}header a{color:#fff;text-decoration:none}
main{max-width:1100px;margin:0 auto;padding:20px 28px}
h1{font-size:1.35em;margin:0}h2{font-size:1.1em;margin:28px 0 10px}
table{border-collapse:collapse;width:100%;background:#fff;font-size:.92em}
th,td{border-bottom:1px solid #dde3e8;padding:7px 10px;text-align:left;vertical-align:top}
th{background:#e9eef2}.ok{color:#17753a;font-weight:600}.bad{color:#b3261e;font-weight:600}
.card{background:#fff;border:1px solid #dde3e8;border-radius:6px;padding:12px;margin:10px 0}
canvas{width:100%;background:#fff;border:1px solid #dde3e8;border-radius:6px}
.plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:14px}
.plots img{width:100%;background:#fff;border:1px solid #dde3e8;border-radius:6px}
code{font-family:ui-monospace,Menlo,monospace;font-size:.85em;color:#46525e}
.empty{color:#6b7785;font-style:italic}
.verdict{border-left:4px solid #16324f}.note{border-left:4px solid #d9822b}
table.fig{width:auto;margin:6px 0;font-size:.8em;background:#fbfcfd}
table.fig th,table.fig td{padding:2px 6px;border-bottom:1px solid #eef1f4}
table.fig th{background:#f1f4f7;font-weight:600}
details>summary{cursor:pointer;color:#1f6fb2;font-size:.85em;margin-top:4px}
.plots a{display:block;cursor:zoom-in}
.lightbox{display:none;position:fixed;inset:0;background:rgba(16,24,32,.85);z-index:10;
 align-items:center;justify-content:center;flex-direction:column}
.lightbox:target{display:flex}
.lightbox img{max-width:96vw;max-height:90vh;background:#fff;border-radius:4px}
.lightbox a{color:#fff;margin:8px;font-size:1.1em}
"""

# Draws horizontal bars ({label, value, ok}) and a ledger timeline ({contract, event, block})
# on <canvas> elements, from the JSON embedded in the page.
_SCRIPT = """
(function(){
const data=JSON.parse(document.getElementById('dashboard-data').textContent);
function setup(id,h){const c=document.getElementById(id);if(!c)return null;
 const r=window.devicePixelRatio||1,w=c.clientWidth||800;c.width=w*r;c.height=h*r;
 c.style.height=h+'px';const g=c.getContext('2d');g.scale(r,r);
 g.font='12px system-ui,sans-serif';return {c:c,g:g,w:w,h:h};}
function bars(id,rows,unit){if(!rows.length)return;const row=24,s=setup(id,rows.length*row+30);
 if(!s)return;const g=s.g,left=Math.min(260,s.w*0.4),width=s.w-left-70;
 const max=Math.max(...rows.map(r=>r.value),1e-9);
 rows.forEach((r,i)=>{const y=10+i*row;g.fillStyle='#1d2733';g.textBaseline='middle';
  g.fillText(r.label.slice(0,38),8,y+row/2-2);
  const w=Math.max(2,width*r.value/max);g.fillStyle=r.ok?'#2e7d4f':'#c0392b';
  g.fillRect(left,y+3,w,row-10);g.fillStyle='#46525e';
  g.fillText(r.value.toFixed(1)+' '+unit,left+w+6,y+row/2-2);});}
function timeline(id,events){if(!events.length)return;
 const lane=64,levels=3;
 const lanes=[...new Set(events.map(e=>e.contract))];const s=setup(id,lanes.length*lane+40);
 if(!s)return;const g=s.g,left=150,width=s.w-left-30;
 const blocks=events.map(e=>Number(e.block)||0),lo=Math.min(...blocks),hi=Math.max(...blocks);
 const x=b=>left+(hi>lo?(b-lo)/(hi-lo):0.5)*width;
 const hues=['#1f6fb2','#d9822b','#2e7d4f','#8e44ad'];
 lanes.forEach((l,i)=>{const y=20+i*lane;g.strokeStyle='#dde3e8';g.beginPath();
  g.moveTo(left,y);g.lineTo(left+width,y);g.stroke();g.fillStyle='#1d2733';
  g.textBaseline='middle';g.fillText(l,8,y);});
 events.forEach(e=>{const i=lanes.indexOf(e.contract),y=20+i*lane,px=x(Number(e.block)||0);
  g.fillStyle=hues[i%hues.length];g.beginPath();g.arc(px,y,5,0,2*Math.PI);g.fill();});
 // One label per contract and event (first block, count), at the first free level below
 // its lane; a label with no free level is left out (the table lists every event).
 const groups=new Map();events.forEach(e=>{const k=e.contract+'|'+e.event,o=groups.get(k);
  if(o){o.n++;}else{groups.set(k,{lane:lanes.indexOf(e.contract),
   text:String(e.event).slice(0,24),block:Number(e.block)||0,n:1});}});
 const placed=[],hit=(a,b)=>a.x<b.x+b.w&&b.x<a.x+a.w&&a.y<b.y+b.h&&b.y<a.y+a.h;
 g.font='11px system-ui,sans-serif';g.fillStyle='#46525e';
 [...groups.values()].sort((a,b)=>a.block-b.block).forEach(o=>{
  const text=o.text+(o.n>1?' \u00d7'+o.n:''),w=g.measureText(text).width+4;
  const px=Math.min(x(o.block)-2,s.w-w-2);
  for(let k=0;k<levels;k++){const r={x:px,y:20+o.lane*lane+9+k*13,w:w,h:13};
   if(!placed.some(p=>hit(p,r))){placed.push(Object.assign({text:text},r));
    g.fillText(text,r.x+2,r.y+r.h/2);break;}}});
 s.c.dataset.labels=JSON.stringify(placed);
 g.fillStyle='#6b7785';g.fillText('block '+lo,left,s.h-10);
 g.fillText('block '+hi,left+width-60,s.h-10);}
if(data.runs){bars('chart-runs',data.runs.map(r=>({label:r.run_id,value:r.seconds||0,
 ok:!r.failed})),'s');}
if(data.run){bars('chart-steps',data.run.steps.map(s=>({label:s.title||s.key,
 value:Number(s.seconds)||0,ok:true})),'s');timeline('chart-ledger',data.run.chain_events);}
})();
"""


def _json(value: Any) -> str:
    """JSON safe to embed in a ``<script>`` element."""
    text = json.dumps(value, default=str)
    return text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")


def _page(title: str, body: str, data: dict[str, Any]) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>"
        "<header><h1><a href='/'>EdgeShield dashboard</a></h1></header>"
        f"<main>{body}</main>"
        f"<script type='application/json' id='dashboard-data'>{_json(data)}</script>"
        f"<script>{_SCRIPT}</script></body></html>"
    )


def _dataset(dataset: dict[str, str] | None) -> str:
    """A card naming a run's dataset schema when it is not AI4I 2020's (nothing for AI4I)."""
    if not dataset:
        return ""
    return (
        f"<div class='card' id='dataset'>Dataset schema <code>{escape(dataset['name'])}</code> "
        f"({escape(dataset['sha256'])}); positive class '{escape(dataset['positive'])}': "
        "every F1 is its F1.</div>"
    )


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{float(value):.1f} s"


def _status(failed: str | None) -> str:
    if failed is None:
        return "<span class='ok'>completed</span>"
    return f"<span class='bad'>stopped: {escape(failed)}</span>"


def index_page(runs: list[dict[str, Any]]) -> str:
    """The list of runs: id, start, steps passed, how it ended, results, duration; a chart."""
    if not runs:
        body = (
            "<h2>Runs</h2><p class='empty'>No runs yet: run <code>edgeshield demo</code> "
            "to create one.</p>"
        )
        return _page("EdgeShield dashboard", body, {"runs": []})
    rows = "".join(
        f"<tr><td><a href='/runs/{quote(r['run_id'])}'>{escape(r['run_id'])}</a></td>"
        f"<td>{escape(r['started'])}</td>"
        f"<td>{r['steps_passed']} of {r['steps_total']}</td>"
        f"<td>{_status(r['failed'])}</td>"
        f"<td class='result' title='{escape(r['verdict'])}'>{escape(r['result'])}</td>"
        f"<td>{_seconds(r['seconds'])}</td></tr>"
        for r in runs
    )
    body = (
        f"<h2>Runs ({len(runs)})</h2><table id='runs'><thead><tr><th>Run</th><th>Started</th>"
        f"<th>Steps passed</th><th>Outcome</th><th>Attacks: what the defences did</th>"
        f"<th>Duration</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
        "<h2>Duration of each run</h2><canvas id='chart-runs' class='chart'></canvas>"
    )
    return _page("EdgeShield dashboard", body, {"runs": runs})


_MAX_ROWS = 12
"""Rows shown of a list (rounds, curve points); the rest are counted."""
_MAX_FIELDS = 40
"""Fields shown of a mapping (a step has about 15)."""
_MAX_DEPTH = 3


def _scalar(value: Any) -> str:
    """A number, flag or text as a person reads it (floats to 3 significant places)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3g}" if value and abs(value) < 1e-3 else f"{value:.3f}"
    text = str(value)
    return escape(text if len(text) <= 160 else text[:157] + "...")


def _more(hidden: int, columns: int) -> str:
    """A closing row that counts the rows left out (none when nothing was left out)."""
    if hidden <= 0:
        return ""
    return f"<tr><td colspan='{columns}' class='empty'>... {hidden} more</td></tr>"


def _value(value: Any, depth: int) -> str:
    """A step figure as HTML: scalars as text, mappings and lists of records as tables.

    Why: issue 20 found the dashboard printing cut-off ``key={"json"...}`` dumps; nested
    figures (extraction curves, rounds, p-values) read better as tables. Past
    ``_MAX_DEPTH`` levels a value is only counted, and long lists show their first rows.
    """
    if isinstance(value, dict):
        if not value:
            return "-"
        if depth >= _MAX_DEPTH:
            return f"{len(value)} fields"
        rows = "".join(
            f"<tr><th>{escape(str(k))}</th><td>{_value(v, depth + 1)}</td></tr>"
            for k, v in list(value.items())[:_MAX_FIELDS]
        )
        return f"<table class='fig'>{rows}{_more(len(value) - _MAX_FIELDS, 2)}</table>"
    if isinstance(value, list):
        if not value:
            return "-"
        if all(isinstance(v, dict) for v in value) and depth < _MAX_DEPTH:
            columns = list(dict.fromkeys(k for v in value for k in v))
            head = "".join(f"<th>{escape(str(c))}</th>" for c in columns)
            rows = "".join(
                "<tr>"
                + "".join(f"<td>{_value(v.get(c), depth + 1)}</td>" for c in columns)
                + "</tr>"
                for v in value[:_MAX_ROWS]
            )
            hidden = _more(len(value) - _MAX_ROWS, len(columns))
            return f"<table class='fig'><tr>{head}</tr>{rows}{hidden}</table>"
        if all(not isinstance(v, dict | list) for v in value):
            shown = ", ".join(_scalar(v) for v in value[:_MAX_ROWS])
            return shown + (f", ... ({len(value)} in all)" if len(value) > _MAX_ROWS else "")
        return f"{len(value)} items"
    return _scalar(value)


def _figures(figures: Any) -> str:
    """A step's figures, folded under a summary line so the steps table stays readable."""
    if not isinstance(figures, dict) or not figures:
        return ""
    return f"<details><summary>figures ({len(figures)})</summary>{_value(figures, 0)}</details>"


def _chain_note(steps: list[dict[str, Any]]) -> str:
    """Say where the cited contracts live; warn when it was the run's throw-away chain."""
    for step in steps:
        figures = step.get("figures")
        if isinstance(figures, dict) and "chain_embedded" in figures:
            if figures["chain_embedded"]:
                return (
                    "<div class='card note' id='chain-note'>The contracts this run cites were on "
                    "its embedded chain (" + escape(str(figures.get("chain", ""))) + "): "
                    "throw-away, gone when the run ended, so nobody else can check them.</div>"
                )
            return (
                "<div class='card' id='chain-note'>The contracts this run cites are on the chain "
                f"at {escape(str(figures.get('chain', '')))}.</div>"
            )
    return ""


def _plots(rid: str, names: list[str]) -> str:
    """Thumbnails that open full size in an overlay (a CSS ``:target``, no script)."""
    out = []
    for name in names:
        stem, src = name.removesuffix(".png"), f"/runs/{rid}/plots/{quote(name)}"
        out.append(
            f"<figure class='card'><a href='#view-{stem}' title='enlarge'>"
            f"<img src='{src}' alt='{escape(name)}'></a>"
            f"<figcaption>{escape(stem)}</figcaption></figure>"
            f"<div class='lightbox' id='view-{stem}'><img src='{src}' alt='{escape(name)}'>"
            "<a href='#plots'>close</a></div>"
        )
    return "".join(out)


def _quality(rungs: list[dict[str, Any]]) -> str:
    """The price table in F1: each model's F1, PR-AUC and points against central and above."""
    if not rungs:
        return "<p class='empty'>No price table in F1: this run trained no reference models.</p>"

    def points(value: Any) -> str:
        return "" if value is None else f"{float(value):+.1f}"

    rows = "".join(
        f"<tr><td>{escape(str(r['model']))}</td><td>{float(r['f1']):.3f}</td>"
        f"<td>{float(r['pr_auc']):.3f}</td><td>{points(r['points_vs_central'])}</td>"
        f"<td>{points(r['points_vs_previous'])}</td></tr>"
        for r in rungs
    )
    return (
        "<table id='quality'><thead><tr><th>Model</th><th>F1</th><th>PR-AUC</th>"
        "<th>F1 points vs central</th><th>F1 points vs the row above</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def run_page(run: dict[str, Any]) -> str:
    """One run: its steps and outcomes, charts drawn from its JSON, its plots, its ledger events."""
    rid = quote(run["run_id"])
    steps = "".join(
        f"<tr><td>{i}</td><td>{escape(str(s.get('title', s.get('key', ''))))}</td>"
        f"<td>{escape(str(s.get('outcome', '')))}{_figures(s.get('figures'))}</td>"
        f"<td>{_seconds(s.get('seconds'))}</td></tr>"
        for i, s in enumerate(run["steps"], 1)
    )
    plots = _plots(rid, run["plots"])
    events = "".join(
        f"<tr><td>{escape(str(e.get('block', '')))}</td>"
        f"<td>{escape(str(e.get('contract', '')))}</td>"
        f"<td>{escape(str(e.get('event', '')))}</td>"
        f"<td><code>{escape(str(e.get('tx', '')))}</code></td></tr>"
        for e in run["chain_events"]
    )
    report = (
        f"<p><a href='/runs/{rid}/report'>Open the full evidence report</a></p>"
        if run["has_report"]
        else "<p class='empty'>This run has no report.</p>"
    )
    if run.get("has_evidence"):
        report += (
            f"<p><a href='/runs/{rid}/evidence/evidence.html'>Open the ownership evidence</a></p>"
        )
    body = (
        f"<h2>Run {escape(run['run_id'])}</h2>"
        f"<div class='card'>Started {escape(run['started'])}; "
        f"{run['steps_passed']} of {run['steps_total']} steps passed; "
        f"{_status(run['failed'])}; {_seconds(run['seconds'])}.</div>"
        f"{_dataset(run.get('dataset'))}"
        f"<div class='card verdict' id='verdict'><strong>Verdict</strong> "
        f"({escape(run['result'])}): {escape(run['verdict'])}</div>"
        f"{_chain_note(run['steps'])}{report}"
        "<h2>Price of each protection in F1 (same test rows)</h2>"
        f"{_quality(run.get('quality') or [])}"
        "<h2>Steps</h2>"
        + (
            f"<table id='steps'><thead><tr><th>#</th><th>Step</th><th>Outcome</th>"
            f"<th>Time</th></tr></thead><tbody>{steps}</tbody></table>"
            "<h2>Time per step</h2><canvas id='chart-steps' class='chart'></canvas>"
            if steps
            else "<p class='empty'>No step passed.</p>"
        )
        + "<h2>Ledger events</h2>"
        + (
            "<canvas id='chart-ledger' class='chart'></canvas>"
            f"<table id='events'><thead><tr><th>Block</th><th>Contract</th><th>Event</th>"
            f"<th>Transaction</th></tr></thead><tbody>{events}</tbody></table>"
            if events
            else "<p class='empty'>No ledger events.</p>"
        )
        + "<h2 id='plots'>Plots</h2>"
        + (f"<div class='plots'>{plots}</div>" if plots else "<p class='empty'>No plots.</p>")
    )
    return _page(f"Run {run['run_id']}", body, {"run": run})
