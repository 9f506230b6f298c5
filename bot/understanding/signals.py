"""Emergency (overdose in progress) and crisis (suicide risk) detection, run on every message first.

Why rules over concepts and not a list of phrases: people standing over a friend write
"hes not breating", "she aint breathin", "cantwakehim", "no respria", "LIPS R BLUE!!!". So a message
is normalized, misspelt and run-together words are corrected towards a small vocabulary, and rules
say things like "a NEGATION word up to 3 words before a BREATH word". The words and rules live in
content/<locale>/keywords.yaml (sections `emergency:` and `crisis:`). Every locale is checked,
because people switch languages. A miss can cost a life and a false alarm costs a text, so the
rules lean towards firing; the only brakes are narrow `unless` guards, such as the one that keeps
"what are the signs of an overdose" an information question.
"""
from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from bot.understanding.spelling import negation_typos, sounds_like, trie

__all__ = ["Signal", "SignalDetector", "normalize", "MAX_CHARS"]

MAX_CHARS = 1600          # an SMS conversation never needs more; bounds the work per message
KINDS = ("emergency", "crisis")  # checked in this order: emergency wins
FUZZY_MIN_LEN = 5         # shorter words have too many real neighbours ("wake"/"make")
FUZZY_CUTOFF = 80         # rapidfuzz ratio (0-100); one slip in a 5-letter word is 80
FUZZY_ANY_START = 90      # a typo in the first letter is only trusted when otherwise very close
FUZZY_SPLIT_CUTOFF = 88   # the misspelt end of a run-together token ("notbreating")
SPLIT_MAX_LEN = 30        # "hesnotbreathing" splits; longer runs are not words
CACHE_MAX = 50_000        # corrected-token cache, cleared when full
SHORT = 40                # messages up to this long ("1", "menu", "narcan") are answered from a memo

_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
                         "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u02bc": "'", "\u0060": "'",
                         "\u00b4": "'", "\u2032": "'", "\uff07": "'"})
_DOTTED = re.compile(r"\b([a-z])\.(?=[a-z]\b)")   # "o.d." -> "od."
_NON_WORD = re.compile(r"[\W_]+")
_REPEATS = re.compile(r"([^\W\d_])\1{2,}")         # "breathinggg" -> "breathingg"
_DOUBLES = re.compile(r"([^\W\d_])\1")             # "breathingg" -> "breathing" (lookup only)
_MACRO = re.compile(r"\{([A-Z][A-Z0-9_]*)\}")
_GAP = re.compile(r" (~~?)(\d+) ")


class _WordLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML 1.1 reads no/yes/on/off as booleans; in these lists they are words ("no respira").
    The libyaml parser when PyYAML has it: the pure-Python one took ~0.3 s per keywords file,
    paid by every process that starts."""


_WordLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


# Laughing emoji are words: "cant breathe im dying 😂" is a joke (the everyday frame reads "lol").
# Crying (😭) and the skull (💀) stay punctuation: they are also how people text a real fear.
LAUGH = "\U0001F602\U0001F923\U0001F606\U0001F639\U0001F605\U0001F60F"
_LAUGHS = str.maketrans({ch: " lol " for ch in LAUGH})


def normalize(text: str) -> str:
    """One spelling per word: lower case, no accents, no apostrophes, words separated by one space.

    "Él NO está respirandooo!!" -> "el no esta respirandoo"; "isn't" and "isn’t" -> "isnt";
    "O.D.'d" -> "odd". Three or more repeated letters become two, not one, so that real double
    letters survive ("sleeeeping" -> "sleeping"); the rest is left to typo correction.
    """
    text = text.translate(_QUOTES)
    if text.isascii():  # most texts: no emoji to read either  # most texts: no accents to strip, and casefold is lower
        text = text.lower()
    else:
        text = unicodedata.normalize("NFKD", text.translate(_LAUGHS))
        text = "".join(ch for ch in text if not unicodedata.combining(ch)).casefold()
    text = _DOTTED.sub(r"\1", text.replace("'", ""))
    return _REPEATS.sub(r"\1\1", _NON_WORD.sub(" ", text)).strip()


@dataclass(frozen=True)
class Signal:
    """What detect() found: kind is "emergency" or "crisis"; locale is the language hint.

    frame: None when the rule's words read as happening now; else the frame they sit in
    ("hypothetical", "past", "grief", "learning", "legal", "everyday"), which makes them a
    possible emergency at most (bot/understanding/meaning.py decides with the classifier).
    word: the rule fires on a word ("911", "overdose") rather than on a person in danger."""

    kind: str
    locale: str
    rule: str
    frame: str | None = None
    word: bool = False


def _alternation(items, where: str) -> str:
    """A concept word list as one whole-word regex group; "word*" matches any ending.

    Built as a trie ("breath(?:ing|e|s)?"), not a flat list of words: at each word boundary the
    regex engine follows the letters instead of trying every word in turn, which is most of the
    rules' cost on a message that matches nothing."""
    words: dict[str, bool] = {}
    for item in items or ():
        item = str(item)
        star = item.endswith("*")
        word = normalize(item.rstrip("*"))
        if not word:
            raise ValueError(f"{where}: empty word {item!r}")
        words[word] = words.get(word, False) or star
    return r"\b" + trie(words) + r"\b"


def _expand(pattern: str, macros: dict[str, str], where: str) -> str:
    """Replace {NAME} by its word group and " ~N " by a gap of up to N words.

    A " ~N " gap never crosses a SCOPE_BREAK word, so "he isnt blue and breathing fine" does not
    read as "isnt ... breathing", nor "dont want to wake up" as "dont ... wake"; " ~~N " may
    ("hes cold and blue").
    """
    stop = macros.get("SCOPE_BREAK")
    anyword = r"(?:\S+ )"
    scoped = rf"(?:(?!{stop})\S+ )" if stop else anyword

    def gap(m: re.Match) -> str:
        return f" {scoped if m.group(1) == '~' else anyword}{{0,{m.group(2)}}}"
    pattern = _GAP.sub(gap, pattern)

    def macro(m: re.Match) -> str:
        if m.group(1) not in macros:
            raise ValueError(f"{where}: unknown word list {{{m.group(1)}}}")
        return macros[m.group(1)]
    return _MACRO.sub(macro, pattern)


def _rule_pattern(spec, macros: dict[str, str], where: str) -> tuple[str, str | None]:
    """(regex, unless-regex) from a rule: a string, {match, unless} or {near: [A, B], within}."""
    if isinstance(spec, str):
        spec = {"match": spec}
    if not isinstance(spec, dict):
        raise ValueError(f"{where}: a rule is a pattern or a mapping, not {spec!r}")
    if "near" in spec:
        a, b = spec["near"]
        n = int(spec.get("within", 3))
        pattern = f"(?:{a} ~{n} {b}|{b} ~{n} {a})"
    else:
        pattern = spec["match"]
    regex = _expand(str(pattern), macros, where)
    unless = _expand(str(spec["unless"]), macros, where) if spec.get("unless") else None
    for text in (regex, unless):
        try:
            text is None or re.compile(text)
        except re.error as exc:
            raise ValueError(f"{where}: bad pattern: {exc}") from None
    return regex, unless


class _RuleSet:
    """One locale's rules of one kind: one combined regex for the plain rules (one pass per
    message), then the few guarded ones, which must be checked one by one."""

    def __init__(self, rules: dict[str, tuple[str, str | None]]):
        plain = [(name, rx) for name, (rx, unless) in rules.items() if unless is None]
        self.names = {f"r{i}": name for i, (name, _) in enumerate(plain)}
        # Every rule starts at a word: one \b before the alternation lets the engine skip the
        # letters inside words at once instead of failing each rule there.
        self.combined = re.compile(r"\b(?:" + "|".join(f"(?P<r{i}>{rx})" for i, (_, rx)
                                                        in enumerate(plain)) + ")") if plain else None
        self.guarded = [(name, re.compile(rf"\b(?:{rx})"), re.compile(unless))
                        for name, (rx, unless) in rules.items() if unless is not None]

    def match(self, text: str) -> str | None:
        return next((name for name, _, _ in self.hits(text)), None)

    def hits(self, text: str):
        """(rule, start, end) of every match: the combined regex's, then the guarded rules'."""
        if self.combined:
            for m in self.combined.finditer(text):
                yield next(self.names[g] for g, v in m.groupdict().items() if v is not None), \
                    m.start(), m.end()
        for name, rx, unless in self.guarded:
            if (m := rx.search(text)) and not unless.search(text):
                yield name, m.start(), m.end()


@dataclass
class _Locale:
    rules: dict[str, _RuleSet]
    known: frozenset[str]     # every word this locale's data names: a language hint
    vocabulary: frozenset[str]
    frames: dict[str, str] = None          # frame name -> regex (emergency.frames)
    word_rules: frozenset[str] = frozenset()
    negations: tuple[str, ...] = ()


def _load_locale(path: Path) -> _Locale:
    data = yaml.load(path.read_text(encoding="utf-8"), Loader=_WordLoader) or {}
    sections = {kind: data.get(kind) or {} for kind in KINDS}
    words: dict = {}
    for kind, section in sections.items():
        words.update(section.get("words") or {})
    macros = {name: _alternation(items, f"{path}: words {name}") for name, items in words.items()}
    # `patterns`: named regexes used like word lists; unlike `words` they are no language hint
    # (another language's words can be named without making them this language's evidence).
    for section in sections.values():
        for name, regex in (section.get("patterns") or {}).items():
            macros[str(name)] = f"(?:{regex})"
    rules = {kind: _RuleSet({str(name): _rule_pattern(spec, macros, f"{path}: {kind}.rules.{name}")
                             for name, spec in (section.get("rules") or {}).items()})
             for kind, section in sections.items()}
    literal = {normalize(str(w)) for items in words.values() for w in items or ()
               if not str(w).endswith("*")}
    extra = {normalize(str(w)) for s in sections.values()
             for key in ("vocabulary", "known_words") for w in s.get(key) or ()}
    known = frozenset(t for phrase in literal | extra for t in phrase.split())
    # Only listed words are typo targets: correcting towards every concept word turned real words
    # into signals ("cooking" -> "choking", "bathing" -> "breathing").
    vocabulary = {normalize(str(w)) for s in sections.values() for w in s.get("vocabulary") or ()}
    emergency = sections["emergency"]
    frames = {str(name): _expand(str(rx), macros, f"{path}: emergency.frames.{name}")
              for name, rx in (emergency.get("frames") or {}).items()}
    for name, rx in frames.items():
        try:
            re.compile(rx)
        except re.error as exc:
            raise ValueError(f"{path}: emergency.frames.{name}: bad pattern: {exc}") from None
    negations = tuple(normalize(str(w)) for w in emergency.get("negations") or ())
    return _Locale(rules, known, frozenset(vocabulary), frames,
                   frozenset(str(r) for r in emergency.get("word_rules") or ()), negations)


# Frames (content/<locale>/keywords.yaml emergency.frames), in the order they are tried:
# "if_before" just before a rule's words makes it a what-if; "now" near them keeps it now; the
# everyday frame anywhere; then "present" tense near them keeps it now; then the other frames.
FRAMES = ("hypothetical", "past", "grief", "learning", "legal", "everyday")
NEAR_CHARS = 50           # how far from a rule's words "now" and "if" are looked for
NOW, NO_FRAME = "now", ""  # _frame's two readings as now: said so near the words, or by default
MAX_HITS = 20             # matches of one kind read per locale: enough, and bounded on long texts

class SignalDetector:
    """Checks a message against the emergency and crisis rules of every locale found.

    Pure after loading: no I/O, no clock. Per message: normalize, correct unknown words (cached),
    then at most a few regex passes per locale and kind.
    """

    def __init__(self, locales: dict[str, _Locale]):
        if not any(loc.rules["emergency"].combined or loc.rules["emergency"].guarded
                   for loc in locales.values()):
            raise ValueError("no emergency rules found: refusing to run without them")
        self.locales = locales
        self._known = frozenset().union(*(loc.known for loc in locales.values()))
        self._vocabulary_set = frozenset().union(*(loc.vocabulary for loc in locales.values()))
        self._vocabulary = sorted(self._vocabulary_set)
        self._cache: dict[str, str] = {}
        self._short: dict[str, Signal | None] = {}  # most texts are a digit or a word or two
        # Words spelt as they sound ("lavios", "vaño", "rrespira"): one key per sound.
        self._sounds = {}
        for word in sorted(self._known | self._vocabulary_set):
            self._sounds.setdefault(sounds_like(word), word)
        self._word_rules = frozenset().union(*(loc.word_rules for loc in locales.values()))
        frames: dict[str, list[str]] = {}
        for loc in locales.values():
            for name, rx in (loc.frames or {}).items():
                frames.setdefault(name, []).append(rx)
        union = {name: re.compile("|".join(f"(?:{rx})" for rx in rxs)) for name, rxs in frames.items()}
        self._now = union.get("now")
        self._present = union.get("present")
        self._if_before = union.get("if_before")
        self._recovered = union.get("recovered")
        self._frames = [(name, union[name]) for name in FRAMES if name in union]
        self.patterns = union  # "transition" and "doubt" are read by meaning.py
        known = self._known | self._vocabulary_set
        self.typos = {}
        for loc in locales.values():
            for typo, word in negation_typos(loc.negations, known).items():
                self.typos.setdefault(typo, word)

    @classmethod
    def from_dir(cls, content_dir: Path) -> "SignalDetector":
        """Every content/<locale>/keywords.yaml; a new language is a new folder, not new code."""
        paths = sorted(Path(content_dir).glob("*/keywords.yaml"))
        return cls({p.parent.name: _load_locale(p) for p in paths})

    def detect(self, text: str) -> Signal | None:
        """The first emergency rule that matches in any locale, else the first crisis rule."""
        if not text or not isinstance(text, str):
            return None
        if len(text) <= SHORT:  # keyed by the text as sent: a repeat skips normalising too
            try:
                return self._short[text]
            except KeyError:
                pass
        found = self.detect_normalized(normalize(text[:MAX_CHARS]))
        if len(text) <= SHORT:
            if len(self._short) >= CACHE_MAX:
                self._short.clear()
            self._short[text] = found
        return found

    def detect_normalized(self, norm: str) -> Signal | None:
        """detect() of a text already normalize()d (the understanding reads it once for all)."""
        return self._detect(norm) if norm else None

    def _detect(self, norm: str) -> Signal | None:
        tokens = norm.split()
        fixed = " ".join(self._correct(t) for t in tokens)
        # One haystack, two readings; a gap (\S+ ) cannot cross the newline between them.
        haystack = norm if fixed == norm else f"{norm}\n{fixed}"
        framed, framed_lines = None, {}
        for kind in KINDS:
            now, later = [], []
            for loc, data in self.locales.items():
                for n, (rule, start, end) in enumerate(data.rules[kind].hits(haystack)):
                    if n >= MAX_HITS:
                        break
                    frame = self._frame(haystack, start, end, framed_lines) \
                        if kind == "emergency" else NOW
                    (now if frame in (NOW, NO_FRAME) else later).append((loc, rule, frame))
                    if frame == NOW:
                        break  # one rule read as now is enough for this locale
            hits = now or later
            if not hits:
                continue
            loc, rule, frame = max(hits, key=lambda hit: (hit[2] == NOW, self._affinity(hit[0], tokens)))
            found = Signal(kind, loc, rule, frame if frame not in (NOW, NO_FRAME) else None,
                           rule in self._word_rules)
            if found.frame is None:
                return found
            framed = framed or found  # a crisis now wins over an emergency that is not now
        return framed

    def _frame(self, haystack: str, start: int, end: int, lines: dict) -> str:
        """The frame a rule's words sit in: NOW (something near them says now), NO_FRAME
        (nothing says either way: when in doubt, now), or why they are not now. A what-if just
        before the words wins; then a "now" near them; then everyday life anywhere in the
        message; then present tense about a person near them; then the message's other frames.
        `lines` keeps each line's own frames, so many hits in a long text cost one search each."""
        line_start = haystack.rfind("\n", 0, start) + 1
        line_end = haystack.find("\n", end)
        line = haystack[line_start:line_end if line_end >= 0 else len(haystack)]
        start, end = start - line_start, end - line_start
        if self._if_before is not None and self._if_before.search(
                line[max(0, start - NEAR_CHARS):start]):
            return "hypothetical"
        if self._recovered is not None and self._recovered.search(line, end):
            return "past"  # "she ODed last nite ... shes ok now": told after, it ended well
        near = line[max(0, start - NEAR_CHARS):end + NEAR_CHARS]
        if self._now is not None and self._now.search(near):
            return NOW
        found = lines.get(line_start)
        if found is None:
            found = lines[line_start] = [name for name, rx in self._frames if rx.search(line)]
        if "everyday" in found:
            return "everyday"  # "my son wont wake up for school" is present tense, and not this
        if self._present is not None and self._present.search(near):
            return NOW
        return found[0] if found else NO_FRAME

    def signature(self) -> str:
        """What of this detector changes the texts a model is trained on (its negation typos)."""
        return ";typos=" + hashlib.sha256("\n".join(sorted(f"{k}={v}" for k, v in self.typos.items())
                                                    ).encode()).hexdigest()[:12] + ";laugh=" + LAUGH

    def respell(self, norm: str) -> str:
        """Negation typos fixed in a normalized text ("he is nto breathing" -> "... not ..."),
        so the classifier reads the same negation as the rules."""
        typos = self.typos
        if not typos:
            return norm
        words = norm.split()
        fixed = [typos.get(w, w) for w in words]
        return norm if fixed == words else " ".join(fixed)

    def _affinity(self, locale: str, tokens: list[str]) -> int:
        """How many words of the message this locale's data knows: picks the language hint."""
        known = self.locales[locale].known
        return sum(t in known for t in tokens)

    def _correct(self, token: str) -> str:
        word = self._cache.get(token)
        if word is None:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            word = self._cache[token] = self._correct_uncached(token)
        return word

    def _correct_uncached(self, token: str) -> str:
        """A known word stays; "breathingg" -> "breathing"; "breating" -> "breathing";
        "hesnotbreathing" -> "hes not breathing"; anything else stays as it was."""
        if token in self._known or not (token.isascii() and token.isalpha()):
            return token
        if token in self.typos:  # "nto", "istn": short slips that flip a meaning
            return self.typos[token]
        single = _DOUBLES.sub(r"\1", token)
        if single in self._known:
            return single
        heard = self._sounds.get(sounds_like(token)) if len(token) >= 3 else None
        if heard is not None:  # "lavios" -> "labios", "vaño" -> "bano"
            return heard
        # Exact pieces first ("nodespierta" is "no despierta", not a typo of "despierta"),
        # then one misspelt word ("unconcious" is not "un" + "concious"), then both.
        return (self._split(token, fuzzy_tail=False) or self._fuzzy(token)
                or self._split(token, fuzzy_tail=True) or token)

    def _fuzzy(self, token: str, cutoff: float = FUZZY_CUTOFF, any_start: float = FUZZY_ANY_START
               ) -> str | None:
        if len(token) < FUZZY_MIN_LEN:
            return None
        best = process.extractOne(token, self._vocabulary, scorer=fuzz.ratio, score_cutoff=cutoff)
        if best and (best[0][0] == token[0] or best[1] >= any_start):
            return best[0]
        return None

    def _split(self, token: str, fuzzy_tail: bool) -> str | None:
        """Known words run together ("cantwakehim"), the last possibly misspelt ("notbreating").

        Kept only when a piece is a signal word: most unknown words split into short known
        words by chance ("nose" -> "no se"), and those splits could only do harm.
        """
        if len(token) > SPLIT_MAX_LEN:
            return None
        pieces = self._pieces(token, {}, fuzzy_tail)
        if pieces and any(p in self._vocabulary_set for p in pieces):
            return " ".join(pieces)
        return None

    def _pieces(self, token: str, memo: dict, fuzzy_tail: bool) -> list[str] | None:
        if token in memo:
            return memo[token]
        memo[token] = None
        for i in range(len(token) - 2, 1, -1):  # longest known head first; 2+ letters each
            head, rest = token[:i], token[i:]
            if head not in self._known:
                continue
            tail = [rest] if rest in self._known else self._pieces(rest, memo, fuzzy_tail)
            if not tail and fuzzy_tail:
                # any_start=101: a misspelt tail must keep its first letter ("hawking" stays)
                word = self._fuzzy(rest, FUZZY_SPLIT_CUTOFF, any_start=101)
                tail = [word] if word else None
            if tail:
                memo[token] = [head, *tail]
                break
        return memo[token]
