"""The driver script ``lakeloom submit`` hands to ``spark-submit``.

spark-submit starts this file with its own SparkConf (master, jars, Delta, catalog);
lakeloom's session provider then reuses that session instead of creating one, and the
rest is an ordinary ``lakeloom run``.
"""
from __future__ import annotations

import sys

if __name__ == "__main__":
    from lakeloom.cli.main import cli

    cli.main(args=sys.argv[1:], prog_name="lakeloom", standalone_mode=True)
