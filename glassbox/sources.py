"""Builds the configured connectors, one per ``[[github]]``, ``[[git]]``, ``[[jira]]`` and ``[[mlflow]]``.

Connector modules are imported only when their source is configured, so a deployment that uses no
Jira never needs Jira's client to import.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from glassbox.config import Config, GitHubSource, GitSource, JiraSource, MlflowSource
from glassbox.redaction import without_userinfo

if TYPE_CHECKING:
    from connectors.base import Connector

# config section -> (module, class)
CONNECTOR_CLASSES = {
    "github": ("connectors.github.connector", "GitHubConnector"),
    "git": ("connectors.git.connector", "GitLocalConnector"),
    "jira": ("connectors.jira.connector", "JiraConnector"),
    "mlflow": ("connectors.mlflow.connector", "MlflowConnector"),
}


@dataclass(frozen=True)
class SourceSpec:
    """One configured source before its connector is built: its section and a key for messages."""

    kind: str
    key: str  # "github[0]": names the section in error messages
    section: GitHubSource | GitSource | JiraSource | MlflowSource

    def origin(self, config: Config) -> str:
        """The ``origin`` this source's events and cursors carry (see the section's ``origin``)."""
        return self.section.origin(config.folder)

    def label(self, config: Config) -> str:
        """How messages name this source before its connector is built: ``jira (https://acme.atlassian.net)``."""
        return f"{self.kind} ({self.origin(config)})"

    def matches(self, only: str) -> bool:
        """``--only`` takes a kind (``jira``), a key (``github[1]``) or the origin text, with or without credentials."""
        origin = getattr(self.section, "repo", None) or getattr(self.section, "path", None) \
            or getattr(self.section, "server", None) or getattr(self.section, "tracking_uri", None)
        return only in (self.kind, self.key, origin, origin and without_userinfo(origin))


def source_keys(config: Config) -> list[tuple[str, str]]:
    """``(kind, origin)`` of every configured source: how the store keys its sync runs."""
    return [(spec.kind, spec.origin(config)) for spec in configured_sources(config)]


def configured_sources(config: Config, only: str | None = None) -> list[SourceSpec]:
    specs = [
        SourceSpec(kind, f"{kind}[{index}]", section)
        for kind in CONNECTOR_CLASSES
        for index, section in enumerate(getattr(config, kind))
    ]
    return [spec for spec in specs if only is None or spec.matches(only)]


def build_connector(spec: SourceSpec, config: Config) -> Connector:
    """Instantiate the connector for ``spec``; raises ``ConfigError`` when a secret is missing."""
    module_name, class_name = CONNECTOR_CLASSES[spec.kind]
    connector_class = getattr(importlib.import_module(module_name), class_name)
    return connector_class.from_config(spec.section, config, spec.key)


def known_names(specs: Iterable[SourceSpec]) -> list[str]:
    return sorted({spec.kind for spec in specs} | {spec.key for spec in specs})
