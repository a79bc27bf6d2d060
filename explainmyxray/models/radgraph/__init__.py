"""RadGraph (DyGIE++ over report text): entities, relations and the RadGraph F1.

Importing this package is cheap; radgraph and torch are imported when the model loads.
"""
