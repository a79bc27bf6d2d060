"""all-MiniLM-L6-v2: sentence embeddings of report texts (the text-only retrieval backend)."""
