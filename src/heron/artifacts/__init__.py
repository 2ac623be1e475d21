"""Artifact bytes: a content-addressed store on fsspec (and, later, materializers)."""
