"""The phone line: its logic (phone_tree.py), the TwiML it answers (twiml.py), the words it
understands (words.py), its checks (checks.py), the "text me this" job (jobs.py) and the terminal
call simulator (simulator.py).

May import: bot.conversation, bot.understanding, bot.storage, bot.privacy, bot.outbound. The
HTTP side lives in bot.channels.voice.
"""
