"""`python -m harvester.sandbox [--port 0] ...`: run a sandbox until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from harvester.sandbox.server import SandboxConfig, add_arguments, config_from_args, serve_forever


def _announce(url: str) -> None:
    print(f"PatSnap sandbox listening on {url}", flush=True)


async def _serve(config: SandboxConfig, host: str, port: int) -> None:
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    if task is not None:
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            loop.add_signal_handler(signal.SIGTERM, task.cancel)
    await serve_forever(config, host=host, port=port, on_ready=_announce)


def main(argv: list[str] | None = None) -> int:
    """Parse flags, serve, and return the exit code (130 on Ctrl-C, 143 on SIGTERM)."""
    parser = argparse.ArgumentParser(
        prog="python -m harvester.sandbox",
        description="A local PatSnap-compatible server for tests, demos and benchmarks.",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(_serve(config, args.host, args.port))
    except KeyboardInterrupt:
        return 130
    except asyncio.CancelledError:
        return 143
    return 0


if __name__ == "__main__":
    sys.exit(main())
