"""What a message means: menu words and typos (keywords.py), the emergency and crisis rules read
in their frame (signals.py, with spelling.py for tries, spelling by ear and negation typos),
times inside text (when.py), and the Meaning of a whole message (meaning.py: the rules and the
trained intent classifier in model.py vote on three answers; reading.py lays the text out:
run-together words, long stories, the current clause; places inside text in places.py; data.py
reads the examples, evaluate.py, cv.py and cli.py measure them; docs/understanding.md).

Pure text in, meaning out. May import: the standard library, RapidFuzz, PyYAML, numpy,
scikit-learn (only to fit, model.py) and click (cli.py); nothing else of bot/, so every other
layer can use it.
"""
