"""The pieces of dhs's self-contained HTML reports (the training-set report, the selection function's): one style
sheet, PNG figures embedded as data URLs, Arrow tables as HTML tables."""

from __future__ import annotations

import base64
import html

import pyarrow as pa

STYLE = (
    "body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em;color:#222} table{border-collapse:collapse;margin:.5em 0}"
    "td,th{border:1px solid #bbb;padding:3px 8px;font-size:13px;text-align:left} .pass{color:#070} .fail{color:#b00}"
    ".warn{color:#b60} pre{background:#f4f4f4;padding:.5em;font-size:12px;overflow-x:auto} img{max-width:100%}"
    ".gallery{display:flex;flex-wrap:wrap;gap:10px} figure{margin:0;font-size:11px;text-align:center}"
    "figure img{image-rendering:pixelated;width:128px;height:128px;margin:1px} .note{font-size:12px;color:#555}"
)


def img(data: bytes, alt: str, css: str = "") -> str:
    """An ``<img>`` of PNG bytes, embedded."""
    return (
        f'<img alt="{html.escape(alt)}" {css}src="data:image/png;base64,{base64.b64encode(data).decode()}">'
    )


def table(rows: pa.Table) -> str:
    """An Arrow table as an HTML table (nulls blank)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows.column_names)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{'' if v is None else html.escape(str(v))}</td>" for v in row.values())
        + "</tr>"
        for row in rows.to_pylist()
    )
    return f"<table><tr>{head}</tr>{body}</table>"
