"""The eval harness: does a swarm's collective intelligence grow with its size, and at what cost?

- :mod:`synthswarm.evals.datasets`: HotpotQA (any file in its format) and a seeded synthetic generator of
  distributed knowledge, as one :class:`~synthswarm.evals.datasets.Dataset` shape.
- :mod:`synthswarm.evals.partition`: split a corpus among N agents by topic (seeded k-means on embeddings).

The scaling sweep itself (``synthswarm eval scaling``) follows GUIDE section 5.
"""
