"""Subcommands of the ``had-snn`` CLI, one module each (discovered by :mod:`had_snn.cli`)."""
