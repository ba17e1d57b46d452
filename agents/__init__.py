"""Who thinks: chat models (:mod:`agents.llm`) and embedders (:mod:`agents.embeddings`)."""
