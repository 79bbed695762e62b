"""Command-line flags of `harvester sandbox` (and `python -m harvester.sandbox`)."""

from __future__ import annotations

import argparse

from harvester.sandbox.config import SandboxConfig
from harvester.sandbox.fault_kinds import ALL_FAULTS

__all__ = ["DEFAULT_PORT", "add_arguments", "config_from_args"]

DEFAULT_PORT = 8765


def _faults(text: str) -> tuple[str, ...]:
    kinds = tuple(kind.strip() for kind in text.split(",") if kind.strip())
    unknown = [kind for kind in kinds if kind not in ALL_FAULTS]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown fault {', '.join(unknown)}; choose from {', '.join(ALL_FAULTS)}"
        )
    return kinds


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add every sandbox flag, each with help text, to `parser`."""
    defaults = SandboxConfig()
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="address to listen on (default: %(default)s)")
    add(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help="port; 0 picks a free one (default: %(default)s)",
    )
    add(
        "--seed",
        type=int,
        default=defaults.seed,
        help="fixes data and faults (default: %(default)s)",
    )
    add(
        "--validity",
        type=_positive,
        default=defaults.validity_s,
        metavar="SECONDS",
        help="a search expires this long after created or first seen (default: %(default)s)",
    )
    add(
        "--upload-ttl",
        type=_positive,
        default=defaults.upload_ttl_s,
        metavar="SECONDS",
        help="an uploaded image's URL works this long (data.expire; default: %(default)s)",
    )
    add(
        "--rate",
        type=_positive,
        default=None,
        metavar="PER_SECOND",
        help="platform rate limit over all callers; over it answers 67200001 (default: none)",
    )
    add(
        "--burst",
        type=int,
        default=defaults.burst,
        help="calls the rate limit lets through at once (default: %(default)s)",
    )
    add(
        "--quota",
        type=int,
        default=None,
        metavar="CALLS",
        help="billed calls allowed, then 67200002 forever (default: unlimited)",
    )
    add("--client-id", default=defaults.client_id, help="OAuth client id (default: %(default)s)")
    add(
        "--client-secret",
        default=defaults.client_secret,
        help="OAuth client secret (default: the sandbox's built-in one)",
    )
    add(
        "--api-key",
        default=None,
        help="also accept `Authorization: Bearer KEY` without a token (default: off)",
    )
    add(
        "--token-ttl",
        type=_positive,
        default=defaults.token_ttl_s,
        metavar="SECONDS",
        help="expires_in advertised with each token (default: %(default)s)",
    )
    add(
        "--token-lifetime",
        type=_positive,
        default=None,
        metavar="SECONDS",
        help="real token lifetime when shorter than advertised (default: as advertised)",
    )
    add(
        "--fault-rate",
        type=float,
        default=defaults.fault_rate,
        metavar="P",
        help="probability that a results call gets an injected fault (default: %(default)s)",
    )
    add(
        "--faults",
        type=_faults,
        default=defaults.faults,
        metavar="KINDS",
        help="comma-separated fault kinds to draw from: " + ", ".join(ALL_FAULTS),
    )
    add(
        "--slow",
        type=float,
        default=defaults.slow_s,
        metavar="SECONDS",
        help="delay of the 'slow' fault (default: %(default)s)",
    )
    add(
        "--latency",
        type=float,
        default=defaults.latency_s,
        metavar="SECONDS",
        help="delay added to every answer, after the rate check (default: %(default)s)",
    )
    add(
        "--jitter",
        type=float,
        default=defaults.jitter_s,
        metavar="SECONDS",
        help="each answer's delay is --latency plus or minus up to this, seeded "
        "(e.g. --latency 0.5 --jitter 0.2: 300..700 ms) (default: %(default)s)",
    )
    add(
        "--expired-code",
        type=int,
        default=defaults.expired_code,
        metavar="CODE",
        help="error_code answered for a search past its window (default: %(default)s)",
    )
    add(
        "--auth-error-status",
        type=int,
        choices=(200, 401),
        default=None,
        help="HTTP status of auth errors (default: a seeded mix, as PatSnap's gateway)",
    )
    add(
        "--rate-limit-status",
        type=int,
        choices=(200, 429),
        default=None,
        help="HTTP status of 67200001 (default: a seeded mix of 429 and 200)",
    )
    add(
        "--outage-s",
        type=float,
        default=defaults.outage_s,
        metavar="SECONDS",
        help="answer every call, the token endpoint's too, with HTTP 503 for this long "
        "after the sandbox starts, as a PatSnap outage would (default: %(default)s)",
    )


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """The SandboxConfig the parsed flags describe; raises ValueError for bad combinations."""
    return SandboxConfig(
        seed=args.seed,
        validity_s=args.validity,
        rate=args.rate,
        burst=args.burst,
        quota=args.quota,
        client_id=args.client_id,
        client_secret=args.client_secret,
        api_key=args.api_key,
        token_ttl_s=args.token_ttl,
        token_lifetime_s=args.token_lifetime,
        fault_rate=args.fault_rate,
        faults=args.faults,
        slow_s=args.slow,
        latency_s=args.latency,
        jitter_s=args.jitter,
        expired_code=args.expired_code,
        auth_error_status=args.auth_error_status,
        rate_limit_status=args.rate_limit_status,
        outage_s=args.outage_s,
        upload_ttl_s=args.upload_ttl,
    )
