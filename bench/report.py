"""bench/RESULTS.md from the results dict: the figures a person reads before a TV campaign."""
from __future__ import annotations


def _row(name: str, d: dict) -> str:
    return (f"| {name} | {d['rps']:,.0f} | {d['p50_ms']:.1f} | {d['p95_ms']:.1f} | {d['p99_ms']:.1f} "
            f"| {d['non2xx'] + d['errors']} |")


def render(r: dict) -> str:
    m, w, e, mem = r["machine"], r["webhook"], r["engine"], r["memory"]
    lines = [
        "# Benchmark results", "",
        f"Run {m['date']} on {m['cpu']} ({m['cores']} cores, {m['memory_gib']} GiB), "
        f"Python {m['python']}, {m['wrk']}.",
        "Packages: " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
        "Reproduce with `make bench` (figures vary with the machine; the ratios travel better).", "",
        "## Webhook throughput and latency", "",
        f"gunicorn with `gunicorn.conf.py`, an embedded Valkey with AOF, signature checking on, "
        f"wrk replaying pre-signed conversations, {w['requests_in_file']:,} messages from "
        f"{w['numbers']:,} distinct numbers per run (every run has its own people, so no run "
        f"replays another's messages), {w['seconds']} s per run, load generator on the same "
        f"machine. The three servers run side by side and their saturation runs take turns, "
        f"{w['rounds']} rounds; the table shows each server's median round, and each ratio is the "
        f"median of the rounds' ratios (runs seconds apart, so a drift in the machine's speed "
        f"touches both sides).", "",
        "| server, load | requests/s | p50 ms | p95 ms | p99 ms | errors |", "|---|---|---|---|---|---|",
    ]
    for name, label in (("helpline", "helpline /sms"), ("bare", "bare Flask TwiML"),
                        ("bare_redis", "bare Flask + 1 Redis round trip")):
        lines.append(_row(f"{label}, saturation (64 conns, median round)", w[name]["saturation"]))
        lines.append(_row(f"{label}, moderate (8 conns, 40 ms pause)", w[name]["moderate"]))
    lines += ["", f"**throughput_ratio_vs_bare_redis = {r['throughput_ratio_vs_bare_redis']}**, "
              f"throughput_ratio_vs_bare = {r['throughput_ratio_vs_bare']}.", "",
              "| round | helpline /sms | bare + Redis | bare | vs bare + Redis | vs bare |",
              "|---|---|---|---|---|---|"]
    by_round = zip(w["helpline"]["saturation_rps_by_round"], w["bare_redis"]["saturation_rps_by_round"],
                   w["bare"]["saturation_rps_by_round"], w["throughput_ratio_vs_bare_redis_by_round"],
                   w["throughput_ratio_vs_bare_by_round"])
    for i, (ours, redis_rps, bare_rps, vs_redis, vs_bare) in enumerate(by_round, 1):
        lines.append(f"| {i} | {ours:,.0f} | {redis_rps:,.0f} | {bare_rps:,.0f} | {vs_redis} | {vs_bare} |")
    lines.append("")
    if "hung_redis" in w:
        h = w["hung_redis"]
        lines += [f"While Redis accepts connections and never answers, 64 connections of texts get "
                  f"{h['rps']:,.0f} answers/s (p50 {h['p50_ms']:.0f} ms, p99 {h['p99_ms']:.0f} ms: "
                  f"`REDIS_TIMEOUT_SECONDS`, then the reply that needs no state), "
                  f"{h['non2xx'] + h['errors']} errors, {h['timeouts']} unanswered after Twilio's 15 s.", ""]
    if "checkins" in r:
        c = r["checkins"]
        lines += ["## Check-in dispatch", ""] + [f"- {k}: {v}" for k, v in c.items()] + [""]
    if "understanding" in r:
        lines += understanding_section(r["understanding"])
    lines += ["## Redis memory", ""] + [f"- {k}: {v:,}" for k, v in mem.items()] + [""]
    lines += ["## Engine cost (microseconds per call, best of 5)", ""]
    lines += [f"- {k}: {v}" for k, v in e.items()] + [""]
    return "\n".join(lines)


def understanding_section(u: dict) -> list[str]:
    """Understanding layer: per-message percentiles and the start-up it adds (bench/understanding.py)."""
    s = u["startup"]
    lines = ["## Understanding (intent classifier, emergency rules, places)", "",
             f"{u['messages']} held-out messages, each timed alone; measured {u.get('date', '?')} with "
             f"a 1-minute load average of {u.get('load_average_1min', '?')} on the 2 cores "
             f"(`python -m bench.understanding` re-measures this part alone).", "",
             "| per message | median µs | p90 µs | p99 µs | CPU median µs |", "|---|---|---|---|---|"]
    for key, label in (("read_new_message", "read() of a new text: rules + classifier + places"),
                       ("classifier_fast_path", "classifier fast path (words seen before)"),
                       ("classifier_fast_path_new_words", "classifier fast path (every word new)"),
                       ("rules_only", "emergency/crisis rules alone"),
                       ("places_only", "places alone"),
                       ("read_repeated_message", "read() of a repeated text (memo)"),
                       ("sklearn_predict_proba_one", "scikit-learn predict_proba, one text")):
        if key in u:
            d = u[key]
            lines.append(f"| {label} | {d['median_us']:,} | {d['p90_us']:,} | {d['p99_us']:,} "
                         f"| {d.get('cpu_median_us', '?')} |")
    lines += ["", f"Start-up added by `Understanding.from_dir`: cold (fit from the examples) "
              f"{s['cold_train_s']} s; warm (numpy archive on disk) {s['warm_cache_s']} s, "
              f"scikit-learn imported on a warm start: {s['warm_imports_scikit_learn']}; "
              f"importing the package {s['import_s']} s.", ""]
    return lines
