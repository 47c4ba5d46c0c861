"""The ``had-snn`` command line: one subcommand per module in :mod:`had_snn.commands`.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int`` and must not
import torch at module import time (so ``had-snn --help`` is instant); ``run`` imports what it needs. A module may
also define ``resume_hint(args) -> str | None``: the command line that continues an interrupted run.

:func:`main` runs each command behind the one error boundary (:func:`had_snn.util.errors.run_guarded`, which the
experiment scripts share): an expected failure (:class:`~had_snn.util.errors.UserError`, ``ValueError``, ``OSError``
and the other types in :data:`~had_snn.util.errors.EXPECTED`) prints one line ``had-snn CMD: error: ...`` and exits 1;
Ctrl-C prints where to resume and exits 130; anything else is reported as an internal error in one line. ``--debug``
(or ``HAD_SNN_DEBUG=1``) lets the traceback through instead.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import shlex
import sys
from collections.abc import Sequence

from had_snn import __version__, commands
from had_snn.util.errors import run_guarded


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
        p.set_defaults(_run=mod.run, _resume_hint=getattr(mod, "resume_hint", None),
                       _resumes=getattr(mod, "RESUMES", False))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``had-snn`` console script."""
    from had_snn.util.malloc import tune_malloc

    tune_malloc()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2

    def again() -> str:
        hint = args._resume_hint(args) if args._resume_hint else None
        return hint or "had-snn " + shlex.join(sys.argv[1:] if argv is None else list(argv))

    return run_guarded(lambda: args._run(args), f"had-snn {args.command}", again, args.debug, args._resumes)


if __name__ == "__main__":
    sys.exit(main())
