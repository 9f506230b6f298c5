"""The limits of the stack, served with the same gunicorn config as the helpline.

/bare: constant TwiML (the web stack alone). /redis: the same plus one Redis round trip
(GET and SET in one pipelined call), the floor for any webhook that keeps state.
"""
import os

import redis
from flask import Flask, Response, request

TWIML = ('<?xml version="1.0" encoding="UTF-8"?><Response><Message>Hello. Reply with a number.'
         '</Message></Response>')

app = Flask(__name__)
_client = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))


@app.post("/bare")
def bare():
    request.form.get("Body")
    return Response(TWIML, mimetype="application/xml")


@app.post("/redis")
def with_redis():
    key = "bench:baseline:" + request.form.get("From", "")
    pipe = _client.pipeline(transaction=False)
    pipe.get(key)
    pipe.set(key, request.form.get("Body", ""), ex=3600)
    pipe.execute()
    return Response(TWIML, mimetype="application/xml")
