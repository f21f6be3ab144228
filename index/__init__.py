"""Embedding, sparse encoding and the vector store (two Qdrant backends behind one protocol)."""
