"""The small part of TwiML the voice sandbox acts on: Say, Play, Pause, Gather, Dial, Redirect, Hangup."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field


class TwimlError(ValueError):
    """The document is not TwiML the sandbox can follow."""


@dataclass(frozen=True, slots=True)
class Verb:
    name: str
    attrs: dict[str, str]
    text: str
    children: tuple[Verb, ...] = field(default=())

    def said(self) -> list[dict[str, str]]:
        """What a listener hears from this verb: its own <Say> or the prompts nested in a <Gather>."""
        if self.name == "Say":
            return [{"text": self.text, **self.attrs}]
        return [said for child in self.children for said in child.said()]


def parse_twiml(document: str) -> list[Verb]:
    try:
        # TwiML comes from the project's own webhook services on this machine, not from strangers.
        root = ET.fromstring(document)  # noqa: S314
    except ET.ParseError as exc:
        raise TwimlError(f"not XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"root element is <{root.tag}>, expected <Response>")
    return [_verb(element) for element in root]


def _verb(element: ET.Element) -> Verb:
    return Verb(
        name=element.tag,
        attrs=dict(element.attrib),
        text=(element.text or "").strip(),
        children=tuple(_verb(child) for child in element),
    )


def reply_bodies(document: str) -> list[str]:
    """The texts of <Message> verbs in a messaging webhook's answer (a reply to an inbound SMS)."""
    replies = []
    for verb in parse_twiml(document):
        if verb.name == "Message":
            body = next((child.text for child in verb.children if child.name == "Body"), verb.text)
            replies.append(body)
    return replies
