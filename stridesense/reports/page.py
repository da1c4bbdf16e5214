"""One self-contained HTML page: styles, plotly.js (inlined once), figures as JSON, our scripts.

Nothing is fetched when the page opens: plotly.js is the basic bundle kept
in ``vendor/`` (scatter, bar and pie traces; 1.2 MB, see vendor/README.md),
or the installed ``plotly`` package's full bundle (4.8 MB) when their
versions differ, and every figure and data set is embedded.  Text from a
session (runner names, notes, cue texts) is HTML-escaped where it is
written, and JSON embedded in ``<script>`` elements has ``<``, ``>`` and
``&`` written as ``\\u`` escapes, so no text can close the element.
"""

from __future__ import annotations

import html
import json
import math
import re
from importlib import resources

import numpy as np
import plotly.io as pio

_JSON_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def esc(text) -> str:
    """HTML-escape any value for element text or a quoted attribute."""
    return html.escape("" if text is None else str(text), quote=True)


def _plain(obj):
    """JSON-able form of numpy values; NaN and infinities become null."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return [_plain(v) for v in obj.tolist()]
    if isinstance(obj, (np.floating, float)):
        x = float(obj)
        return x if math.isfinite(x) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def script_json(obj) -> str:
    """JSON for a ``<script type="application/json">`` element (cannot close it)."""
    text = json.dumps(_plain(obj), separators=(",", ":"), allow_nan=False)
    return _escape_json(text)


def _escape_json(text: str) -> str:
    for ch, rep in _JSON_ESCAPES.items():
        text = text.replace(ch, rep)
    return text


BASIC_TRACE_TYPES = frozenset({"scatter", "bar", "pie"})  # what vendor/plotly-basic.min.js can draw
BASIC_BUNDLE = "vendor/plotly-basic.min.js"


def figure_block(fig, div_id: str, css_class: str = "plot") -> str:
    """A div and the figure's JSON, drawn by report.js when it comes into view (or once the page is idle).

    Raises
    ------
    ValueError
        A trace type the basic plotly.js bundle cannot draw (add a bigger
        bundle to vendor/ before using it).
    """
    other = {tr.type for tr in fig.data} - BASIC_TRACE_TYPES
    if other:
        raise ValueError(f"trace type(s) {sorted(other)} are not in the report's plotly.js bundle ({BASIC_BUNDLE})")
    spec = _escape_json(pio.to_json(fig, validate=False))
    # The figure's room is kept before it is drawn: the page does not jump, and "in view" means where it will be.
    height = f' style="min-height:{int(fig.layout.height)}px"' if fig.layout.height else ""
    return (f'<div id="{esc(div_id)}" class="{esc(css_class)}"{height}></div>\n'
            f'<script type="application/json" class="ss-fig" data-target="{esc(div_id)}">{spec}</script>')


def _asset(name: str) -> str:
    return resources.files("stridesense.reports").joinpath(name).read_text(encoding="utf-8")


def bundle_version(text: str) -> str | None:
    """The version in a plotly.js bundle's banner ("plotly.js (basic - minified) v4.1.1" -> "4.1.1")."""
    m = re.search(r"plotly\.js (?:\([^)]*\) )?v(\d+\.\d+\.\d+)", text[:400])
    return m.group(1) if m else None


def plotly_bundle() -> tuple[str, str]:
    """(plotly.js source, its name): the vendored basic bundle when it is the installed plotly's version.

    The figures' JSON is written by the installed ``plotly`` package for its
    own plotly.js; another version could read it differently, so then its
    full bundle is used instead.
    """
    from plotly.offline import get_plotlyjs, get_plotlyjs_version

    basic = _asset(BASIC_BUNDLE)
    if bundle_version(basic) == get_plotlyjs_version():
        return basic, f"plotly.js basic {get_plotlyjs_version()}"
    return get_plotlyjs(), f"plotly.js {get_plotlyjs_version()} (full bundle)"


def _plotly_js() -> str:
    # A literal "</script" inside the library would end the element early; plotly.js has none, but be sure.
    return plotly_bundle()[0].replace("</script", "<\\/script")


def render_page(title: str, body: str, *, scripts: tuple[str, ...] = ()) -> str:
    """The whole page: ``body`` is trusted HTML built with :func:`esc`; ``scripts`` are our asset names.

    plotly.js is embedded as inert text and started by report.js after the
    first paint, so the summary, flags and replay figure show at once; then
    the plots in view are drawn first, the others as they scroll into view
    or when the page is idle (parsing plotly.js and drawing are most of a
    page's opening time).
    """
    ours = "\n".join(f"<script>{_asset(name)}</script>" for name in scripts)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="stridesense">
<title>{esc(title)}</title>
<style>{_asset("report.css")}</style>
</head>
<body>
{body}
{ours}
<script type="text/plain" id="ss-plotly-js">{_plotly_js()}</script>
<script>{_asset("report.js")}</script>
</body>
</html>
"""


def table(header: list[str], rows: list[list], *, css_class: str = "") -> str:
    """An HTML table; every cell is escaped."""
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "\n".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{esc(css_class)}"><thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table>'


def fmt(x, decimals: int = 1, signed: bool = False) -> str:
    """A number for a table; '-' when missing."""
    try:
        x = float(x)
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(x):
        return "-"
    return f"{x:+.{decimals}f}" if signed else f"{x:.{decimals}f}"
