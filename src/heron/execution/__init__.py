"""Running one step anywhere: the step executor and what it needs (plans, cache keys, capture)."""
