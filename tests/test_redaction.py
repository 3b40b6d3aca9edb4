"""Secrets read through the config are masked in every log record and error line."""

from __future__ import annotations

import logging

from glassbox.config import load_config
from glassbox.redaction import RedactingFilter, redact


def test_registered_secret_is_masked_in_text_and_log_records(write_config, monkeypatch, caplog) -> None:
    monkeypatch.setenv("GB_REDACT_TOKEN", "ghp_0123456789abcdef")
    load_config(write_config("")).secret("GB_REDACT_TOKEN", "github[0].token_env")
    assert redact("Authorization: token ghp_0123456789abcdef") == "Authorization: token ***"

    record = logging.LogRecord("urllib3", logging.DEBUG, __file__, 1, "header %s", ("ghp_0123456789abcdef",), None)
    RedactingFilter().filter(record)
    assert record.getMessage() == "header ***"
