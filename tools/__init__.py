"""Repository tools: the zone-file builder, the sample-feed simulator and the golden-file writer.

Not part of the installed package (pyproject.toml packages only `monitor`): run from a checkout, and
imported by the tests and bench/ as `tools.simulate`.
"""
