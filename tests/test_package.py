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


def test_every_subcommand_has_help(capsys) -> None:
    import pytest

    from had_snn.cli import _command_modules, main

    modules = list(_command_modules())
    assert len(modules) >= 10
    for mod in modules:
        with pytest.raises(SystemExit) as exc:
            main([mod.NAME, "--help"])
        assert exc.value.code == 0, mod.NAME
        out = capsys.readouterr().out
        assert out.startswith(f"usage: had-snn {mod.NAME}") and "--help" in out, (mod.NAME, out[:200])
