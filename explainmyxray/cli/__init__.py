"""The ``explainmyxray`` command line."""
