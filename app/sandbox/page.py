"""The sandbox page: the demo repository's issues as GitHub would show them, and the forms."""

from __future__ import annotations

from urllib.parse import urlencode

from app.sandbox.demo import CONFIG_PATH, LOGINS, PEOPLE, REPO
from app.sandbox.github import BOT_LOGIN, FakeGitHub, FakeIssue, FakeRepo
from app.web.pages import escape, page

STYLE = """<style>
.grid{display:grid;grid-template-columns:minmax(0,1fr) minmax(0,2fr);gap:16px}
@media (max-width:800px){.grid{grid-template-columns:1fr}}
.chip{display:inline-block;border:1px solid #d0d7de;border-radius:12px;padding:0 8px;
margin:2px;background:#f6f8fa;font-size:13px}
.chip form{display:inline}.chip button{background:none;color:#57606a;padding:0 0 0 4px;
font-size:13px}
.comment{border:1px solid #d0d7de;border-radius:6px;margin:8px 0}
.comment h4{margin:0;padding:6px 10px;background:#f6f8fa;font-size:13px;font-weight:600}
.comment.bot h4{background:#ddf4ff}
.comment .text{white-space:pre-wrap;overflow-wrap:anywhere;padding:8px 10px;margin:0;
font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
textarea{width:100%;box-sizing:border-box;font:13px ui-monospace,monospace}
ul.issues{list-style:none;padding:0}ul.issues li{padding:6px 0;border-bottom:1px solid #d8dee4}
.line{margin:1em 0}.current{font-weight:600}.secondary{background:#6e7781}
</style>"""


def _q(**params: object) -> str:
    return "/sandbox?" + urlencode({k: v for k, v in params.items() if v is not None})


def _hidden(actor: str, action: str, number: int | None = None) -> str:
    fields = f'<input type=hidden name=actor value="{escape(actor)}">'
    fields += f'<input type=hidden name=action value="{escape(action)}">'
    if number is not None:
        fields += f"<input type=hidden name=number value={number}>"
    return fields


def _strip_markers(text: str) -> str:
    """Drop the bot's hidden `<!-- ... -->` markers (found with str.find: linear time)."""
    out, start = [], 0
    while (opening := text.find("<!--", start)) != -1:
        closing = text.find("-->", opening + 4)
        if closing == -1:
            break
        out.append(text[start:opening])
        start = closing + 3
    out.append(text[start:])
    return "".join(out).strip()


def _chips(labels: list[str]) -> str:
    return "".join(f"<span class=chip>{escape(name)}</span>" for name in labels)


def _people(actor: str) -> str:
    options = "".join(
        f'<option value="{escape(p.login)}"{" selected" if p.login == actor else ""}>'
        f"{escape(p.login)} ({escape(p.role)}): {escape(p.about)}</option>"
        for p in PEOPLE
    )
    return (
        '<form method=get action="/sandbox" id=who><label>You are '
        f"<select name=as id=as>{options}</select></label> "
        "<button type=submit>Switch</button></form>"
    )


def _issue_list(repo: FakeRepo, actor: str, current: int | None) -> str:
    items = []
    for issue in sorted(repo.issues.values(), key=lambda i: -i.number):
        labels = _chips(issue.labels)
        cls = " class=current" if issue.number == current else ""
        state = "" if issue.state == "open" else " <span class=muted>(closed)</span>"
        items.append(
            f'<li{cls}><a href="{escape(_q(**{"as": actor, "issue": issue.number}))}#issue">'
            f"#{issue.number} {escape(issue.title)}</a>{state}<br>{labels}</li>"
        )
    listed = "".join(items) or "<li class=muted>No issues yet: open one below.</li>"
    return f"<ul class=issues>{listed}</ul>"


def _open_form(actor: str) -> str:
    return (
        "<h3>Open an issue</h3><form method=post action=/sandbox/act id=open>"
        f"{_hidden(actor, 'open')}"
        "<p><label>Title<br><input type=text name=title maxlength=256 required size=36 "
        'value="Search is down"></label></p>'
        "<p><label>Labels (comma-separated)<br><input type=text name=labels size=36 "
        'placeholder="incident, severity:1"></label></p>'
        "<p><label>Description<br><textarea name=text rows=3></textarea></label></p>"
        "<button type=submit>Open issue</button></form>"
    )


def _comment(fake: FakeGitHub, repo: FakeRepo, login: str, body: str) -> str:
    bot = login == BOT_LOGIN
    return (
        f'<div class="comment{" bot" if bot else ""}"><h4>{escape(login)}</h4>'
        f"<p class=text>{escape(_strip_markers(body) if bot else body)}</p></div>"
    )


def _issue(fake: FakeGitHub, repo: FakeRepo, issue: FakeIssue, actor: str) -> str:
    n = issue.number
    chips = "".join(
        f"<span class=chip>{escape(name)}<form method=post action=/sandbox/act>"
        f'{_hidden(actor, "unlabel", n)}<input type=hidden name=text value="{escape(name)}">'
        f'<button type=submit title="remove {escape(name)}">×</button></form></span>'
        for name in issue.labels
    )
    choices = "".join(f'<option value="{escape(name)}">' for name in repo.labels)
    by_id = {i.id: i for i in repo.issues.values()}
    subs = [by_id[i] for i in issue.sub_issues if i in by_id]
    sub_list = "".join(
        f'<li><a href="{escape(_q(**{"as": actor, "issue": s.number}))}#issue">#{s.number} '
        f"{escape(s.title)}</a> {_chips(s.labels)}"
        f"{'' if s.state == 'open' else ' (closed)'}</li>"
        for s in subs
    )
    parent = by_id.get(issue.parent) if issue.parent is not None else None
    parent_line = (
        f'<p>Sub-issue of <a href="{escape(_q(**{"as": actor, "issue": parent.number}))}">'
        f"#{parent.number} {escape(parent.title)}</a></p>"
        if parent
        else ""
    )
    assignees = ", ".join(escape(a) for a in issue.assignees) or "<span class=muted>none</span>"
    comments = "".join(
        _comment(fake, repo, c.user, c.body)
        for c in sorted(fake.comments_on(REPO, n), key=lambda c: c.id)
    )
    toggle = "close" if issue.state == "open" else "reopen"
    return (
        f"<section id=issue><h2>#{n} {escape(issue.title)}</h2>"
        f"<p class=muted>{escape(issue.state)} · opened by {escape(issue.user)}</p>"
        f"{parent_line}"
        f"{_comment(fake, repo, issue.user, issue.body) if issue.body else ''}"
        # A div, not a paragraph: the chips' remove buttons are forms, which close a <p>.
        f"<div class=line><b>Labels</b> <span id=labels>{chips or '<i>none</i>'}</span></div>"
        "<form method=post action=/sandbox/act id=label>"
        f"{_hidden(actor, 'label', n)}<datalist id=known>{choices}</datalist>"
        "<input type=text name=text list=known maxlength=50 required placeholder=label> "
        "<button type=submit>Add label</button></form>"
        f"<p><b>Assignees</b> <span id=assignees>{assignees}</span></p>"
        f"<p><b>Sub-issues</b></p><ul id=subissues>{sub_list or '<li class=muted>none</li>'}</ul>"
        f"<h3>Comments</h3><div id=comments>{comments or '<p class=muted>none</p>'}</div>"
        "<form method=post action=/sandbox/act id=comment>"
        f"{_hidden(actor, 'comment', n)}"
        "<textarea name=text rows=3 required placeholder='/incident 1'></textarea>"
        "<p><button type=submit>Comment</button></p></form>"
        f"<form method=post action=/sandbox/act id=state>{_hidden(actor, toggle, n)}"
        f"<button type=submit class=secondary>{toggle.capitalize()} issue</button></form>"
        "</section>"
    )


def sandbox_page(fake: FakeGitHub, actor: str, number: int | None, error: str = "") -> str:
    """The whole page for `actor` (one of the demo's people), showing issue `number`."""
    actor = actor if actor in LOGINS else LOGINS[0]
    repo = fake.repos[REPO]
    issue = repo.issues.get(number) if number is not None else None
    policy = repo.files.get(CONFIG_PATH, "")
    warning = f"<section class=warn><p>{escape(error)}</p></section>" if error else ""
    detail = (
        _issue(fake, repo, issue, actor)
        if issue
        else "<section id=issue><p class=muted>Pick an issue, or open one.</p></section>"
    )
    body = (
        f"{STYLE}<section><h1>Sandbox: try Incident Flow without GitHub</h1>"
        "<p>A simulated GitHub runs inside this process with one repository, "
        f"<b>{escape(REPO)}</b>. Everything you do here changes it and sends the webhook "
        "GitHub would send, signed, to the service's real receiver; the service answers "
        "through the simulated API, as it would on GitHub. Nothing reaches GitHub, and the "
        "sandbox keeps its own database (gone when the service stops).</p>"
        "<p>Try: open an issue, comment <code>/incident 1</code> as a maintainer, move the "
        "status label to <code>status:resolved</code> (an illegal move), "
        "<code>/stabilize Roll back</code>, <code>/stabilized</code>, <code>/resolved</code> "
        "(refused while the roll back is open: close it, then again), "
        "<code>/help</code>; or act as <b>riley</b>, who may not.</p>"
        f"{_people(actor)}"
        '<div><a href="/sandbox/board/">The dashboard</a> · '
        '<form method=post action="/sandbox/reset" style=display:inline>'
        "<button type=submit class=secondary>Start over</button></form></div></section>"
        f"{warning}<div class=grid><section><h2>Issues</h2>{_issue_list(repo, actor, number)}"
        f"{_open_form(actor)}</section>{detail}</div>"
        f"<section id=policy><h2>Policy playground: <code>{escape(CONFIG_PATH)}</code></h2>"
        "<p class=muted>Commit a new version to the demo repository: the service reads it "
        "through the contents API when the push arrives (the README documents every key). "
        "An invalid file is reported on the next incident it touches.</p>"
        "<form method=post action=/sandbox/act id=policy-form>"
        f"{_hidden(actor, 'policy')}<textarea name=text rows=16>{escape(policy)}</textarea>"
        "<p><button type=submit>Commit to main</button></p></form></section>"
    )
    return page("Sandbox", body)
