"""Package-level contracts: light import, CLI wiring."""

from __future__ import annotations

import subprocess
import sys


def test_import_had_snn_does_not_import_torch() -> None:
    code = (
        "import sys, had_snn, had_snn.cli, had_snn.hardware, had_snn.data; "
        "had_snn.cli.build_parser(); "
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('torch'))"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_subcommand_has_help() -> None:
    from had_snn.cli import _command_modules, main

    for mod in _command_modules():
        try:
            main([mod.NAME, "--help"])
        except SystemExit as exc:
            assert exc.code == 0
