"""Packaged data files of explainmyxray.report."""
