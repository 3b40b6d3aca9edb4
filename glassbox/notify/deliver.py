"""Delivery through Apprise (one URL scheme per service), never a hand-written SMTP or webhook client.

Each target's variable holds one or more Apprise URLs, comma-separated. E-mail URLs (``mailto://``,
``mailtos://``) get the HTML part (Apprise adds the plain-text alternative) and any attachment;
every other service (Slack, Teams ``workflows://``, Discord, ``json://``) gets the message's short
chat form — Slack webhooks take no attachments and Teams cuts messages at 1,000 characters.
Every URL is registered for redaction before use: it is a secret and must not reach a log line.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import apprise
from apprise.attachment.memory import AttachMemory

from glassbox import redaction
from glassbox.notify.messages import Message

log = logging.getLogger(__name__)

EMAIL_SCHEMES = frozenset({"mailto", "mailtos"})


def split_urls(value: str) -> list[str]:
    """The Apprise URLs in a target's variable, each registered as a secret."""
    urls = [url.strip() for url in value.split(",") if url.strip()]
    for url in urls:
        redaction.register(url)
        redaction.register_userinfo(url)
    return urls


def is_email(url: str) -> bool:
    return urlsplit(url).scheme.lower() in EMAIL_SCHEMES


def deliver(urls: list[str], message: Message) -> list[str]:
    """Send ``message`` to every URL; returns one problem line per URL that failed (none: all delivered).

    The lines name the URL by its position and service only (``target 2 of 2 (json)``), never the URL.
    """
    problems = []
    for number, url in enumerate(urls, start=1):
        where = f"target {number} of {len(urls)} ({urlsplit(url).scheme.lower() or 'no scheme'})"
        sender = apprise.Apprise()
        if not sender.add(url):
            problems.append(f"{where}: not an Apprise URL Glassbox can use")
            continue
        try:
            ok = _send(sender, url, message)
        except Exception as exc:  # a plugin's own bug must not stop the other targets, nor print a traceback
            log.debug("delivery to %s raised", where, exc_info=True)
            problems.append(f"{where}: delivery failed ({type(exc).__name__})")
            continue
        if not ok:
            problems.append(f"{where}: delivery failed")
        else:
            log.info("delivered %r to %s", message.title, where)
    return problems


def _send(sender: apprise.Apprise, url: str, message: Message) -> bool:
    """One URL's delivery in its service's form: e-mail the HTML (or Markdown) and attachment, chat the short form."""
    if is_email(url):
        attach = None
        if message.attachment is not None:
            name, content = message.attachment
            attach = apprise.AppriseAttachment()
            attach.add(AttachMemory(content=content, name=name, mimetype="application/pdf"))
        body, body_format = ((message.text, apprise.NotifyFormat.MARKDOWN) if message.markdown
                             else (message.html, apprise.NotifyFormat.HTML))
        return bool(sender.notify(title=message.title, body=body, body_format=body_format, attach=attach))
    return bool(sender.notify(title=message.title, body=message.short, body_format=apprise.NotifyFormat.TEXT))
