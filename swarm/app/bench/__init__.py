"""Benchmarks behind ``synthswarm bench``: each measures on this machine and returns plain figures."""

#: The sections of ``synthswarm bench faults``, in the order they run (named here so the CLI can
#: list them without importing the benchmark).
FAULT_SECTIONS = ("authenticity", "fuzz", "churn", "restart", "partition", "soak")
