"""The framework core: data model, hook specifications, orchestration, model management."""
