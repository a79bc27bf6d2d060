"""How ExplainMyXray names itself in the DICOM objects it writes."""

from __future__ import annotations

from pydicom.uid import generate_uid

MANUFACTURER = "ExplainMyXray"
MODEL_NAME = "ExplainMyXray"
DEVICE_SERIAL_NUMBER = "0"
DEVICE_UID = generate_uid(entropy_srcs=["ExplainMyXray", "device"])
"""The algorithm's device observer UID in SRs: the same in every release and every run."""

SR_SERIES_NUMBER = 901
SEG_SERIES_NUMBER = 902


def software_version() -> str:
    from .. import __version__

    return __version__
