"""Server-rendered HTML: one page frame and escaping, shared by set-up and the dashboard."""

from __future__ import annotations

from html import escape

STYLE = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#1f2328;
background:#f6f8fa}
header{background:#24292f;color:#fff;padding:10px 24px;display:flex;gap:16px;
align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto}
main{max-width:1100px;margin:24px auto;padding:0 24px}
section{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:16px;margin:0 0 16px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;padding:6px 8px;
border-bottom:1px solid #d8dee4;vertical-align:top}th a{color:inherit}
.sev{display:inline-block;border-radius:10px;padding:0 8px;color:#fff;font-weight:600}
.sev1{background:#b60205}.sev2{background:#bc4c00}.sev3{background:#9a6700}.sev0{background:#57606a}
.closed{color:#57606a}.muted{color:#57606a}.warn{background:#fff8c5;border-color:#d4a72c}
button,.button{background:#1f883d;color:#fff;border:0;border-radius:6px;padding:8px 14px;
font-size:15px;cursor:pointer;text-decoration:none;display:inline-block}
input[type=text]{padding:6px;border:1px solid #d0d7de;border-radius:6px}
pre{background:#f6f8fa;padding:8px;overflow:auto}
form.signout{display:inline;margin:0}header form.signout button{background:none;padding:0;
color:#fff;font-size:inherit;text-decoration:underline}
td{overflow-wrap:break-word}svg{max-width:100%;height:auto}
.steps li{margin:0 0 6px}
@media (max-width:600px){header{padding:8px 12px}main{margin:12px auto;padding:0 8px}
section{padding:10px}table{display:block;overflow-x:auto}th,td{padding:4px 6px}}
"""
# A POST (cross-site POSTs carry no SameSite=lax cookie), so no link can sign a viewer out.
SIGN_OUT_FORM = (
    '<form class=signout method=post action="/auth/logout"><button type=submit>sign out</button>'
    "</form>"
)


def page(title: str, body: str, *, viewer: str | None = None, sign_in: bool = False) -> str:
    """A whole HTML page; `body` is already-escaped HTML."""
    if viewer:
        who = f"signed in as <b>{escape(viewer)}</b> · {SIGN_OUT_FORM}"
    elif sign_in:
        who = '<a href="/auth/login">Sign in with GitHub</a> to see private repositories'
    else:
        who = ""
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)} · Incident Flow</title><style>{STYLE}</style></head><body>"
        f'<header><a href="/"><b>Incident Flow</b></a><span class=who>{who}</span></header>'
        f"<main>{body}</main></body></html>"
    )


def error_page(status: int, title: str, detail: str) -> str:
    """A whole HTML page for a failed request, for browsers (API clients get JSON)."""
    body = (
        f"<section><h1>{escape(title)}</h1><p>{escape(detail)}</p>"
        f'<p><a href="/">Back to the incidents</a></p>'
        f"<p class=muted>HTTP {status}</p></section>"
    )
    return page(title, body)


__all__ = ["SIGN_OUT_FORM", "error_page", "escape", "page"]
