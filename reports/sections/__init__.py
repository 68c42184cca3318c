"""Report sections, in report order. Adding a section = one module + one line here."""

SECTIONS = [
    "reports.sections.overview",
    "reports.sections.summary",
    "reports.sections.frontier",
    "reports.sections.speedup",
    "reports.sections.batching",
    "reports.sections.latency",
    "reports.sections.resources",
    "reports.sections.languages",
    "reports.sections.stilts",
    "reports.sections.students",
    "reports.sections.calibration",
    "reports.sections.environment",
]
