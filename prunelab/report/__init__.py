"""Reports: HTML pages with PNG figures built from the results store."""

from prunelab.report.figures import FIGURES, ReportData, band_plot, figure
from prunelab.report.html import build_report

__all__ = ["FIGURES", "ReportData", "band_plot", "build_report", "figure"]
