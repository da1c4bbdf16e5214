"""HTML reports for coaches: a session's report with a visual replay, comparisons and trends.

    from stridesense.reports import session_report, compare_report, trends_report
    session_report("sessions/ana-0412", "report.html")
    compare_report("sessions/ana-0412", "sessions/ana-0610", "compare.html")
    trends_report("ana", "ana-trends.html", data_dir="~/stridesense-data")
"""

from stridesense.reports.compare import compare_report
from stridesense.reports.session import session_report
from stridesense.reports.trends import trends_report

__all__ = ["compare_report", "session_report", "trends_report"]
