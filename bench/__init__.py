"""Benchmarks: each measures cspflow against a peer in the same run and reports a ratio."""
