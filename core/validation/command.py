"""``python -m core.validate``: the command line of the validation (arguments, files written)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from core.errors import SimulatorError
from core.learned.models import load_models
from core.learned.online import load_steps
from core.paths import COMPARISON_FILE
from core.validation.bootstrap import BlockBootstrap
from core.validation.report import bundled, document, markdown, validate_recording


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m core.validate",
        description="Score the app's own cost estimates against the real taker orders of a recording.",
    )
    p.add_argument("--recording", type=Path, help="a recording (.jsonl.gz); default: every bundled one with trades")
    p.add_argument("--trades", type=Path, help="its trades (.parquet); required with --recording")
    p.add_argument("--json", type=Path, dest="json_out", help="write the figures here (JSON)")
    p.add_argument("--markdown", type=Path, help="write the report here (Markdown)")
    p.add_argument(
        "--block-s",
        type=int,
        default=BlockBootstrap().block_s,
        help="the shortest bootstrap block, seconds (BLOCK_RULE lengthens it per family of figures)",
    )
    p.add_argument("--fixed-block", action="store_true", help="use --block-s for every family, without BLOCK_RULE")
    p.add_argument("--replicates", type=int, default=BlockBootstrap().replicates, help="bootstrap replicates")
    p.add_argument("--seed", type=int, default=BlockBootstrap().seed, help="bootstrap seed")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if (args.recording is None) != (args.trades is None):
        print("Give --recording and --trades together (or neither, for every bundled recording).", file=sys.stderr)
        return 2
    if args.block_s < 1 or args.replicates < 1:
        print("--block-s and --replicates must be at least 1.", file=sys.stderr)
        return 2
    pairs = [(args.recording, args.trades)] if args.recording is not None else bundled()
    if not pairs:
        print("No recording with trades found.", file=sys.stderr)
        return 2
    spec = BlockBootstrap(
        block_s=args.block_s, replicates=args.replicates, seed=args.seed, automatic=not args.fixed_block
    )
    loaded = load_models()
    online = load_steps()
    results = []
    for rec, tr in pairs:
        try:
            r = validate_recording(rec, tr, bootstrap=spec, loaded=loaded, online=online)
        except (OSError, SimulatorError) as exc:
            print(f"{rec}: {exc}", file=sys.stderr)
            return 1
        results.append(r)
        a, cov = r["market_orders"]["all"], r["p90_coverage"]
        print(
            f"{r['recording']}: {a['n']} orders, bias {a['bias_bps']:+.3f} bps {a['bias_bps_ci']}, "
            f"MAE {a['mae_bps']:.3f} bps {a['mae_bps_ci']}, p90 coverage {cov.get('overall')} {cov.get('overall_ci')}"
        )
        if "online" in cov:
            print(
                f"  online p90 coverage {cov['online']['overall']} by size {[b['coverage'] for b in cov['online']['by_size']]}"
            )
        for row in r.get("limit_orders", {}).get("fill_calibration", []):
            print(f"  limit {row['bucket']}: predicted maker {row['predicted']} vs realised fill {row['realised']}")
        for row in r.get("limit_orders", {}).get("fill_calibration_online", {}).get("by_size", []):
            print(f"  limit {row['bucket']}: online maker {row['predicted']} vs realised fill {row['realised']}")
    command = "python -m core.validate " + " ".join(argv if argv is not None else sys.argv[1:])
    doc = document(results, command.strip())
    if args.json_out:
        args.json_out.parent.mkdir(parents=True, exist_ok=True)
        args.json_out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        # the previous training set's figures, shown beside the served set's
        previous = json.loads(COMPARISON_FILE.read_text(encoding="utf-8")) if COMPARISON_FILE.is_file() else None
        args.markdown.write_text(markdown(doc, previous), encoding="utf-8")
    return 0
