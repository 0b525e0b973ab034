"""``cellbalance report RESULTS``: a self-contained HTML report of a run, a lifetime study or a sweep."""

from __future__ import annotations

from pathlib import Path

__all__ = ["run_report"]


def run_report(results: Path, out: Path | None) -> Path:
    from ..errors import ConfigError
    from ..io.preflight import prepare_output_file
    from ..io.report import write_report

    if not results.exists():
        raise ConfigError(f"{results}: no such file (expected a results NetCDF or a sweep's .parquet table).")
    if results.is_dir():
        raise ConfigError(f"{results}: is a directory; expected a results NetCDF or a sweep's .parquet table.")
    target = out or results.with_name(f"{results.stem}_report.html")
    prepare_output_file(target, what="report file")
    return write_report(results, target)
