"""Who thinks: chat models (:mod:`synthswarm.agents.llm`) and embedders
(:mod:`synthswarm.agents.embeddings`)."""
