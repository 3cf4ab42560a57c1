"""Measuring and filling the knowledge base from a terminal:

    touchpoint ask QUESTION [--articles DIR]         what would the bot answer, and why
    touchpoint eval [--queries SET] [--articles DIR]  retrieval and handoff figures on a query set
    touchpoint convert FORMAT SOURCE OUT               a team's FAQ or a public benchmark as articles

Each computes on one thread, and never writes into the running bot's index.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from bot.settings import PROJECT_ROOT, ConfigError, Settings


def add_parsers(commands) -> None:
    ask = commands.add_parser("ask", help="search the knowledge base for a question, without Rasa")
    ask.add_argument("question")
    ask.add_argument("--language", choices=["en", "zh"])
    ask.add_argument("-k", type=int, default=5)
    ask.add_argument("--articles", help="ask this folder's knowledge base (default: the published one)")
    ask.add_argument(
        "--index-dir",
        help="where ask keeps its own index (default: build/eval-index/KEY with --articles, else build/ask-index); "
        "never the running bot's",
    )
    ask.add_argument("--threshold", type=float, help="handoff threshold (default: TOUCHPOINT_ANSWER_THRESHOLD)")
    convert = commands.add_parser(
        "convert", help="turn a team's FAQ data into articles, or a public benchmark into articles and query sets"
    )
    convert.add_argument(
        "format",
        choices=["csv", "tsv", "rasa", "dialogflow", "azure", "clinc150", "clinc150-unseen", "banking77", "stackfaq",
                 "lcqmc"],
        help="csv, tsv (question,intent[,answer] or question,answer), rasa (NLU YAML), dialogflow (ES export), "
             "azure (QnA Maker / Language Studio TSV or JSON); or a public benchmark",
    )  # fmt: skip
    convert.add_argument("source", help="the file or folder to read, e.g. faq.csv or ../shared/benchmarks/clinc150")
    convert.add_argument("out", help="where to write articles/ (and a benchmark's *.jsonl query sets)")
    convert.add_argument(
        "--language", choices=["en", "zh"],
        help="every question is in this language (default: a language column, else detected); "
             "dialogflow: import this language only",
    )  # fmt: skip
    convert.add_argument("--responses", metavar="FILE", help="rasa: domain.yml or responses.yml (utter_<intent>)")
    convert.add_argument("--force", action="store_true", help="team formats: replace OUT/articles if it has files")
    convert.add_argument("--shots", type=int, help="banking77: keep this many training examples per intent")
    convert.add_argument("--articles", type=int, help="lcqmc: keep this many questions as articles, e.g. 10000")
    convert.add_argument("--seed", type=int, help="clinc150-unseen: which intents are left out (default 1)")
    evaluate = commands.add_parser("eval", help="score retrieval and handoff decisions on a query set")
    evaluate.add_argument(
        "--queries", default=str(PROJECT_ROOT / "knowledge_base" / "eval" / "heldout.yml"),
        help="YAML or JSON Lines query set (default: the demo knowledge base's held-out queries)",
    )  # fmt: skip
    evaluate.add_argument("--articles", help="the knowledge base (default: TOUCHPOINT_ARTICLES_DIR)")
    evaluate.add_argument("--index-dir", help="where its index is kept (default: build/eval-index/KEY)")
    evaluate.add_argument("--threshold", type=float, help="handoff threshold (default: TOUCHPOINT_ANSWER_THRESHOLD)")
    evaluate.add_argument("--choose-threshold-on", metavar="QUERIES", help="pick the threshold on this query set")
    evaluate.add_argument(
        "--json",
        help="write the totals here, each query's result beside it as .jsonl (default: build/eval/KEY/NAME.json)",
    )
    evaluate.add_argument("--plot", help="save the threshold curve here (default: beside the totals, .png)")


def models_on_one_thread() -> None:
    """torch, if a model brought it in, computes on one thread (see `main`); set here too for a
    process that imported torch before `main` set the environment."""
    if (torch := sys.modules.get("torch")) is not None:
        threads = os.environ.get("OMP_NUM_THREADS", "1")
        torch.set_num_threads(int(threads) if threads.isdigit() and int(threads) > 0 else 1)


def outside_live_index(settings: Settings, folder: Path) -> Path:
    """`folder`, unless it is, holds or lies in the running bot's index folder: a command that
    keeps an index of its own never writes or prunes the one the bot serves from."""
    folder, live = folder.resolve(), settings.index_dir.resolve()
    if folder == live or live in folder.parents or folder in live.parents:
        raise ConfigError(f"--index-dir {folder} would write into the running bot's index at {live}; choose another")
    return folder


def folder_searcher(settings: Settings, articles: str | None, index_dir: str | None):
    """The folder of articles (default: TOUCHPOINT_ARTICLES_DIR) and a searcher over it, its index
    kept in build/eval-index/<folder key> unless `index_dir` says where."""
    from knowledge_base.encoder import load_encoders
    from knowledge_base.evaluation import folder_key
    from knowledge_base.index import open_index
    from knowledge_base.search import HybridSearcher
    from knowledge_base.text import Analyzer

    articles_dir = Path(articles or settings.articles_dir).resolve()
    # Each folder keeps its own index (converted benchmarks all call their folder "articles").
    default = settings.build_dir / "eval-index" / folder_key(articles_dir)
    index_dir = outside_live_index(settings, Path(index_dir) if index_dir else default)
    encoders = load_encoders(settings.embedding_models)
    models_on_one_thread()  # before the index is built: building encodes every unit
    analyzer = Analyzer(settings.cache_dir)
    return articles_dir, HybridSearcher(open_index(articles_dir, index_dir, encoders, analyzer), encoders, analyzer)


def cmd_ask(settings: Settings, args: argparse.Namespace) -> int:
    """Search the knowledge base directly, without Rasa: what would the bot answer? The published
    knowledge base (the running bot's index is only read), or with --articles a folder's."""
    from dataclasses import replace

    from actions.answer import judge_question
    from actions.server import answer_settings
    from knowledge_base.articles import ArticleError
    from knowledge_base.search import HybridSearcher
    from knowledge_base.text import Analyzer, detect_language

    try:
        if args.articles:
            articles_dir, searcher = folder_searcher(settings, args.articles, args.index_dir)
            source = str(articles_dir)
        else:
            own = outside_live_index(settings, Path(args.index_dir or settings.build_dir / "ask-index"))
            from bot.cli import published_index

            version, index, encoders = published_index(settings, build_into=own)
            searcher = HybridSearcher(index, encoders, Analyzer(settings.cache_dir))
            source = f"published, version {version}"
    except (ArticleError, ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    answering = answer_settings(settings)
    if args.threshold is not None:
        answering = replace(answering, threshold=args.threshold)
    language = args.language or detect_language(args.question)
    hits = searcher.search(args.question, language, k=args.k)
    # As the bot decides when its NLU does not take the message for small talk (off-topic).
    verdict = judge_question(searcher, args.question, language, answering, off_topic=False)
    print(json.dumps({"knowledge_base": source, "language": language, "threshold": verdict.threshold,
                      "decision": verdict.decision, "answer": [h.article.id for h in verdict.confident],
                      "hits": [{"article_id": h.article.id, "title": h.article.title, "score": round(h.score, 4),
                                "relevance": round(h.relevance, 4), "margin": round(h.margin, 4),
                                "dense": round(h.dense, 4), "lexical": round(h.lexical, 4),
                                "probability": round(h.probability, 4)} for h in hits]},
                     ensure_ascii=False, indent=2))  # fmt: skip
    return 0


def cmd_eval(settings: Settings, args: argparse.Namespace) -> int:
    """Score a knowledge base on a query set: retrieval, the handoff decision, a threshold sweep,
    figures per kind of query, and each query's result. Earlier results are never overwritten."""
    from tqdm import tqdm

    from knowledge_base.articles import ArticleError
    from knowledge_base.evaluation import (
        QuerySetError,
        folder_key,
        format_report,
        load_queries,
        plot_curve,
        report,
        reserve_paths,
        run,
        write_records,
    )

    try:
        queries = load_queries(args.queries)
        tuning = load_queries(args.choose_threshold_on) if args.choose_threshold_on else None
        articles_dir, searcher = folder_searcher(settings, args.articles, args.index_dir)
    except (QuerySetError, ArticleError, ConfigError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1

    default = settings.answer_threshold if args.threshold is None else args.threshold
    threshold, at_default = default, None
    if tuning is not None:
        tuned = run(
            searcher,
            tqdm(tuning, disable=None, desc=f"choosing the threshold on {Path(args.choose_threshold_on).name}"),
        )
        threshold = report([r.outcome for r in tuned], default)["all"]["best_threshold"]["threshold"]
        at_default = default  # the figures at the default setting are reported beside the chosen one's
        print(f"threshold chosen on {args.choose_threshold_on}: {threshold:.2f} (default {default:.2f})")
    results = run(searcher, tqdm(queries, disable=None, desc=f"evaluating {Path(args.queries).name}"))
    result = report([r.outcome for r in results], threshold, default=at_default)
    print(format_report(result))

    name = Path(args.queries).stem
    json_path = (
        Path(args.json) if args.json else settings.build_dir / "eval" / folder_key(articles_dir) / f"{name}.json"
    )
    records = json_path.with_suffix(".jsonl" if json_path.suffix != ".jsonl" else ".queries.jsonl")
    if args.plot:
        json_path, records_path = reserve_paths(json_path, records)
        (plot_path,) = reserve_paths(Path(args.plot))
    else:
        json_path, records_path, plot_path = reserve_paths(json_path, records, json_path.with_suffix(".png"))
    summary = {
        "queries": str(args.queries),
        "articles": str(articles_dir),
        "threshold": threshold,
        "default_threshold": default,
        "threshold_chosen_on": args.choose_threshold_on,
        "per_query": str(records_path),
        "models": searcher.index.manifest["models"],
        "results": result,
    }
    json_path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
    write_records(results, records_path, threshold, at_default)
    plot_curve(result, plot_path, title=f"{name}: answer or hand off")
    print(f"wrote {json_path}\n      {records_path} (one line per query)\n      {plot_path}")
    return 0


def cmd_convert(settings: Settings, args: argparse.Namespace) -> int:
    """Turn a team's FAQ data (CSV, TSV, Rasa, Dialogflow, Azure QnA) into articles for `touchpoint kb
    import`, or a public benchmark into a knowledge base and query sets for `touchpoint eval`."""
    from collections import Counter

    from knowledge_base.benchmarks import CONVERTERS, write_benchmark
    from knowledge_base.imports import IMPORTERS, SourceError, write_articles

    source, out = Path(args.source), Path(args.out)
    team_formats = tuple(IMPORTERS)
    applies_to = {
        "shots": ("banking77",),
        "articles": ("lcqmc",),
        "seed": ("clinc150-unseen",),
        "language": team_formats,
        "responses": ("rasa",),
        "force": team_formats,
    }
    options = {name: getattr(args, name) for name in applies_to if getattr(args, name) not in (None, False)}
    for name in options:
        if args.format not in applies_to[name]:
            print(f"error: --{name} applies to {', '.join(applies_to[name])} only", file=sys.stderr)
            return 2

    if args.format in IMPORTERS:
        replace = options.pop("force", False)
        if "responses" in options:
            options["responses"] = Path(options["responses"])
        try:
            imported = IMPORTERS[args.format](source, **options)
            if not imported.articles:
                raise SourceError(source, None, None, "has no questions to import")
            folder = write_articles(imported, out, replace=replace)
        except (SourceError, OSError) as exc:
            print(f"error: {exc}; nothing was written", file=sys.stderr)
            return 1
        languages = Counter(a.language for a in imported.articles)
        drafts = imported.drafts
        print(
            f"wrote {len(imported.articles)} article{'' if len(imported.articles) == 1 else 's'} to {folder} "
            f"({', '.join(f'{language} {n}' for language, n in sorted(languages.items()))}): "
            f"{len(imported.articles) - len(drafts)} published, {len(drafts)} "
            + ("draft that needs an answer" if len(drafts) == 1 else "drafts that need an answer")
        )
        for draft in drafts[:10]:
            print(f"  draft {draft.language}/{draft.id}.md: {draft.title}")
        if len(drafts) > 10:
            print(f"  ... and {len(drafts) - 10} more drafts")
        for note in imported.notes:
            print(f"note: {note}")
        print(f"next: touchpoint kb import {folder}  (drafts are never answered until a curator publishes them)")
        return 0

    try:
        benchmark = CONVERTERS[args.format](source, **options)
    except (OSError, KeyError, ValueError) as exc:
        print(f"error: cannot read {args.format} from {source}: {exc!r}", file=sys.stderr)
        return 1
    counts = write_benchmark(benchmark, out)
    print(f"wrote {out}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
    for split, queries in benchmark.splits.items():
        if kinds := Counter(q["kind"] for q in queries if "kind" in q):
            print(f"  {split}: " + ", ".join(f"{kind} {count}" for kind, count in kinds.items()))
    if benchmark.about:
        print(f"  how it was made: {out / 'benchmark.json'}")
    return 0
