"""The ``had-snn`` command line: one subcommand per module in :mod:`had_snn.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` and must not
import torch at module import time (so ``had-snn --help`` is instant); ``run`` imports what it needs. A module may
also define ``resume_hint(args) -> str | None``: the command line that continues an interrupted run.

:func:`main` is the one error boundary: an expected failure (:class:`~had_snn.util.errors.UserError`, ``ValueError``,
``OSError`` and the other types in :data:`EXPECTED`) prints one line ``had-snn CMD: error: ...`` and exits 1; Ctrl-C
prints where to resume and exits 130; anything else is reported as an internal error in one line. ``--debug`` (or
``HAD_SNN_DEBUG=1``) lets the traceback through instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import shlex
import sys
import zipfile
from collections.abc import Sequence

from had_snn import __version__, commands
from had_snn.util.errors import UserError

# Failures caused by input, options or the environment: reported in one line, never with a traceback.
EXPECTED: tuple[type[BaseException], ...] = (UserError, ValueError, OSError, zipfile.BadZipFile, ImportError,
                                             KeyError, TypeError)


def _command_modules() -> list:
    mods = [importlib.import_module(f"had_snn.commands.{m.name}") for m in pkgutil.iter_modules(commands.__path__)]
    return sorted((m for m in mods if hasattr(m, "NAME")), key=lambda m: m.NAME)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered."""
    parser = argparse.ArgumentParser(
        prog="had-snn",
        description="Train spiking event-camera trackers by HAD distillation and deploy them on Loihi via Lava.",
    )
    parser.add_argument("--version", action="version", version=f"had-snn {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show Python tracebacks instead of one-line errors (also: HAD_SNN_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run, _resume_hint=getattr(mod, "resume_hint", None))
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing key {text}"
    if isinstance(exc, ImportError) and exc.name:
        text = f"{text} (a dependency is missing: install it, e.g. with `pip install -e .[dev]`)"
    return text


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``had-snn`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    if args.debug or os.environ.get("HAD_SNN_DEBUG", "") not in ("", "0"):
        return int(args._run(args) or 0)
    where = f"had-snn {args.command}"
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        hint = args._resume_hint(args) if args._resume_hint else None
        again = hint or "had-snn " + shlex.join(sys.argv[1:] if argv is None else list(argv))
        print(f"\n{where}: interrupted; finished work is kept. Continue with: {again}", file=sys.stderr)
        return 130
    except EXPECTED as exc:
        print(f"{where}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug, still one line; --debug shows where
        print(f"{where}: internal error ({type(exc).__name__}): {_one_line(exc)}; "
              f"rerun with --debug for the traceback and report it", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
