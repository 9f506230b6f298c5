"""What a message means: menu words and typos (keywords.py), the emergency and crisis rules
(signals.py), and times inside text (when.py).

Pure text in, meaning out. May import: the standard library, RapidFuzz, PyYAML; nothing else
of bot/, so every other layer can use it.
"""
