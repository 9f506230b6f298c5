"""Understanding layer cost: reading one new message, and the start-up it adds (cold and warm).

Per-message figures are single calls timed one by one (perf_counter_ns) over the held-out
messages, each read as new (the per-text memo bypassed), repeated; median/p90/p99 of those.
Start-up figures run in fresh processes: `cold` trains into an empty cache folder, `warm` loads
the archive that run wrote; both time Understanding.from_dir alone (imports are listed apart).

Run alone: `.venv/bin/python -m bench.understanding` (prints JSON); `make bench` includes it.
"""
from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPEATS = 20

_STARTUP = """
import json, sys, time
t0 = time.perf_counter()
from pathlib import Path
from bot.understanding.meaning import Understanding
t1 = time.perf_counter()
u = Understanding.from_dir(Path(sys.argv[1]), cache_dir=Path(sys.argv[2]))
t2 = time.perf_counter()
print(json.dumps({"source": u.source, "import_s": t1 - t0, "from_dir_s": t2 - t1,
                  "sklearn_imported": "sklearn" in sys.modules}))
"""


def _percentiles(samples_ns: list[int]) -> dict:
    us = sorted(s / 1000 for s in samples_ns)
    q = statistics.quantiles(us, n=100)
    return {"median_us": round(statistics.median(us), 1), "p90_us": round(q[89], 1),
            "p99_us": round(q[98], 1), "n": len(us)}


def _time_each(fn, texts: list[str]) -> dict:
    """Wall-clock percentiles, plus the median of this thread's CPU time: on a machine shared
    with other work the wall clock also counts waiting for a core, the CPU time does not."""
    samples, cpu = [], []
    clock, cpu_clock = time.perf_counter_ns, time.thread_time_ns
    for _ in range(REPEATS):
        for text in texts:
            start, cpu_start = clock(), cpu_clock()
            fn(text)
            cpu.append(cpu_clock() - cpu_start)
            samples.append(clock() - start)
    return {**_percentiles(samples), "cpu_median_us": round(statistics.median(cpu) / 1000, 1)}


def startup(content: Path) -> dict:
    """Cold (train) then warm (archive) start in fresh interpreters; best of 3 warm runs."""
    with tempfile.TemporaryDirectory() as cache:
        def run() -> dict:
            out = subprocess.run([sys.executable, "-c", _STARTUP, str(content), cache],
                                 capture_output=True, text=True, check=True, cwd=ROOT)
            return json.loads(out.stdout.strip().splitlines()[-1])
        cold = run()
        warm = min((run() for _ in range(3)), key=lambda r: r["from_dir_s"])
    return {"cold_train_s": round(cold["from_dir_s"], 2), "cold_source": cold["source"],
            "warm_cache_s": round(warm["from_dir_s"], 3), "warm_source": warm["source"],
            "warm_imports_scikit_learn": warm["sklearn_imported"],
            "import_s": round(warm["import_s"], 3)}


def per_message(content: Path) -> dict:
    from bot.understanding.evaluate import heldout_rows
    from bot.understanding.meaning import Understanding
    from bot.understanding.model import build_pipeline, prepare

    import zipcodes

    towns = sorted({name for row in zipcodes.filter_by(state="MN")
                    for name in (row["city"], *row["acceptable_cities"])})
    understanding = Understanding.from_dir(content, towns)
    texts = [text for text, _, _ in heldout_rows(ROOT / "tests" / "data")]
    prepared = [prepare(t) for t in texts]
    model = understanding.model
    understanding.read(texts[0])
    result = {
        "messages": len(texts),
        # read(): rules + classifier + places, as the engine calls it for a text never seen
        # (the rules' own memo of short texts emptied too; per-word caches stay warm)
        "read_new_message": _time_each(
            lambda t: (understanding.detector._short.clear(), understanding._read(t)), texts),
        # the classifier alone (fast path) on a prepared text; its words seen before
        "classifier_fast_path": _time_each(model.scores, prepared),
        # the same with every word new to it (the per-word n-gram memo emptied first)
        "classifier_fast_path_new_words": _time_each(
            lambda t: (model._word_rows.clear(), model.scores(t)), prepared),
        "rules_only": _time_each(understanding.detector._detect, [t for t in prepared if t]),
        "places_only": _time_each(understanding.places.find, texts),
        "read_repeated_message": _time_each(understanding.read, texts),
    }
    # scikit-learn's own predict_proba on one message, for comparison (the model it was fitted as)
    from bot.understanding.data import load_examples
    examples = load_examples(content)
    pipeline = build_pipeline(examples.settings["C"])
    pipeline.fit([prepare(t) for t, _, _ in examples.rows], [i for _, i, _ in examples.rows])
    few = prepared[:60]
    result["sklearn_predict_proba_one"] = _time_each(lambda t: pipeline.predict_proba([t]), few)
    return result


def run(content: Path | None = None) -> dict:
    content = content or ROOT / "content"
    load = Path("/proc/loadavg").read_text().split()[0] if Path("/proc/loadavg").exists() else "?"
    from datetime import datetime, timezone

    return {"startup": startup(content), **per_message(content), "load_average_1min": load,
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def main() -> None:
    """Alone: measure, print, and merge into bench/results.json and RESULTS.md (other parts kept)."""
    from bench.report import render

    result = run()
    print(json.dumps(result, indent=2))
    path = ROOT / "bench" / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["understanding"] = result
    path.write_text(json.dumps(results, indent=2) + "\n")
    if {"machine", "webhook", "engine", "memory"} <= set(results):
        (ROOT / "bench" / "RESULTS.md").write_text(render(results))


if __name__ == "__main__":
    main()
