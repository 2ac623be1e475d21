"""The dashboard's pages: every module here has a ``register(face)`` function."""
