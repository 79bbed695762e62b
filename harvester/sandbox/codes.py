"""The error codes the sandbox answers with, in the API page's words.

Kept here rather than imported from the client so the sandbox stays a second, independent
reading of the API page.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = [
    "API_KEY_MISMATCH",
    "API_KEY_MISSING",
    "AUTH_FAILED",
    "BAD_UPLOAD",
    "INVALID_PARAMETER",
    "MESSAGES",
    "QUOTA_EXCEEDED",
    "RATE_LIMITED",
    "SEARCH_FAILURE",
    "SERVICE_ERROR",
    "message_for",
]

INVALID_PARAMETER = 68300004
SEARCH_FAILURE = 68300005
SERVICE_ERROR = 68300008
BAD_UPLOAD = 68300010
RATE_LIMITED = 67200001
QUOTA_EXCEEDED = 67200002
AUTH_FAILED = 67200003
API_KEY_MISSING = 67200008
API_KEY_MISMATCH = 67200009

MESSAGES: Mapping[int, str] = MappingProxyType(
    {
        68300004: "Invalid parameter!",
        68300005: "Search api failure!",
        68300006: "Analytic basic access error!",
        68300007: "Bad request!",
        68300008: "Service error, please try again later!",
        68300010: "The file does not comply with upload specifications!",
        67200001: "API call exceeds the total limit set by the platform!",
        67200002: "Quota exceeds the limit!",
        67200003: "Access token expired or authentication error!",
        67200004: "No permission or API package quota has exceeded the limit!",
        67200005: "Insufficient balance, call failed!",
        67200006: "This client has expired and call failed!",
        67200008: "apikey missing!",
        67200009: "Token and apikey do not match!",
    }
)


def message_for(code: int) -> str:
    """The error_msg PatSnap gives for `code`."""
    return MESSAGES.get(code, "Request failed!")
