"""The one exception type for expected failures: the CLI prints its message as one line and exits non-zero.

Raise :class:`UserError` (or a subclass) for anything a user can fix: a bad file, field, option or a busy folder.
The message must name the file, field or option and say what was expected. ``ValueError`` and
``FileNotFoundError`` raised by library code are treated the same way by the CLI.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure caused by the input, the options or the state of an output folder."""


class RunFolderBusy(UserError):
    """Another process holds the output folder's lock, or the folder holds a different run."""
