"""Data files of the labeler: phrase lists and scope rules."""
