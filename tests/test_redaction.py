"""Secrets read through the config or written in a source URL are masked; foreign text becomes one clean line."""

from __future__ import annotations

import base64
import logging

from glassbox.config import load_config
from glassbox.redaction import RedactingFilter, one_line, redact, register_userinfo, without_userinfo


def test_registered_secret_is_masked_in_text_and_log_records(write_config, monkeypatch, caplog) -> None:
    monkeypatch.setenv("GB_REDACT_TOKEN", "ghp_0123456789abcdef")
    load_config(write_config("")).secret("GB_REDACT_TOKEN", "github[0].token_env")
    assert redact("Authorization: token ghp_0123456789abcdef") == "Authorization: token ***"

    record = logging.LogRecord("urllib3", logging.DEBUG, __file__, 1, "header %s", ("ghp_0123456789abcdef",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "header ***"


def test_userinfo_is_stripped_from_urls_and_registered_for_masking() -> None:
    assert without_userinfo("https://bot:p%40ss-9f1e@jira.example:8443/jira?x=1") == "https://jira.example:8443/jira?x=1"
    assert [without_userinfo(uri) for uri in ("sqlite:///mlflow.db", "./mlruns", "https://api.github.com")] == [
        "sqlite:///mlflow.db", "./mlruns", "https://api.github.com"]
    register_userinfo("https://bot:p%40ss-9f1e@jira.example/jira")
    basic = base64.b64encode(b"bot:p@ss-9f1e").decode()  # what requests sends for the decoded userinfo
    masked = redact(f"GET https://bot:p%40ss-9f1e@jira.example {basic} p@ss-9f1e")
    assert masked == "GET https://***@jira.example *** ***"


def test_one_line_is_bounded_printable_and_masked(write_config, monkeypatch) -> None:
    monkeypatch.setenv("GB_ONE_LINE_TOKEN", "tok_5e6f7a8b")
    load_config(write_config("")).secret("GB_ONE_LINE_TOKEN", "jira[0].token_env")
    hostile = "\x1b[1;31mdenied\x1b[0m\r\n\ttoken tok_5e6f7a8b\x00\x07 \x1b]0;title\x07end"
    assert one_line(hostile) == "denied token *** end"
    cut = one_line("x" * 10_000, limit=50)
    assert len(cut) == 50 and cut.endswith("…")  # 49 characters of text and the ellipsis
