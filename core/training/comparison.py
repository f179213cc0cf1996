"""A training set tried and compared with the served one: its held-out figures, kept beside the shipped cards.

When the training recordings change, the previous set's scores on the same held-out recordings are what the change
is judged against in ``docs/MODELS.md``. ``python -m core.training.comparison --cards DIR --out FILE`` reads the
cards a ``python -m core.train --data ... --out DIR`` run wrote and keeps only what the report shows: the maker
share by size and the p90 coverage of each held-out recording, with the run's training recordings and command.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

#: the maker model's strongest simple baseline on its card: the training mean fill of the same offset and horizon
BASELINE = "mean_by_offset_and_horizon"


def summarise(
    cards: Path, label: str, command: str, validation: Path | None = None, validation_from: str = ""
) -> dict[str, Any]:
    """The maker share by size and the p90 coverage per held-out recording of the cards under ``cards``; with
    ``validation`` (a ``docs/validation.json`` the same models wrote), the validator's p90 coverage and fill
    calibration of each recording the cards hold out."""
    mk = json.loads((cards / "maker_taker.json").read_text(encoding="utf-8"))
    q = json.loads((cards / "slippage_quantiles.json").read_text(encoding="utf-8"))
    held = {Path(d["recording"]).name for d in mk["data"] if d["use"].startswith("held_out")}
    val: dict[str, Any] = {}
    if validation is not None:
        for r in json.loads(validation.read_text(encoding="utf-8"))["recordings"]:
            if Path(r["recording"]).name in held and "by_size" in r.get("p90_coverage", {}):
                val[Path(r["recording"]).name] = {
                    "p90_coverage": {k: r["p90_coverage"][k] for k in ("n", "overall", "overall_ci", "by_size")},
                    "fill_calibration": r["limit_orders"].get("fill_calibration", []),
                    "bootstrap": r["limit_orders"].get("bootstrap", r.get("bootstrap", {})),
                }
    return {
        "label": label,
        "command": command,
        "training": [d["recording"] for d in mk["data"] if d["use"] == "train"],
        "trained_at": mk["trained_at"],
        "maker_by_size": {rec: e["by_size"] for rec, e in mk["held_out"].items() if "by_size" in e},
        "maker_log_loss": {rec: e["model"]["log_loss"] for rec, e in mk["held_out"].items()},
        "maker_baseline_log_loss": {  # the simple baseline each held-out score is judged against
            rec: e["baselines"][BASELINE]["log_loss"] for rec, e in mk["held_out"].items() if BASELINE in e["baselines"]
        },
        "p90_coverage": {rec: e["p90_coverage"]["all"]["model"] for rec, e in q["held_out"].items()},
        "validation": val,
        "validation_from": validation_from or (str(validation) if validation else ""),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m core.training.comparison", description=__doc__.splitlines()[0])
    p.add_argument("--cards", type=Path, required=True, help="the --out directory of a python -m core.train run")
    p.add_argument("--label", required=True, help="what the run's training set was, in words")
    p.add_argument("--command", required=True, help="the python -m core.train command that wrote the cards")
    p.add_argument("--validation", type=Path, help="the docs/validation.json the same models wrote (optional)")
    p.add_argument("--validation-from", default="", help="where that validation.json came from, in words")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args(argv)
    doc = summarise(a.cards, a.label, a.command, a.validation, a.validation_from)
    a.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
