"""TwiML for the voice menu, built with the ``twilio`` package's VoiceResponse: the menu in the debtor's
language with a one-digit Gather, the limited-content voicemail, the agent transfer."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from services.messaging.templates import LocaleRules


def menu(text: str, goodbye: str, voice: LocaleRules, action: str, timeout: int) -> str:
    """Say the menu while listening for one key; without a key, say goodbye and hang up."""
    response = VoiceResponse()
    gather = response.gather(num_digits=1, action=action, method="POST", timeout=timeout)
    gather.say(text, language=voice.say_language, voice=voice.say_voice)
    response.say(goodbye, language=voice.say_language, voice=voice.say_voice)
    response.hangup()
    return str(response)


def say_and_hang_up(text: str, voice: LocaleRules) -> str:
    response = VoiceResponse()
    response.say(text, language=voice.say_language, voice=voice.say_voice)
    response.hangup()
    return str(response)


def transfer(text: str, voice: LocaleRules, agent_number: str, caller_id: str) -> str:
    response = VoiceResponse()
    response.say(text, language=voice.say_language, voice=voice.say_voice)
    dial = response.dial(caller_id=caller_id or None)
    dial.number(agent_number)
    return str(response)


def hang_up() -> str:
    response = VoiceResponse()
    response.hangup()
    return str(response)
