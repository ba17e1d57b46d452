"""The parts of one scaling run, behind :mod:`synthswarm.evals.harness` (whose :func:`run_once` runs them
in order).

- :mod:`.settings`: what a run is told: :class:`~.settings.RunSettings`, the strategies, the prompt.
- :mod:`.rows`: what a run reports: :class:`~.rows.Row` (as ``results.json`` holds it) and the graph.
- :mod:`.embedder`: paragraph embeddings computed once and shared by every run.
- :mod:`.build`: the swarm for a run: the strategy's router, and one specialist per part of the corpus.
- :mod:`.publish`: the phases before asking: publish, settle (with synthesis), kill.
- :mod:`.ask`: the ask phase: each question to its answerer, gathered, recorded, then answered.
- :mod:`.answer`: every question answered from its context by a model, many at once.
- :mod:`.metrics`: request categories, the per-question record, and the row a run's records make.
- :mod:`.synthesis_metrics`: the synthesis figures (useful against its ceiling, used, own, pairs).
- :mod:`.kinds`: answers by the kind of answer each question wants, beside each kind's chance baseline.
"""
