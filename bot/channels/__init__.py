"""HTTP adapters: translate Twilio requests to the domain and the domain's answers to TwiML.

sms.py and voice.py are the webhooks, twilio_auth.py checks X-Twilio-Signature,
conversations.py runs one text through the store and the engine (shared by SMS, the terminal
chat and the console simulator), limits.py is the inbound rate limit, callers.py says whom a
webhook is from (a hidden caller ID is keyed by its CallSid/MessageSid), body_timeout.py bounds
the time to read a request body, errors.py the app's error pages and the outermost WSGI layer
that contains whatever escapes Flask. May import every capability package; only the app factory imports it.
"""
