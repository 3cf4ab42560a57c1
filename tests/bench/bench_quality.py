"""Answer quality at the default setting against the best single threshold, per benchmark.

    python tests/bench/bench_quality.py [--benchmarks build/benchmarks] [--json build/bench-quality.json]

For the demo knowledge base (its held-out queries) and each public benchmark converted under
`--benchmarks` (`touchpoint convert NAME ../shared/benchmarks/NAME build/benchmarks/NAME`; those
not converted are skipped, saying so), it runs `touchpoint eval` as a user would, on the test
queries, and prints one table: retrieval top-1, in-scope accuracy and out-of-scope recall at the
default threshold, the best threshold on that benchmark's own test queries with its two figures,
and whether the default is within two points of the best on both. For query sets that mark
kinds of out-of-scope queries (clinc150-unseen, the demo's in-domain questions), the share of
each handed off at the default.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ("clinc150", "clinc150-unseen", "banking77", "stackfaq", "lcqmc")
WITHIN = 0.02


def evaluate(articles: Path | None, queries: Path, out: Path) -> dict:
    command = [str(Path(sys.executable).parent / "touchpoint"), "eval", "--queries", str(queries), "--json", str(out)]
    if articles is not None:
        command += ["--articles", str(articles)]
    env = os.environ | {"OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"}
    subprocess.run(command, check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text(encoding="utf-8"))["results"]["all"]


def row(name: str, result: dict) -> dict:
    default, best = result["handoff"], result["best_threshold"]
    has_out_of_scope = result["out_of_scope_queries"] > 0
    gaps = [abs(default["in_scope_accuracy"] - best["in_scope_accuracy"])]
    if has_out_of_scope:
        gaps.append(abs(default["out_of_scope_recall"] - best["out_of_scope_recall"]))
    kinds = {
        kind: figures["handoff_recall"]
        for kind, figures in result.get("kinds", {}).items()
        if "handoff_recall" in figures and figures["out_of_scope_queries"] == figures["queries"]
    }
    return {
        "benchmark": name,
        "queries": result["queries"],
        "out_of_scope_queries": result["out_of_scope_queries"],
        "top1": result["retrieval"]["top1"],
        "default_threshold": default["threshold"],
        "default_in_scope_accuracy": default["in_scope_accuracy"],
        "default_out_of_scope_recall": default["out_of_scope_recall"] if has_out_of_scope else None,
        "best_threshold": best["threshold"],
        "best_in_scope_accuracy": best["in_scope_accuracy"],
        "best_out_of_scope_recall": best["out_of_scope_recall"] if has_out_of_scope else None,
        "within_two_points": max(gaps) <= WITHIN + 1e-9,
        "handed_off_by_kind": kinds,
    }


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmarks", type=Path, default=ROOT / "build" / "benchmarks")
    parser.add_argument("--json", type=Path, default=ROOT / "build" / "bench-quality.json")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        demo = evaluate(None, ROOT / "knowledge_base" / "eval" / "heldout.yml", Path(scratch) / "demo.json")
        rows.append(row("demo (heldout.yml)", demo))
        for name in BENCHMARKS:
            folder = args.benchmarks / name
            if not (folder / "test.jsonl").is_file():
                print(f"{name}: not converted under {args.benchmarks}, skipped", file=sys.stderr)
                continue
            result = evaluate(folder / "articles", folder / "test.jsonl", Path(scratch) / f"{name}.json")
            rows.append(row(name, result))
            print(f"{name}: done", file=sys.stderr, flush=True)

    print(
        "| benchmark | top-1 | default: in-scope / out-of-scope "
        "| best threshold: in-scope / out-of-scope | within 2 points |"
    )
    print("|---|---|---|---|---|")
    for r in rows:
        kinds = "".join(f"; {kind} handed off {percent(v)}" for kind, v in r["handed_off_by_kind"].items())
        print(
            f"| {r['benchmark']} | {percent(r['top1'])} "
            f"| {percent(r['default_in_scope_accuracy'])} / {percent(r['default_out_of_scope_recall'])}{kinds} "
            f"| {r['best_threshold']:.2f}: {percent(r['best_in_scope_accuracy'])} / "
            f"{percent(r['best_out_of_scope_recall'])} | {'yes' if r['within_two_points'] else 'no'} |"
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
