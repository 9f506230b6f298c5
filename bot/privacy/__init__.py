"""Private by default: keyed hashes, encryption at rest and number masking (vault.py), and the
FORGET keyword that erases everything kept about one number (forget.py).

vault.py imports only the standard library and cryptography, so every layer may use it;
forget.py is a feature (engine hooks plus the erase) and may import bot.conversation,
bot.channels.conversations (Facts), bot.storage and RQ.
"""
