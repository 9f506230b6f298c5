"""Texts the helpline starts: the one small sending interface over Twilio's REST client
(sender.py) and the exactly-once delivery protocol every outbound text goes through (delivery.py).

May import: bot.storage, bot.privacy, bot.conversation (segment counting), twilio.
"""
