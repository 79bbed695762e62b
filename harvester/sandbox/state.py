"""What a running sandbox remembers, and its checks in the order PatSnap applies them:
auth, rate limit, quota, parameters, expiry, faults, data. No HTTP here.
"""

from __future__ import annotations

import hmac
import math

from harvester.sandbox.auth import TokenStore
from harvester.sandbox.clock import system_clock
from harvester.sandbox.codes import API_KEY_MISMATCH, API_KEY_MISSING, AUTH_FAILED
from harvester.sandbox.config import SandboxConfig
from harvester.sandbox.dataset import Dataset
from harvester.sandbox.faults import FaultPlan
from harvester.sandbox.images import ImageStore
from harvester.sandbox.lru import BoundedLRU
from harvester.sandbox.ratelimit import TokenBucket
from harvester.sandbox.seeded import uniform
from harvester.sandbox.stats import SandboxStats

__all__ = ["SandboxState"]


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


class SandboxState:
    """One sandbox's tokens, bucket, quota, search windows, fault plan, data and counters."""

    __slots__ = (
        "_auth_failures",
        "_created",
        "_delays",
        "_quota_held",
        "_rate_refusals",
        "_started",
        "bucket",
        "clock",
        "config",
        "dataset",
        "faults",
        "images",
        "stats",
        "tokens",
    )

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.clock = config.clock or system_clock()
        self.stats = SandboxStats()
        self.dataset = Dataset(config.seed)
        self.tokens = TokenStore()
        self.bucket = (
            TokenBucket(config.rate, config.burst, self.clock) if config.rate is not None else None
        )
        self.faults = FaultPlan(config.seed, config.fault_rate, config.faults)
        self.images = ImageStore()
        self._created: BoundedLRU[str, float] = BoundedLRU(config.max_searches)
        self._quota_held = 0  #: calls past the quota check, not yet billed or failed
        self._auth_failures = 0  #: for the seeded 401-or-200 choice (not reset with stats)
        self._rate_refusals = 0  #: for the seeded 429-or-200 choice
        self._delays = 0  #: answers delayed so far, for the seeded jitter
        self._started = self.clock()  #: the outage (config.outage_s) counts from here

    def in_outage(self) -> bool:
        """Whether the sandbox still plays a PatSnap outage (every call answered 503)."""
        return self.clock() - self._started < self.config.outage_s

    # -- tokens --------------------------------------------------------------------------

    def grant(self, client_id: str, client_secret: str, grant_type: str | None) -> str | None:
        """A new token for valid client credentials, else None."""
        valid = (
            grant_type == "client_credentials"
            and _same(client_id, self.config.client_id)
            and _same(client_secret, self.config.client_secret)
        )
        if not valid:
            return None
        lifetime = self.config.token_real_lifetime_s
        return self.tokens.issue(client_id, self.clock(), lifetime)

    def authenticate(self, authorization: str | None, apikeys: list[str]) -> int | None:
        """None when the caller may go on, else the platform error code."""
        scheme, _, credential = (authorization or "").partition(" ")
        credential = credential.strip()
        if scheme.lower() != "bearer" or not credential:
            return AUTH_FAILED
        if self.config.api_key is not None and _same(credential, self.config.api_key):
            return None
        client = self.tokens.client_of(credential, self.clock())
        if client is None:
            return AUTH_FAILED
        if not apikeys or not apikeys[0]:
            return API_KEY_MISSING
        if len(apikeys) > 1 or not _same(apikeys[0], client):
            return API_KEY_MISMATCH
        return None

    def auth_failure_status(self) -> int:
        """HTTP status of an auth failure: fixed by config, else a seeded mix of 401 and 200."""
        self._auth_failures += 1
        if self.config.auth_error_status is not None:
            return self.config.auth_error_status
        return 401 if uniform(self.config.seed, "auth", self._auth_failures) < 0.5 else 200

    # -- rate and quota ------------------------------------------------------------------

    def admit(self) -> float:
        """0.0 when the rate limit lets this call through, else seconds until it would."""
        return 0.0 if self.bucket is None else self.bucket.take()

    def rate_limit_headers(self, wait: float) -> tuple[int, dict[str, str]]:
        """HTTP status and headers of a 67200001: 429 with Retry-After, or a bare 200."""
        self._rate_refusals += 1
        status = self.config.rate_limit_status
        if status is None:
            status = 429 if uniform(self.config.seed, "rate", self._rate_refusals) < 0.5 else 200
        if status == 429:
            return 429, {"Retry-After": str(max(1, math.ceil(wait)))}
        return 200, {}

    def hold_quota(self) -> bool:
        """Whether one more billed call fits the quota; if so it is held until released."""
        quota = self.config.quota
        if quota is not None and self.stats.billed + self._quota_held >= quota:
            return False
        self._quota_held += 1
        return True

    def release_quota(self) -> None:
        """The held call is answered (billed or not)."""
        self._quota_held -= 1

    # -- search windows ------------------------------------------------------------------

    def register(self, search_id: str, created_at: float) -> None:
        """The search was created at `created_at` (epoch seconds)."""
        self._created.put(search_id, created_at)

    def expired(self, search_id: str) -> bool:
        """Whether the search's window has closed; a search never seen opens its window now."""
        now = self.clock()
        created = self._created.get(search_id)
        if created is None:
            self._created.put(search_id, now)
            return False
        return now > created + self.config.validity_s

    def delay(self) -> float:
        """Seconds the next answer waits: latency_s plus a seeded draw in +-jitter_s, >= 0.

        Seeded by the answer's number, so a run sees the same sequence of delays; which
        request gets which depends on arrival order when requests overlap.
        """
        config = self.config
        if config.jitter_s <= 0:
            return config.latency_s
        self._delays += 1
        spread = (2 * uniform(config.seed, "latency", self._delays) - 1) * config.jitter_s
        return max(0.0, config.latency_s + spread)

    def reset(self) -> None:
        """Zero the counters, forget search windows and fault history, refill the bucket."""
        self.stats.clear()
        self._created.clear()
        self.faults.reset()
        self.images.clear()
        if self.bucket is not None:
            self.bucket.refill()
