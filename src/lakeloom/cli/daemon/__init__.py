"""Warm runs: CLI commands on a Spark driver that is already up (``lakeloom daemon``, ``serve``)."""
