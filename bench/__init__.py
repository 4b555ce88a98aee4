"""``make bench``: how fast rest-trigger goes from POST to result, measured on this machine.

``python -m bench --help`` lists the knobs; the default is the full run documented in
docs/benchmarks.md.
"""
