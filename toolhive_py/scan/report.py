"""Render a scan report: JSON (the documented, schema'd shape), SARIF 2.1.0, CSV, Markdown, or a table."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from pathlib import Path
from typing import Any

from toolhive_py import __version__
from toolhive_py.scan.model import ScanReport, ServerFinding
from toolhive_py.scan.risk import RULES

__all__ = ["FORMATS", "render", "to_sarif"]

FORMATS = ("table", "json", "sarif", "csv", "markdown")
_SARIF_LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note", "info": "none"}


def _where(finding: ServerFinding) -> str:
    return finding.config_path or (f"pid {finding.pid}" if finding.pid else f"container {finding.container}")


def to_sarif(report: ScanReport) -> dict[str, Any]:
    rules = [{"id": code, "name": code.replace("-", " ").title().replace(" ", ""),
              "shortDescription": {"text": text}, "helpUri": "https://github.com/mcpctl/mcpctl/blob/main/docs/scan.md"}
             for code, text in RULES.items()]
    index = {code: i for i, code in enumerate(RULES)}
    results = []
    for finding in report.findings:
        for reason in finding.reasons:
            if reason.code == "managed":
                continue
            result: dict[str, Any] = {
                "ruleId": reason.code, "ruleIndex": index[reason.code], "level": _SARIF_LEVEL[reason.level],
                "message": {"text": f"{finding.name} ({finding.client or finding.source}): {reason.message}"},
                "properties": {"severity": reason.level, "status": finding.status, "finding": finding.id},
                "partialFingerprints": {"mcpctlFinding/v1": f"{finding.id}|{reason.code}|{reason.message}"},
            }
            if finding.config_path:
                physical: dict[str, Any] = {"artifactLocation": {"uri": Path(finding.config_path).as_uri()}}
                if finding.line is not None:  # code scanning places a result only with a region (GH1003)
                    physical["region"] = {"startLine": finding.line}
                result["locations"] = [{"physicalLocation": physical}]
            else:
                result["locations"] = [{"logicalLocations": [{"name": _where(finding), "kind": "resource"}]}]
            results.append(result)
    return {"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "mcpctl scan", "version": __version__,
                            "informationUri": "https://github.com/mcpctl/mcpctl", "rules": rules}},
        "results": results,
        "invocations": [{"executionSuccessful": report.complete, "toolExecutionNotifications": [
            {"level": "warning", "message": {"text": f"{e.path}: {e.message}"}} for e in report.errors]}],
    }]}


def _csv(report: ScanReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["level", "status", "client", "scope", "name", "source", "where", "kind", "package", "version",
                     "pinned", "target", "secrets", "reasons"])
    for f in report.findings:
        writer.writerow([_inert(cell) for cell in (
            f.level, f.status, f.client or "", f.scope or "", f.name, f.source, _where(f), f.kind, f.package or "",
            f.version or "", "yes" if f.pinned else "no", f.target,
            "; ".join(f"{s.provider} {s.location} {s.redacted} #{s.fingerprint}" for s in f.secrets),
            "; ".join(r.message for r in f.reasons))])
    return out.getvalue()


_NPM_SCOPED = re.compile(r"^@[\w.~-]+/[\w.~-]+(?:@[\w.^~*-]+)?$")


def _inert(cell: str) -> str:
    """A CSV cell a spreadsheet shows as text: one starting with = + - @ would run as a formula.

    A scoped npm name (``@scope/pkg``) is left as is: it is the common case and no formula.
    """
    risky = cell[:1] in ("=", "+", "-", "\t", "\r") or (cell[:1] == "@" and not _NPM_SCOPED.match(cell))
    return "'" + cell if risky else cell


def _cell(text: str) -> str:
    """Text from a scanned file as one Markdown table cell: no column breaks, no line breaks, no HTML."""
    return html.escape(text, quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _markdown(report: ScanReport) -> str:
    summary = report.summary()
    lines = [f"# MCP inventory of {report.host}", "",
             f"Scanned {report.home} at {report.generated_at}: {summary['servers']} servers, "
             f"{summary['secrets']} plaintext secrets, {summary['unvetted']} unvetted, {summary['errors']} errors.",
             *([] if report.complete else ["", f"**Incomplete:** {summary['errors']} places could not be read; servers "
                                           "there were not seen (see *Could not scan*)."]),
             "", "| level | client | server | status | runs | reasons |", "| --- | --- | --- | --- | --- | --- |"]
    for f in report.findings:
        reasons = "<br>".join(_cell(r.message) for r in f.reasons)
        lines.append(f"| {f.level} | {_cell(f.client or f.source)} | {_cell(f.name)} | {f.status} | "
                     f"{_cell(f.target)} | {reasons} |")
    if report.errors:
        lines += ["", "## Could not scan", ""] + [f"- `{e.path}`: {e.message}" for e in report.errors]
    return "\n".join(lines) + "\n"


def render(report: ScanReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report.to_dict(), indent=2) + "\n"
    if fmt == "sarif":
        return json.dumps(to_sarif(report), indent=2) + "\n"
    if fmt == "csv":
        return _csv(report)
    return _markdown(report)
