"""Private by default: keyed hashes, encryption at rest and number masking (vault.py), and the
FORGET keyword that erases everything kept about one number (forget.py), and the append-only
file rewrite that takes the erased data off the disk too (compaction.py).

vault.py imports only the standard library and cryptography, so every layer may use it;
forget.py is a feature (engine hooks plus the erase) and may import bot.conversation and RQ.
"""
