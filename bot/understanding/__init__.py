"""What a message means: menu words and typos (keywords.py), the emergency and crisis rules
(signals.py), times inside text (when.py), and the Meaning of a whole message (meaning.py: the
rules as the floor, the trained intent classifier in model.py, places inside text in places.py;
data.py reads the examples, evaluate.py and cli.py measure them; docs/understanding.md).

Pure text in, meaning out. May import: the standard library, RapidFuzz, PyYAML, numpy,
scikit-learn (only to fit, model.py) and click (cli.py); nothing else of bot/, so every other
layer can use it.
"""
