"""Pipeline files: the pydantic schema, the YAML loader with line numbers, and the planner."""
