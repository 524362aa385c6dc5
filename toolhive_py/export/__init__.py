"""Export: the hardened workloads of ``run``, carried to Kubernetes, ToolHive's operator or compose.

Policy: one pure function (``model.build_export_model``) from the container spec ``run`` uses to a neutral
model, and one pure renderer per format; no second copy of the hardening, no secret values, ever.
"""

from __future__ import annotations

from toolhive_py.export.api import ExportedFile, ExportResult, export_entries, export_workloads
from toolhive_py.export.model import ExportedWorkload, ExportFormat, build_export_model

__all__ = ["ExportFormat", "ExportResult", "ExportedFile", "ExportedWorkload", "build_export_model",
           "export_entries", "export_workloads"]
