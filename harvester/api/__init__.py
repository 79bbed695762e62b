"""Talking to PatSnap: the client, credentials, errors and the values it returns."""

from __future__ import annotations

from harvester.api.auth import (
    ApiKey,
    ClientCredentials,
    Credentials,
    TokenSource,
    credentials_from_env,
)
from harvester.api.client import (
    DEFAULT_BASE_URL,
    ClientSettings,
    PatSnapClient,
    base_url_from_env,
)
from harvester.api.models import Created, Hit, Page, Upload

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiKey",
    "ClientCredentials",
    "ClientSettings",
    "Created",
    "Credentials",
    "Hit",
    "Page",
    "PatSnapClient",
    "TokenSource",
    "Upload",
    "base_url_from_env",
    "credentials_from_env",
]
