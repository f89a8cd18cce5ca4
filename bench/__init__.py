"""Benchmarks: each module measures one speed, memory or quality figure and prints it as a Markdown table; the
figures are quoted in docs/ with the command that reproduces them. Nothing timed is asserted in tests.

Run one from the repository root as a module, so `tuner` and the shared bench helpers (`bench.machine`,
`bench.app_client`) import without path patches: `python -m bench.train_throughput --help`.
"""
