"""The pure conversation core: the flow graph (flows.py), the words (content.py), the engine that
steps a conversation (engine.py; routing.py and intents.py read a Meaning), the editors' checks
(checks.py), and blind sets read through the engine as a person would get them (blind.py).

May import: bot.understanding, the standard library, Jinja2, PyYAML. Never Redis, Flask, RQ or
Twilio: the engine takes `now` and returns events, and the adapters around it do the I/O.
"""
