"""The model registry: named models, numbered versions (each one artifact version), aliases
with a recorded history, and the operations around them (register, roll back)."""
