"""Command line: a thin layer over the library.

Each sub-command lives in its own module of this package and exposes
``register(subparsers)``, which adds its parser and sets ``func(args) -> int``.
User mistakes become one readable line on stderr and a non-zero exit.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from stridesense import __version__
from stridesense.errors import StridesenseError

# Sub-command modules, in the order `--help` lists them.
COMMAND_MODULES = [
    "stridesense.cli.analysis",  # demo, analyze, simulate
    "stridesense.cli.live",  # live, replay
    "stridesense.cli.batch",  # batch
    "stridesense.cli.importing",  # import
    "stridesense.cli.recording",  # scan, record
    "stridesense.cli.reporting",  # report, compare, library, trends
]

EXIT_USER_ERROR = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stridesense",
        description="Running gait from a pelvis and a trunk IMU: pelvic drop, trunk lean, impact load, per step.",
    )
    parser.add_argument("--version", action="version", version=f"stridesense {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit status."""
    return _main(argv)[0]


def run() -> None:
    """Console entry point.

    Commands that only write files (``analyze``, ``demo``) end without the
    interpreter's teardown once their output is flushed: unloading scipy,
    pandas and numba takes 0.3-0.4 s, longer than writing the table.
    """
    code, args = _main(None)
    if getattr(args, "skip_teardown", False):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def _main(argv: list[str] | None) -> tuple[int, argparse.Namespace | None]:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_USER_ERROR, None
    try:
        return int(args.func(args) or 0), args
    except StridesenseError as e:
        print(f"stridesense {args.command}: error: {e}", file=sys.stderr)
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as e:
        print(f"stridesense {args.command}: error: {e.strerror or e}: {e.filename}", file=sys.stderr)
    except OSError as e:
        print(f"stridesense {args.command}: error: {e}", file=sys.stderr)
    except KeyboardInterrupt:
        print(f"stridesense {args.command}: interrupted", file=sys.stderr)
        return 130, args
    return EXIT_USER_ERROR, args


if __name__ == "__main__":  # pragma: no cover
    run()
