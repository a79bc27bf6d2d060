"""``explainmyxray serve``: a job service over one long-lived engine.

Jobs (one or more uploaded radiographs) are accepted over HTTP, persisted in a SQLite (WAL) queue
next to the result store, and run by one worker thread that batches cases across jobs. Each job's
folder has the same layout as a CLI run's output folder (``cases/<id>/report.json``,
``overlay.png``, ``image.jpg``).
"""
