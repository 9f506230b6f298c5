"""Private by default: keyed hashes, encryption at rest and number masking (vault.py), the
FORGET keyword that erases everything kept about one number (forget.py), the append-only file
rewrite that takes the erased data off the disk too (compaction.py), and whether a password or
secret is strong enough (strength.py, which imports only zxcvbn: every layer may use it).

vault.py imports only the standard library and cryptography, so every layer may use it;
forget.py is a feature (engine hooks plus the erase) and may import bot.conversation,
bot.channels.conversations (Facts), bot.storage and RQ.
"""
