"""HTTP adapters: translate Twilio requests to the domain and the domain's answers to TwiML."""
