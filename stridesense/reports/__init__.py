"""HTML reports for coaches: a session's report with a visual replay, comparisons and trends.

    from stridesense.reports import session_report, compare_report, trends_report
    session_report("sessions/ana-0412", "report.html")
"""

from stridesense.reports.session import session_report

__all__ = ["session_report"]
