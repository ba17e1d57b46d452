"""Benchmarks behind ``synthswarm bench``: each measures on this machine and returns plain figures."""
