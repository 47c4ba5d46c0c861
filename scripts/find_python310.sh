#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (lava-nc 0.10 needs 3.10), or nothing and exit 1.
# Looks at $PYTHON310, python3.10 on PATH (pyenv shims included) and pyenv's versions folder.
set -u
try() { [ -n "$1" ] && "$1" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && command -v "$1"; }
try "${PYTHON310:-}" && exit 0
try python3.10 && exit 0
for root in "${PYENV_ROOT:-}" "$HOME/.pyenv" /root/.pyenv; do
  for p in "$root"/versions/3.10*/bin/python3.10; do
    [ -x "$p" ] && try "$p" && exit 0
  done
done
exit 1
