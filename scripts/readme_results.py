#!/usr/bin/env python
"""Write the README's headline results from a demo run: ``python scripts/readme_results.py runs/demo-<timestamp>``.

Reads RUN/report.json, writes docs/results/demo.json and docs/demo_attributes_success.png, and rewrites the README
block between the demo-results markers; ``--compare RUN2`` records the spread against a second run of the same
config; ``--check`` only verifies that the README matches the committed summary. See :mod:`had_snn.demo.readme`.
"""

import sys

from had_snn.demo.readme import main

if __name__ == "__main__":
    sys.exit(main())
