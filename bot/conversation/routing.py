"""The engine's rules that read a Meaning (bot/understanding/meaning.py): PURE, mixed into Engine.

Kept apart from engine.py so each stays small: engine.py has the step, the exact commands and
the screen's options; this file has what free text means (the emergency window's updates, places
inside sentences, intents, the answer to the clarifying question). The tables they use are in
intents.py; the order they run in is Engine.step's.
"""
from __future__ import annotations

from bot.conversation import intents
from bot.conversation.intents import CRISIS, EMERGENCY, MAIN



class MeaningRules:
    """Engine rules over a Meaning; they use the Engine's flow, lexicons, handlers and enter()."""

    def _shows_emergency(self, outcome) -> bool:
        return (outcome.state.node == EMERGENCY and bool(outcome.replies)
                and outcome.replies[-1].key == self.flow.node(EMERGENCY).say)

    def _meaning(self, text: str, folded: str, state):
        """What the words mean; None for an exact command or a number, which keep their exact
        meaning (the rules still see them first). The understanding reads the whole text (up to
        1,600 characters; the classifier a long story's start and end)."""
        if self.understand is None or self._is_command(folded, state) or \
                folded.replace(" ", "").isdigit():
            return None
        return self.understand(text, state.locale)

    def _clarified(self, state, text, folded, now, ctx, first, meaning):
        """A digit that answers the clarifying question asked by the last reply."""
        node = intents.clarified(state, folded)
        return self.enter(state, node) if node in self.flow.nodes else None

    def _update(self, state, text, folded, now, ctx, first, meaning):
        """In the emergency window, "he is breathing now" is an update, not a question."""
        if (meaning is None or not intents.in_emergency(state, now)
                or self._is_command(folded, state)):
            return None
        node = intents.update_in(meaning, self.flow)
        return self.enter(state, intents.safer(node, meaning)) if node else None

    def _place(self, state, text, folded, now, ctx, first, meaning):
        """A bare ZIP or town; or one named inside a message about places ("narcan near duluth")."""
        handler = self.handlers.get("place")
        if handler is None:
            return None
        outcome = handler(self, state, text, now, ctx)
        if (outcome is not None or meaning is None or not meaning.place
                or self._is_command(folded, state)):
            return outcome
        if intents.about_places(meaning, self.flow.node(state.node).expects):
            named = self.handlers.get("place:named", handler)
            return named(self, state, meaning.place, now, ctx)
        return None

    def _intent(self, state, text, folded, now, ctx, first, meaning):
        """A confident intent opens its screen (or runs its command); the topic words come next."""
        if meaning is None or self._is_command(folded, state):
            return None  # a command word that did nothing here is not free text ("yes", "no")
        # A word or two naming one of a submenu's options picks it ("counseling" at treatment);
        # the main menu's options are broad, so there the finer intent decides.
        short = len(folded.split()) <= 3 and state.node != MAIN
        hit = self.lexicons.topic(folded, state.locale) if short else None
        if hit is not None and any(o.goto == hit[0] for o in self.flow.node(state.node).options):
            return self.enter(state, hit[0])
        if not meaning.confident:
            return None
        intent = intents.asked_beside(meaning)
        if intent is None:  # an emergency or crisis below its own threshold: offered, never assumed
            return None
        hook = self.handlers.get(f"intent:{intent}")
        outcome = hook(self, state, ctx, now, folded) if hook is not None else None
        if outcome is None and intent in intents.COMMANDS:
            outcome = self.run_command(intents.COMMANDS[intent], state, ctx, now, folded)
        if outcome is None and intent == "stop":
            outcome = self.say(state, intents.OPT_OUT_ASK)
        if outcome is not None:
            return outcome
        node = intents.screen(intent, self.flow, intents.in_emergency(state, now))
        if node is None:
            return None
        topic = self.lexicons.topic(folded, state.locale) if intent not in intents.OWN_SCREEN \
            else None
        if topic is not None and (len(folded.split()) == 1  # one menu word: as it always worked
                                  or intents.topic_wins(topic[0], intent, node, self.flow)):
            node = topic[0]  # "programa ambulatorio", "jeringas limpias", "pregnant and using"
        if first and node == MAIN:
            return self.main_menu(state)
        return self.enter(state, node)
