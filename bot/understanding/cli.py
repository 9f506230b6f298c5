"""`flask --app wsgi understanding ...`: train, check and measure the understanding layer.

    understanding check     data hash, example counts per language and intent; trains or loads
    understanding train     the same, but always fits a fresh model (ignores the caches)
    understanding eval      held-out figures: per-intent precision/recall per language,
                            emergency recall, false alarms, law-vs-emergency confusion
    understanding eval --blind FILE   a blind set through the real engine (bot/conversation/blind.py)
    understanding eval --cv           grouped k-fold cross-validation over all labelled data (cv.py)

Plain click (no Flask import: this package is the pure core, tests/test_layout.py); init_app
hangs the group on the app's CLI and reads the content folder from the app's settings.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import click

from bot.understanding import data
from bot.understanding.evaluate import evaluate, format_report, heldout_rows
from bot.understanding.meaning import Understanding
from bot.understanding.model import code_version

HELDOUT_DIR = Path(__file__).resolve().parents[2] / "tests" / "data"


def make_group(content_dir, blind=None) -> click.Group:
    """The command group; content_dir is a callable so the settings are read when a command runs.
    blind(path) -> report text runs a blind set through the app's engine (the app passes it:
    this package cannot import the engine)."""
    group = click.Group("understanding", help="Intent examples, the classifier and its held-out figures.")

    def summary(content: Path) -> None:
        examples = data.load_examples(content)
        click.echo(f"data hash {data.data_hash(content, code_version())[:16]} ({code_version()})")
        counts = examples.counts()
        for locale, per in sorted(counts.items()):
            click.echo(f"[{locale}] {sum(per.values())} examples, {len(per)} intents")
            click.echo("  " + ", ".join(f"{intent} {per.get(intent, 0)}" for intent in data.INTENTS))
        click.echo(f"settings: {examples.settings}")

    def load(content: Path, fresh: bool) -> Understanding:
        started = time.perf_counter()
        if fresh:
            from bot.understanding import meaning
            meaning._MODELS.clear()
            with tempfile.TemporaryDirectory() as tmp:
                found = Understanding.from_dir(content, cache_dir=Path(tmp))
        else:
            found = Understanding.from_dir(content)
        click.echo(f"model: {found.source} in {time.perf_counter() - started:.2f} s, "
                   f"{len(found.model.classes)} intents, "
                   f"{sum(len(t) for t in found.model.terms)} features")
        return found

    @group.command("check")
    def check() -> None:
        """Counts and hash of the examples; loads (or trains) the model."""
        content = Path(content_dir())
        summary(content)
        load(content, fresh=False)

    @group.command("train")
    def train() -> None:
        """Fit a fresh model from the examples (the disk cache is neither read nor written)."""
        content = Path(content_dir())
        summary(content)
        load(content, fresh=True)

    @group.command("eval")
    @click.option("--data", "data_dir", type=click.Path(path_type=Path), default=HELDOUT_DIR,
                  show_default=True, help="Folder with understanding_heldout_<locale>.yaml.")
    @click.option("--blind", "blind_files", multiple=True, type=click.Path(exists=True, path_type=Path),
                  help="A blind set (YAML list of text/lang/kind/form/expect) read through the engine.")
    @click.option("--cv", "folds", is_flag=False, flag_value=5, default=None, type=int,
                  help="Grouped k-fold cross-validation over every labelled message (default 5 folds).")
    def eval_(data_dir: Path, blind_files: tuple[Path, ...], folds: int | None) -> None:
        """Figures on the held-out sets (never used for training), a blind set, or CV."""
        if blind_files:
            if blind is None:
                raise click.ClickException("--blind needs the app's engine: flask --app wsgi ...")
            for path in blind_files:
                click.echo(blind(path))
            return
        if folds:
            from bot.understanding.cv import cross_validate, format_cv
            click.echo(format_cv(cross_validate(Path(content_dir()), data_dir, folds)))
            return
        rows = heldout_rows(data_dir)
        if not rows:
            raise click.ClickException(f"no understanding_heldout_*.yaml in {data_dir}")
        understanding = load(Path(content_dir()), fresh=False)
        click.echo(format_report(evaluate(understanding, rows)))

    return group


def init_app(app, blind=None) -> None:
    """Register `understanding` on a Flask app's CLI (duck-typed: no Flask import here)."""
    app.cli.add_command(make_group(lambda: app.config["HELPLINE"].settings.content_dir, blind))
