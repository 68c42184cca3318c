"""Report sections, in report order: one lazy entry each (name -> "module:render"). Adding a section = one module +
one line here."""

from models.registries import Registry

SECTIONS: Registry = Registry("report section")
for _name in ("overview", "summary", "frontier", "speedup", "rounds", "batching", "latency", "resources", "languages",
              "stilts", "students", "calibration", "environment"):
    SECTIONS.register(_name, f"reports.sections.{_name}:render")
