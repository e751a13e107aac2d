"""The sandbox's HTML: the consent page, what each platform received, a post's permalink page. Plain strings (the
sandbox runs beside Django, not in it); every value from a request is escaped."""

from __future__ import annotations

from html import escape

LABELS = {"instagram": "Instagram", "threads": "Threads"}
_STYLE = """
body{font:15px/1.45 system-ui,sans-serif;margin:0;background:#f4f4f6;color:#1d1d22}
main{max-width:960px;margin:0 auto;padding:24px}
h1{font-size:22px} h2{font-size:18px;margin-top:28px}
.banner{background:#fff4cc;border-bottom:1px solid #e6d48a;padding:8px 24px;font-size:13px}
.card{background:#fff;border:1px solid #ddd;border-radius:8px;padding:16px;margin:12px 0}
.card img{max-width:320px;max-height:320px;display:block;border-radius:4px;margin:6px 0}
.error{color:#a4161a} .muted{color:#666;font-size:13px} dt{font-weight:600} dd{margin:0 0 6px}
[data-caption]{white-space:pre-wrap}
.consent{max-width:420px;margin:60px auto;text-align:center}
button{font:inherit;padding:8px 20px;margin:6px;border-radius:6px;border:1px solid #888;cursor:pointer}
button.allow{background:#0b5cff;color:#fff;border-color:#0b5cff}
"""


def _page(title: str, body: str) -> str:
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f"<style>{_STYLE}</style></head><body>"
            '<div class="banner">Publishing sandbox: a local stand-in for Instagram and Threads. Nothing here is '
            "public.</div>"
            f"<main>{body}</main></body></html>")


def error_page(*, title: str, message: str) -> str:
    return _page(title, f"<h1>{escape(title)}</h1><p>{escape(message)}</p>")


def consent_page(*, platform: str, username: str, params: dict) -> str:
    hidden = "".join(f'<input type="hidden" name="{escape(name)}" value="{escape(params.get(name, ""))}">'
                     for name in ("client_id", "redirect_uri", "state", "scope", "response_type", "code_challenge",
                                  "code_challenge_method"))
    scopes = "".join(f"<li>{escape(scope)}</li>" for scope in params.get("scope", "").split(",") if scope)
    return _page(f"{LABELS[platform]} (sandbox): allow access", f"""
<div class="card consent">
  <p class="muted">{LABELS[platform]} sandbox · app {escape(params.get("client_id", ""))}</p>
  <h1>Allow Persona Studio to publish as @{escape(username)}?</h1>
  <ul style="text-align:left">{scopes}</ul>
  <form method="post">{hidden}
    <button type="submit" name="decision" value="deny">Deny</button>
    <button type="submit" name="decision" value="allow" class="allow">Allow</button>
  </form>
  <p class="muted">Either answer returns you to {escape(params.get("redirect_uri", ""))}</p>
</div>""")


def _post_card(row: dict, url: str) -> str:
    images = []
    for image in row["images"]:
        if image.get("error"):
            images.append(f'<p class="error" data-fetch-error>Image not fetched from {escape(image["url"])}: '
                          f'{escape(image["error"])}</p>')
        elif image.get("fetched"):
            images.append(f'<img src="{escape(url)}/images/{escape(image["container"])}" '
                          f'alt="{escape(image["alt_text"])}" data-image>')
        else:
            images.append(f'<p class="muted">Image URL (not fetched): {escape(image["url"])}</p>')
    alt = "; ".join(image["alt_text"] for image in row["images"] if image.get("alt_text")) or "(none)"
    if row["ai_field_sent"]:
        ai = "true" if row["is_ai_generated"] else "false"
    else:
        ai = "not sent (this platform's API has no such field)"
    if row["permalink"]:
        outcome = f'Published: <a href="{escape(row["permalink"])}" data-permalink>{escape(row["permalink"])}</a>'
    elif row["error"]:
        outcome = f'<span class="error">{escape(row["status"])}: {escape(row["error"])}</span>'
    else:
        outcome = f"Container {escape(row['container'])}: {escape(row['status'])}"
    return f"""
<div class="card" data-container="{escape(row["container"])}">
  {"".join(images)}
  <dl>
    <dt>Caption</dt><dd data-caption>{escape(row["caption"]) or "(empty)"}</dd>
    <dt>Alt text</dt><dd data-alt>{escape(alt)}</dd>
    <dt>is_ai_generated</dt><dd data-ai-flag>{ai}</dd>
    <dt>Account</dt><dd>@{escape(row["username"])} · {escape(row["media_type"])}</dd>
  </dl>
  <p data-outcome>{outcome}</p>
</div>"""


def index_page(*, received: dict[str, list[dict]], url: str) -> str:
    sections = []
    for platform, rows in received.items():
        cards = "".join(_post_card(row, url) for row in rows) or '<p class="muted">Nothing received yet.</p>'
        sections.append(f'<section data-platform="{platform}"><h2>{LABELS[platform]}</h2>{cards}</section>')
    return _page("Publishing sandbox", f"""
<h1>Publishing sandbox</h1>
<p class="muted">What Persona Studio sent, newest first: the caption, the image as the sandbox fetched it from
the studio's signed media URL (or why it could not), the alt text and the AI flag.</p>
{"".join(sections)}""")


def post_page(*, row: dict, url: str) -> str:
    return _page(f"Post {row['media_id']}", f'<p><a href="{escape(url)}/">All received posts</a></p>'
                                            f"<h1>Post {escape(row['media_id'])}</h1>{_post_card(row, url)}")
