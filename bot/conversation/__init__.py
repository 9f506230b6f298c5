"""The pure conversation core: the flow graph (flows.py), the words (content.py), the engine that
steps a conversation (engine.py) and the editors' checks (checks.py).

May import: bot.understanding, the standard library, Jinja2, PyYAML. Never Redis, Flask, RQ or
Twilio: the engine takes `now` and returns events, and the adapters around it do the I/O.
"""
