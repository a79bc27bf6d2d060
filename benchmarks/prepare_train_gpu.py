"""Prepare what ``benchmarks/train_gpu.py`` needs on a GPU machine with no network.

Writes, into one ignored folder (``wheels_train/`` by default):

* CPython 3.12 manylinux x86-64 wheels of the training packages the GPU image lacks (TRL,
  datasets and the packages datasets adds; bitsandbytes; this project's own dependencies, pydicom
  included: the image reader imports it), pinned below; ``--no-deps`` downloads, so each needed
  package is named;
* bitsandbytes slimmed to the CUDA 12.8 / 13.0 / 13.2 and CPU libraries (its other CUDA, ROCm
  and XPU builds are about 85 % of the wheel), its RECORD rewritten to match;
* ``padchest_labels.csv.gz``: the first PA rows of torchxrayvision's PadChest label table (the
  columns the dataset builder reads), for ``train_gpu.py --labels``.

    python benchmarks/prepare_train_gpu.py [--out wheels_train] [--rows 400]

On the GPU machine (carry ``wheels_train``)::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site wheels_train/*.whl
    PYTHONPATH=/tmp/site:$PWD python3 benchmarks/train_gpu.py \
        --labels wheels_train/padchest_labels.csv.gz --out $OUT/train_gpu.json

Versions: TRL 1.16.0 supports transformers >= 4.56.2 and has code paths for releases before
5.18/5.19, so it runs on the image's 5.17; datasets 5.0.1 is the newest release that accepts a
huggingface-hub below 2.0 (transformers 5.17 needs < 2.0; datasets 5.1+ needs >= 1.31) and
pyarrow >= 21. pandas and pyarrow (about 55 MB of wheels) are not carried: the GPU image has them.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import re
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WHEELS = {
    "trl": "1.16.0",
    "datasets": "5.0.1",
    "dill": "0.4.1",
    "multiprocess": "0.70.19",
    "xxhash": "4.1.0",
    "fsspec": "2026.6.0",
    "bitsandbytes": "0.50.2",
    "pydantic": "2.14.4",
    "pydantic-core": "2.50.5",
    "annotated-types": "0.8.0",
    "typing-inspection": "0.4.5",
    "pluggy": "1.7.0",
    "pyyaml": "6.0.4",
    "rich": "15.0.0",
    "markdown-it-py": "4.3.0",
    "mdurl": "0.1.2",
    "pygments": "2.21.0",
    "pydicom": "3.0.2",
}
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_17_x86_64", "manylinux_2_24_x86_64")
PLATFORMS += ("manylinux_2_28_x86_64",)
BITSANDBYTES_KEPT = re.compile(r"libbitsandbytes_(cpu|cuda128|cuda130|cuda132)\.so$")
BITSANDBYTES_LIBRARY = re.compile(r"libbitsandbytes_[^/]*\.so$")
LABELS_NAME = "padchest_labels.csv.gz"


def download(out: Path, python_version: str) -> None:
    """``pip download`` every pinned wheel (binary only, no dependencies) into ``out``."""
    command = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:"]
    command += ["--python-version", python_version, "--implementation", "cp", "-d", str(out)]
    for platform in PLATFORMS:
        command += ["--platform", platform]
    command += [f"{name}=={version}" for name, version in WHEELS.items()]
    subprocess.run(command, check=True)


def record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def slim_wheel(path: Path, keep_library: re.Pattern[str], library: re.Pattern[str]) -> int:
    """Rewrite the wheel at ``path`` without the libraries ``library`` matches and
    ``keep_library`` does not; RECORD lists exactly what stays. Returns the bytes saved."""
    before = path.stat().st_size
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, 9) as dst:
        members = [
            m
            for m in src.infolist()
            if not (library.search(m.filename) and not keep_library.search(m.filename))
        ]
        record = next(m for m in members if m.filename.endswith(".dist-info/RECORD"))
        lines = []
        for member in members:
            if member is record:
                continue
            data = src.read(member)
            dst.writestr(member, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
            lines.append(record_line(member.filename, data))
        lines.append(f"{record.filename},,")
        dst.writestr(record, "\n".join(lines) + "\n", compress_type=zipfile.ZIP_DEFLATED)
    tmp.replace(path)
    return before - path.stat().st_size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "wheels_train")
    parser.add_argument("--rows", type=int, default=400, help="PA rows in the label extract")
    parser.add_argument("--python-version", default="3.12")
    parser.add_argument("--skip-download", action="store_true")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.skip_download:
        download(args.out, args.python_version)
    for wheel in args.out.glob("bitsandbytes-*.whl"):
        saved = slim_wheel(wheel, BITSANDBYTES_KEPT, BITSANDBYTES_LIBRARY)
        print(f"{wheel.name}: {saved / 2**20:.1f} MiB of other GPU libraries removed", flush=True)

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from train_gpu import export_labels

    kept = export_labels(args.out / LABELS_NAME, args.rows)
    print(f"{LABELS_NAME}: {kept} PA rows", flush=True)
    total = 0
    for path in sorted(args.out.iterdir()):
        size = path.stat().st_size
        total += size
        print(f"{size / 2**20:8.2f} MiB  {path.name}")
    print(f"{total / 2**20:8.2f} MiB  in all ({args.out})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
