"""evalkit benchmarks: `make bench` (ratios to the ideal) and `make bench-peers` (ratios to rival tools)."""
