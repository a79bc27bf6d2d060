from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="a pipeline YAML file, or the name of a shipped one")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--data",
        default="explainmyxray-serve",
        help="folder of the job queue (queue.sqlite3) and the jobs' results (created)",
    )
    parser.add_argument("--device", help="override the pipeline's device (cpu, cuda, cuda:N)")
    parser.add_argument(
        "--preload", action="store_true", help="load the pipeline's models at start-up"
    )
    parser.add_argument(
        "--max-upload-mb", type=float, default=64, help="largest request body (default 64 MiB)"
    )
    parser.add_argument("--max-files", type=int, default=32, help="files per job (default 32)")
    parser.add_argument(
        "--batch-window-ms",
        type=float,
        default=50,
        help="how long to wait for more cases before a batch that is not full runs (default 50)",
    )
    parser.add_argument(
        "--rate-limit",
        type=float,
        default=120,
        help="job submissions per minute and client (default 120; burst: half of it)",
    )
    parser.add_argument(
        "--max-active-jobs",
        type=int,
        default=64,
        help="queued or running jobs per client (default 64)",
    )
    parser.add_argument(
        "--job-option",
        action="append",
        default=[],
        metavar="STAGE:PLUGIN.OPTION",
        help="a step option a job may set in its 'options' field (repeatable; none by default)",
    )
    parser.add_argument(
        "--callback-host",
        action="append",
        default=[],
        metavar="HOST",
        help="a host that callback URLs may point to (repeatable; none by default)",
    )
    parser.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="allow cross-origin calls from this origin (repeatable; CORS is off by default)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30,
        help="seconds the running batch may take to finish on shutdown before it is re-queued",
    )


def run(args: argparse.Namespace) -> int:
    import logging
    import os
    from pathlib import Path

    from ...core.errors import UsageError
    from ...service.limits import TOKEN_ENV, is_loopback
    from ...service.settings import ServiceSettings
    from ..console import err, out

    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError as exc:
        raise UsageError(
            f"serving needs the [serve] extra ({exc.name} is missing): "
            'pip install "explainmyxray[serve]"'
        ) from None
    if args.max_files < 1 or args.max_upload_mb <= 0 or args.rate_limit <= 0:
        raise UsageError("--max-files, --max-upload-mb and --rate-limit must be positive")

    token = os.environ.get(TOKEN_ENV) or None
    settings = ServiceSettings(
        pipeline=args.pipeline,
        data_dir=Path(args.data),
        device=args.device,
        preload=args.preload,
        token=token,
        max_upload_bytes=int(args.max_upload_mb * (1 << 20)),
        max_files=args.max_files,
        batch_window_s=args.batch_window_ms / 1000.0,
        rate_per_minute=args.rate_limit,
        rate_burst=max(1, int(args.rate_limit // 2)),
        max_active_jobs=args.max_active_jobs,
        job_options=list(args.job_option),
        callback_hosts=list(args.callback_host),
        cors_origins=list(args.cors_origin),
        shutdown_timeout_s=args.shutdown_timeout,
        plugins=list(args.plugin),
        no_plugins=list(args.no_plugin),
    )
    if not token and not is_loopback(args.host):
        err().print(
            f"[bold red]WARNING: serving on {args.host} without authentication.[/] Anyone who can "
            f"reach this port can submit radiographs and read every report. Set {TOKEN_ENV} to "
            "require a bearer token.",
            highlight=False,
        )

    from ...service.app import create_app
    from ...service.engine_adapter import ServingEngine

    engine = ServingEngine(
        settings.pipeline,
        device=settings.device,
        allow=settings.plugins,
        block=settings.no_plugins,
    )
    app = create_app(settings, engine)
    logging.getLogger("explainmyxray").setLevel(logging.INFO)
    auth = "bearer token required" if token else "no token"
    out().print(
        f"serving [bold]{engine.name}[/] (batch {engine.batch_size}) on "
        f"http://{args.host}:{args.port} — data in {settings.data_dir}, {auth}; "
        f"API docs at /docs",
        highlight=False,
    )
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level="info" if args.verbose else "warning",
        timeout_graceful_shutdown=int(args.shutdown_timeout) + 5,
    )
    return 0
