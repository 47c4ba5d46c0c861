"""Expected failures and the one error boundary that reports them (the CLI's and every experiment script's).

Raise :class:`UserError` (or a subclass) for anything a user can fix: a bad file, field, option or a busy folder.
The message must name the file, field or option and say what was expected. ``ValueError``, ``OSError`` and the other
types in :data:`EXPECTED` raised by library code are treated the same way. :func:`run_guarded` prints such a failure
as one line ``WHERE: error: ...`` and returns 1; Ctrl-C prints how to continue and returns 130; anything else is one
line ``WHERE: internal error (...)``. With ``debug`` (``--debug`` or ``HAD_SNN_DEBUG=1``) the traceback goes through.
"""

from __future__ import annotations

import os
import shlex
import sys
import zipfile
from collections.abc import Callable


class UserError(Exception):
    """An expected failure caused by the input, the options or the state of an output folder."""


class RunFolderBusy(UserError):
    """Another process holds the output folder's lock, or the folder holds a different run."""


# Failures caused by input, options or the environment: reported in one line, never with a traceback.
EXPECTED: tuple[type[BaseException], ...] = (UserError, ValueError, OSError, zipfile.BadZipFile, ImportError,
                                             KeyError, TypeError)


def one_line(exc: BaseException) -> str:
    """An exception's message on one line (what the boundary prints)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, KeyError):
        text = f"missing key {text}"
    if isinstance(exc, ImportError) and exc.name:
        text = f"{text} (a dependency is missing: install it, e.g. with `pip install -e .[dev]`)"
    return text


def debug_requested(flag: bool = False) -> bool:
    """``flag`` (``--debug``) or ``HAD_SNN_DEBUG`` set to anything but 0."""
    return flag or os.environ.get("HAD_SNN_DEBUG", "") not in ("", "0")


def caused_by_interrupt(exc: BaseException) -> bool:
    """Whether a ``KeyboardInterrupt`` is in ``exc``'s cause/context chain: a Ctrl-C that landed inside a compiled
    (numba) function comes back as ``SystemError: ... returned a result with an exception set``, the interrupt
    chained to it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def run_guarded(run: Callable[[], int | None], where: str, again: Callable[[], str], debug: bool = False,
                resumes: bool = True) -> int:
    """Run ``run()`` behind the error boundary (module docstring) and return its exit status; ``again()`` gives the
    command line that continues after Ctrl-C (asked only then: a run may choose its folder as it starts).
    ``resumes``: the command keeps finished work and continues from it; else its outputs are written whole at the
    end, so an interrupted run left none."""
    if debug_requested(debug):
        return int(run() or 0)
    try:
        try:
            return int(run() or 0)
        except Exception as exc:
            if caused_by_interrupt(exc):  # e.g. numba's SystemError around a Ctrl-C inside a compiled kernel
                raise KeyboardInterrupt from exc
            raise
    except KeyboardInterrupt:
        if resumes:
            print(f"\n{where}: interrupted; finished work is kept. Continue with: {again()}", file=sys.stderr)
        else:
            print(f"\n{where}: interrupted before its outputs were written (they are written whole, at the end); "
                  f"run it again: {again()}", file=sys.stderr)
        return 130
    except EXPECTED as exc:
        print(f"{where}: error: {one_line(exc)}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001 - a bug, still one line; debug shows where
        print(f"{where}: internal error ({type(exc).__name__}): {one_line(exc)}; "
              f"rerun with --debug for the traceback and report it", file=sys.stderr)
        return 1


def script_main(main: Callable[[list[str] | None], int | None], name: str) -> None:
    """``sys.exit`` with ``main(argv)`` run behind :func:`run_guarded`, for a ``python SCRIPT ...`` entry point;
    ``--debug`` among the arguments lets tracebacks through (and is removed before ``main`` sees them)."""
    argv = sys.argv[1:]
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    sys.exit(run_guarded(lambda: main(argv), name, lambda: shlex.join(["python", name, *argv]), debug))
