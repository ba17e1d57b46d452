"""The parts of the scaling sweep, behind :mod:`synthswarm.evals.sweep` (whose :func:`run_sweep` drives
them).

- :mod:`.settings`: what a sweep is told: :class:`~.settings.SweepSettings` and the models
  (:class:`~.settings.ModelSpec`, configuration a worker process can build from).
- :mod:`.observer`: what a sweep reports as it goes.
- :mod:`.cache`: what ``OUT/runs`` keeps: each run under the key of what decides it, and the paragraph
  embeddings.
- :mod:`.jobs`: one run's configuration as it travels, its outcome as it comes back, and running it.
- :mod:`.workers`: where runs go: this process, a pool of worker processes, or Ray tasks.
- :mod:`.plan`: which runs are left, ready (gossip waits for dht's budget) or running.
- :mod:`.results`: the rows made into what ``results.json`` holds, written after every run.
- :mod:`.report`: the results as markdown tables (``results.md``).
"""
