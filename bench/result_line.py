"""The one machine-readable line each bench prints per measurement, which ``scripts/bench_table.py`` collects into
the README's performance table (``make bench``).

A line is ``bench-result {json}`` with the measurement's ``what``, the ``peer`` and its time, ours and its time
(seconds, per the ``unit`` of work), ``ratio = peer_s / ours_s`` (higher: ours faster), the project's ``goal`` for
that ratio (None where there is none) and ``checked``: what was compared before timing (outputs equal, ...).
"""

from __future__ import annotations

import json

PREFIX = "bench-result "


def emit(what: str, peer: str, peer_s: float, ours_s: float, unit: str, checked: str,
         goal: float | None = None) -> None:
    """Print one result line (and nothing else)."""
    if peer_s <= 0 or ours_s <= 0:
        raise ValueError(f"{what}: times must be > 0 s, got peer {peer_s}, ours {ours_s}")
    print(PREFIX + json.dumps({"what": what, "peer": peer, "peer_s": peer_s, "ours_s": ours_s,
                               "ratio": peer_s / ours_s, "unit": unit, "goal": goal, "checked": checked}),
          flush=True)
