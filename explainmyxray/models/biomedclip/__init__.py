"""BiomedCLIP: image and report embeddings for retrieval, and zero-shot finding scores."""
