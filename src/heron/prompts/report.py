"""A self-contained HTML page for a prompt comparison (no scripts, no external files).

It takes the comparison's JSON-ready dict so it stays independent of the result
classes; every value is HTML-escaped (outputs are model text, inputs user text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; max-width: 70rem; color: #222; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border: 1px solid #ccc; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
tr.best td { background: #e8f5e9; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.miss { background: #fdecea; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: .6rem; }
"""


def _summary(templates: Sequence[Mapping[str, Any]], best: str) -> str:
    rows = []
    for t in templates:
        cls = ' class="best"' if t["name"] == best else ""
        rows.append(
            f"<tr{cls}><td>{escape(t['name'])}</td><td class=num>{t['mean']:.3f}</td>"
            f"<td class=num>{t['n']}</td><td class=num>{t['seconds']:.1f}</td></tr>"
        )
    head = "<tr><th>template</th><th>mean score</th><th>n</th><th>seconds</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


def _details(t: Mapping[str, Any]) -> str:
    rows = []
    for s in t["samples"]:
        miss = " class=miss" if s["score"] <= 0 else ""
        rows.append(
            f"<tr><td>{escape(s['input'])}</td><td>{escape(s['expected'])}</td>"
            f"<td{miss}>{escape(s['output'])}</td><td class=num>{s['score']:.2f}</td></tr>"
        )
    head = "<tr><th>input</th><th>expected</th><th>output</th><th>score</th></tr>"
    prompt = escape(t.get("example_prompt", ""))
    return (
        f"<details><summary>{escape(t['name'])}: {t['mean']:.3f}</summary>"
        f"<p>Prompt for the first sample:</p><pre>{prompt}</pre>"
        f"<table>{head}{''.join(rows)}</table></details>"
    )


def comparison_html(data: Mapping[str, Any], title: str) -> str:
    """The page for ``PromptComparison.to_dict()``."""
    templates = data["templates"]
    meta = f"metric <b>{escape(str(data['metric']))}</b>"
    if data.get("model"):
        meta += f", model <b>{escape(str(data['model']))}</b>"
    return (
        f"<!doctype html><html><head><meta charset=utf-8><title>{escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body><h1>{escape(title)}</h1><p>{meta}; "
        f"best: <b>{escape(str(data['best']))}</b></p>"
        f"{_summary(templates, data['best'])}{''.join(_details(t) for t in templates)}"
        "</body></html>\n"
    )
