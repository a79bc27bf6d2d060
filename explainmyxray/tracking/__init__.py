"""Experiment tracking (MLflow) of runs, evaluations and training, and drift monitoring.

``mlflow_store`` decides whether and where to track; ``runs`` logs a finished run, an evaluation
or a training to MLflow; ``signals`` records per-case image statistics while a run writes its
cases; ``profile`` turns a run into a de-identified reference profile; ``drift`` holds the
two-sample tests; ``monitor`` compares two profiles signal by signal; ``page`` renders the result.
Nothing here is imported by the core.
"""
