"""How well personal data is redacted: precision and recall per kind on the labelled sentences.

python tests/bench/bench_redaction.py [--sentences tests/redaction/sentences.yml] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.redaction.labelled import SENTENCES, load, score  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=Path, default=SENTENCES)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    entries = load(args.sentences)
    result = score(entries)
    languages = {language: sum(e["language"] == language for e in entries) for language in ("zh", "en")}
    print(f"{result['sentences']} sentences ({languages['zh']} zh, {languages['en']} en), "
          f"{sum(1 for e in entries if e['pii'])} with personal data\n")  # fmt: skip
    print("| kind | labelled | found | precision | recall |\n|---|---|---|---|---|")
    for kind, f in result["kinds"].items():
        print(f"| {kind} | {f['labelled']} | {f['found']} | {f['precision']:.3f} | {f['recall']:.3f} |")
    print(f"\nsentences without personal data in which something was redacted: {len(result['wrongly_redacted'])}")
    for text in result["wrongly_redacted"]:
        print(f"  {text}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
