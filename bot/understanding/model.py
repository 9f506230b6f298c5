"""The intent classifier: trained with scikit-learn, scored by a small fast path of our own.

Training (once per data hash): tf-idf over character n-grams (2-5, within words, so typos and
run-together words still share most pieces) and word uni/bigrams, then a linear SVM (liblinear,
one-vs-rest, fixed random_state) whose scores are turned into probabilities by temperature
scaling fitted on 3-fold cross-validated scores (CalibratedClassifierCV, ensemble=False):
softmax(beta * scores). A multinomial logistic regression was tried first: as accurate, but
30-50x slower to fit (20+ s on this machine), and every cold start pays the fit. The fitted numbers (vocabularies, idf,
weights) are kept in a plain numpy archive on disk, so a worker that finds the archive never
imports scikit-learn and never unpickles anything.

Scoring one message through scikit-learn costs ~0.5 ms of per-call overhead; `Model.scores`
does the same arithmetic (count, sublinear tf, idf, l2 per block, dot with the weights,
temperature softmax) directly with numpy on the few rows the message touches. tests/test_understanding_model.py
checks it against predict_proba on the whole held-out set.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from itertools import chain
import os
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from bot.understanding.reading import clip
from bot.understanding.signals import MAX_CHARS, normalize

FEATURES_VERSION = "2"       # bump when the analyzers or the arithmetic below change
CHAR_MIN, CHAR_MAX = 2, 5
WORD_MEMO_MAX = 50_000       # words whose n-gram rows are remembered (cleared when full)


def prepare(text: str) -> str:
    """The text the model sees: signals.normalize (lower case, no accents or punctuation,
    "breathinggg" -> "breathingg"), a long story by its first and last 240 characters
    (reading.clip: the emergency is often at the end)."""
    return clip(normalize(text[:MAX_CHARS]))


def char_grams(norm: str) -> list[str]:
    """Character 2-5-grams inside each word padded with spaces: "od" -> " o", "od", "d ", " od"..."""
    out = []
    for word in norm.split():
        padded = f" {word} "
        size = len(padded)
        for n in _SIZES[:size - 1]:
            out += [padded[i:i + n] for i in range(size - n + 1)]
    return out


_SIZES = tuple(range(CHAR_MIN, CHAR_MAX + 1))


def word_grams(norm: str) -> list[str]:
    """Words and pairs of neighbouring words."""
    words = norm.split()
    return words + [f"{a} {b}" for a, b in zip(words, words[1:])]


ANALYZERS = (char_grams, word_grams)


def sklearn_version() -> str:
    """Without importing scikit-learn (a warm start never needs it)."""
    try:
        return metadata.version("scikit-learn")
    except metadata.PackageNotFoundError:  # pragma: no cover
        return "none"


def code_version() -> str:
    """Part of the cache key: a fitted archive is only reused by the code that made it (this
    file's bytes, and reading.py's, stand in for the analyzers and training choices, so an edit
    there retrains)."""
    here = Path(__file__)  # reading.py too: it clips the texts the model is trained on
    source = hashlib.sha256(here.read_bytes() + (here.parent / "reading.py").read_bytes()
                            ).hexdigest()[:12]
    return (f"features={FEATURES_VERSION};code={source};sklearn={sklearn_version()};"
            f"numpy={np.__version__}")


class Model:
    """Fitted numbers and the fast scorer; build with Model.train or Model.load."""

    def __init__(self, classes: list[str], blocks: list[tuple[list[str], np.ndarray]],
                 coef: np.ndarray, intercept: np.ndarray, beta: float = 1.0):
        self.classes = tuple(str(c) for c in classes)
        self.terms = [list(terms) for terms, _ in blocks]
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.beta = float(beta)
        self.meta: dict[str, str] = {}  # what an archive says it was trained from (load())
        self._word_rows: dict[str, list[int]] = {}
        # The features in the fitted order: character n-grams first, then words. Rows of
        # coef.T (one per feature) are what a message gathers; each block keeps its own vocabulary.
        if len(blocks) != len(ANALYZERS):
            raise ValueError(f"expected {len(ANALYZERS)} feature blocks, got {len(blocks)}")
        (char_terms, char_idf), (word_terms, word_idf) = blocks
        self._char_vocab = {t: i for i, t in enumerate(char_terms)}
        self._word_vocab = {t: i for i, t in enumerate(word_terms)}
        self._word_offset = len(char_terms)
        self._idf = np.concatenate([np.asarray(char_idf, dtype=np.float64),
                                    np.asarray(word_idf, dtype=np.float64)])
        self._weights = np.ascontiguousarray(np.asarray(coef, dtype=np.float64).T)

    def word_costs(self) -> dict[str, float]:
        """Every single word the model knows, with its idf (rarer words cost more): the
        dictionary that run-together text is split with (reading.split_runs)."""
        idf = self._idf
        return {t: float(idf[self._word_offset + j]) for t, j in self._word_vocab.items()
                if " " not in t}

    @property
    def coef(self) -> np.ndarray:
        """classes x features, as scikit-learn's coef_ (a view: the weights are kept once)."""
        return self._weights.T

    # --- scoring -------------------------------------------------------------------------------
    def scores(self, norm: str) -> np.ndarray:
        """Probabilities per class (same order as self.classes) for a prepared text.

        The rows of the known n-grams (for characters remembered per word: people reuse the
        same few thousand words) are counted by Counter (in C); then sublinear tf x idf, an l2
        norm per block, and one small product with the weights: about a dozen numpy calls."""
        chars = Counter(self._char_rows(norm))
        vocab, offset = self._word_vocab, self._word_offset
        words = Counter([j + offset for g in word_grams(norm) if (j := vocab.get(g)) is not None])
        n_chars, size = len(chars), len(chars) + len(words)
        logits = self.intercept.copy()
        if size:
            idx = np.fromiter(chain(chars, words), dtype=np.intp, count=size)
            tf = np.fromiter(chain(chars.values(), words.values()), dtype=np.float64, count=size)
            np.log(tf, out=tf)
            tf += 1.0
            tf *= self._idf.take(idx)
            squares = tf * tf
            if n_chars:
                tf[:n_chars] /= math.sqrt(squares[:n_chars].sum())
            if size > n_chars:
                tf[n_chars:] /= math.sqrt(squares[n_chars:].sum())
            logits += tf @ self._weights.take(idx, axis=0)
        logits *= self.beta
        logits -= logits.max()
        np.exp(logits, out=logits)
        logits /= logits.sum()
        return logits

    def _char_rows(self, norm: str) -> list[int]:
        """Rows of the character n-grams of every word of the text (unknown ones left out)."""
        rows: list[int] = []
        memo, vocab = self._word_rows, self._char_vocab
        for word in norm.split():
            found = memo.get(word)
            if found is None:
                if len(memo) >= WORD_MEMO_MAX:
                    memo.clear()
                found = memo[word] = [j for g in char_grams(word)
                                      if (j := vocab.get(g)) is not None]
            rows += found
        return rows

    # --- persistence ---------------------------------------------------------------------------
    def save(self, path: Path, meta: dict[str, str] | None = None) -> None:
        """Write atomically (temp file + rename): a crash never leaves half an archive. `meta`
        (text) is kept beside the numbers: what the model was trained from and with."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"classes": np.array(self.classes), "coef": self.coef, "intercept": self.intercept,
                  "beta": np.array([self.beta])}
        arrays.update({f"meta_{name}": np.array(str(value)) for name, value in (meta or {}).items()})
        start = 0
        for i, terms in enumerate(self.terms):
            arrays[f"terms{i}"] = np.array(terms, dtype=str)
            arrays[f"idf{i}"] = self._idf[start:start + len(terms)]
            start += len(terms)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> "Model":
        """No pickles: a corrupt, malformed or foreign file raises, and the caller retrains.
        Every shape is checked and every number must be finite; `model.meta` is what save() kept."""
        with np.load(path, allow_pickle=False) as archive:
            blocks = []
            for i in range(len(ANALYZERS)):
                terms = archive[f"terms{i}"].tolist()
                idf = archive[f"idf{i}"]
                if (not isinstance(terms, list) or idf.ndim != 1 or len(terms) != len(idf)
                        or len(set(terms)) != len(terms)):
                    raise ValueError(f"feature block {i}: terms and idf do not match")
                blocks.append((terms, idf))
            classes, beta = archive["classes"].tolist(), archive["beta"]
            if not isinstance(classes, list) or len(set(classes)) != len(classes) or beta.shape != (1,):
                raise ValueError("classes or beta malformed")
            model = cls(classes, blocks, archive["coef"], archive["intercept"], float(beta[0]))
            meta = {name[5:]: str(archive[name]) for name in archive.files
                    if name.startswith("meta_")}
        width = sum(len(t) for t, _ in blocks)
        if (model.coef.shape != (len(model.classes), width)
                or model.intercept.shape != (len(model.classes),)):
            raise ValueError("weights do not fit the vocabulary")
        if not (np.isfinite(model._weights).all() and np.isfinite(model.intercept).all()
                and np.isfinite(model._idf).all() and math.isfinite(model.beta) and model.beta > 0):
            raise ValueError("numbers that are not finite")
        model.meta = meta
        return model

    # --- training ------------------------------------------------------------------------------
    @classmethod
    def train(cls, texts: list[str], labels: list[str], C: float) -> tuple["Model", object]:
        """Fit on prepared texts; returns the model and the scikit-learn pipeline (for tests)."""
        pipeline = build_pipeline(C)
        pipeline.fit(texts, labels)
        union, calibrated = pipeline.named_steps["features"], pipeline.named_steps["clf"]
        (fitted,) = calibrated.calibrated_classifiers_
        svm, (scaling,) = fitted.estimator, fitted.calibrators
        blocks = []
        for _, vectorizer in union.transformer_list:
            terms = [None] * len(vectorizer.vocabulary_)
            for term, j in vectorizer.vocabulary_.items():
                terms[j] = term
            blocks.append((terms, vectorizer.idf_))
        model = cls(list(calibrated.classes_[svm.classes_]), blocks, svm.coef_, svm.intercept_, float(scaling.beta_))
        return model, pipeline


def build_pipeline(C: float):
    """The scikit-learn pipeline; imported here so that a warm start never loads scikit-learn."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import StratifiedKFold
    from sklearn.svm import LinearSVC
    from sklearn.pipeline import FeatureUnion, Pipeline

    def vectorizer(analyzer):
        return TfidfVectorizer(analyzer=analyzer, sublinear_tf=True, lowercase=False,
                               dtype=np.float64)
    return Pipeline([
        ("features", FeatureUnion([("chars", vectorizer(char_grams)),
                                   ("words", vectorizer(word_grams))])),
        ("clf", CalibratedClassifierCV(LinearSVC(C=C, random_state=0, max_iter=5000),
                                       method="temperature", cv=StratifiedKFold(3),
                                       ensemble=False)),
    ])
