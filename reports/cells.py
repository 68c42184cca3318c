"""Which sweep cells an analysis reads: finished ones, and of those the ones that scored accuracy."""


def ok_cells(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("status") == "ok"]


def has_accuracy(record: dict) -> bool:
    return "scores" in (record.get("accuracy") or {})
