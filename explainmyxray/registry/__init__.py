"""Plugin discovery and the model registry."""
