"""The composition root: the one place that starts the gateway and the fleet page together.

Arrows point down only: kizashi -> fleet_web -> gateway -> protocol (firmware only for the demo's
simulated nodes and `kizashi node flash`). Nothing imports this package but tests and benchmarks;
tests/test_layers.py checks the arrows.
"""
