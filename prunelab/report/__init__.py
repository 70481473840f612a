"""Reports: HTML pages (:class:`~prunelab.report.page.Page`) with PNG figures built from the results store.

``build_report`` writes the page of any run or study, ``write_index`` the ``reports/index.html``
listing every study; figures use the one style of :mod:`prunelab.core.style`.
"""

from prunelab.report.figures import FIGURES, ReportData, band_plot, figure
from prunelab.report.html import REPORT_KINDS, build_report
from prunelab.report.index import write_index
from prunelab.report.page import Page, Section

__all__ = [
    "FIGURES",
    "REPORT_KINDS",
    "Page",
    "ReportData",
    "Section",
    "band_plot",
    "build_report",
    "figure",
    "write_index",
]
