"""How a sandbox behaves: every realism knob, with defaults that mimic PatSnap."""

from __future__ import annotations

from dataclasses import dataclass, field

from harvester.sandbox.clock import Clock
from harvester.sandbox.codes import INVALID_PARAMETER
from harvester.sandbox.fault_kinds import ALL_FAULTS

__all__ = ["SandboxConfig"]


@dataclass(slots=True, frozen=True)
class SandboxConfig:
    """Settings of one sandbox; secrets stay out of the repr."""

    seed: int = 0  #: fixes data, faults and which status code an error gets
    validity_s: float = 1200.0  #: a search expires this long after created (or first seen)
    rate: float | None = None  #: token-bucket requests/s over all callers; None = unlimited
    burst: int = 1  #: bucket size
    quota: int | None = None  #: successful (billed) calls allowed; then 67200002 forever
    client_id: str = "sandbox-client"
    client_secret: str = field(default="sandbox-secret", repr=False)
    api_key: str | None = field(default=None, repr=False)  #: accepted as `Bearer <api_key>`
    token_ttl_s: float = 1799.0  #: advertised expires_in
    token_lifetime_s: float | None = None  #: real lifetime when shorter than advertised
    fault_rate: float = 0.0  #: probability that a results call gets an injected fault
    faults: tuple[str, ...] = ALL_FAULTS  #: kinds to draw from
    slow_s: float = 2.0  #: delay of the "slow" fault
    latency_s: float = 0.0  #: added to every answer
    outage_s: float = 0.0  #: every call (token endpoint too) answers 503 this long from start
    jitter_s: float = 0.0  #: each answer's delay is latency_s +- up to this (seeded, >= 0)
    expired_code: int = INVALID_PARAMETER  #: error_code for a search past its window
    auth_error_status: int | None = None  #: HTTP status of 6720000x: 401, 200, None = mixed
    rate_limit_status: int | None = None  #: HTTP status of 67200001: 429, 200, None = mixed
    clock: Clock | None = field(default=None, repr=False, compare=False)  #: None = real time
    max_searches: int = 250_000  #: search windows remembered (oldest forgotten first)
    upload_ttl_s: float = 32400.0  #: an uploaded image's URL works this long (data.expire)

    def __post_init__(self) -> None:
        problems = []
        if self.validity_s <= 0:
            problems.append("validity_s must be positive")
        if self.rate is not None and self.rate <= 0:
            problems.append("rate must be positive (or None for no limit)")
        if self.burst < 1:
            problems.append("burst must be at least 1")
        if self.quota is not None and self.quota < 0:
            problems.append("quota must not be negative")
        if not 0.0 <= self.fault_rate <= 1.0:
            problems.append("fault_rate must be between 0 and 1")
        unknown = sorted(set(self.faults) - set(ALL_FAULTS))
        if unknown:
            problems.append(f"unknown faults {unknown}; known: {', '.join(ALL_FAULTS)}")
        if self.token_ttl_s <= 0 or (
            self.token_lifetime_s is not None and self.token_lifetime_s <= 0
        ):
            problems.append("token_ttl_s and token_lifetime_s must be positive")
        if self.slow_s < 0 or self.latency_s < 0 or self.jitter_s < 0:
            problems.append("slow_s, latency_s and jitter_s must not be negative")
        if not 0 <= self.outage_s < float("inf"):
            problems.append("outage_s must be a non-negative number of seconds")
        if self.auth_error_status not in (None, 200, 401):
            problems.append("auth_error_status must be 200, 401 or None")
        if self.rate_limit_status not in (None, 200, 429):
            problems.append("rate_limit_status must be 200, 429 or None")
        if self.upload_ttl_s <= 0:
            problems.append("upload_ttl_s must be positive")
        if self.max_searches < 1:
            problems.append("max_searches must be at least 1")
        if problems:
            raise ValueError("; ".join(problems))

    @property
    def token_real_lifetime_s(self) -> float:
        """How long a token really works: the shorter of advertised and real lifetime."""
        if self.token_lifetime_s is None:
            return self.token_ttl_s
        return min(self.token_lifetime_s, self.token_ttl_s)
