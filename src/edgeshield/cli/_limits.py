"""Bounds shared by the CLI's numeric options: a typo is refused by the parser, before any work."""

from __future__ import annotations

# numpy's and torch's generators take seeds in [0, 2**32) on every platform; a negative seed
# was a traceback deep in numpy.
SEED_MAX = 2**32 - 1

# Generated rows: 10 million rows is about 1 GiB of frame; 1e20 was an OverflowError in numpy.
ROWS_MAX = 10_000_000
