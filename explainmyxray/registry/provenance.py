"""What produced a run's results: package and library versions, and for every model its Hub id,
pinned revision (or "unpinned"), where its weights were and a fingerprint of them."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.fingerprint import file_fingerprint
from .weights import locate_weights

if TYPE_CHECKING:
    from ..core.plan import Plan
    from .plugins import PluginHost

LIBRARIES = ("explainmyxray", "torch", "transformers", "pydicom", "numpy", "pillow")
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt", ".tar.gz")


def library_versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found


def weights_fingerprint(where: Path | None) -> str | None:
    """SHA-256 over the name and :func:`~explainmyxray.core.fingerprint.file_fingerprint` of each
    weights file (sorted by name): it changes when any weights file does."""
    if where is None or not where.exists():
        return None
    import hashlib

    files = (
        [where]
        if where.is_file()
        else sorted(p for p in where.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    )
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}:{file_fingerprint(path)}".encode())
    return digest.hexdigest()


def run_provenance(host: PluginHost, plan: Plan) -> dict[str, Any]:
    """Versions and, per model the plan uses, id, revision, weights location and fingerprint."""
    models = []
    for planned in plan.steps:
        for request in planned.models:
            spec = host.models.get(request.name)
            where = request.weights or locate_weights(spec)
            models.append(
                {
                    "name": spec.name,
                    "step": planned.step.label,
                    "hub_id": spec.hub_id,
                    "revision": spec.revision or ("unpinned" if spec.hub_id else None),
                    "precision": request.precision,
                    "device": planned.device,
                    "weights": str(where) if where else None,
                    "weights_sha256": weights_fingerprint(Path(where)) if where else None,
                }
            )
    return {
        "versions": library_versions(),
        "platform": f"{platform.system()} {platform.machine()}",
        "plugins": {
            ps.step.plugin: (host.infos[ps.step.plugin].version or None) for ps in plan.steps
        },
        "models": models,
    }
