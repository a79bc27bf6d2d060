"""Data files of the labeler: phrase lists, scope rules, the IU X-ray MeSH mapping."""
