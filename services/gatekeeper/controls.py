"""Operator controls: pause everything, one channel, one template or one strategy; resume.

Every gatekeeper process reads the whole (compacted, single-partition) control topic, not just a share of
it: a pause must hold on every partition. The latest record per scope wins.
"""

from __future__ import annotations

from schemas import events as ev


class Controls:
    """The pauses in force, kept current by the gatekeeper's control feed."""

    def __init__(self) -> None:
        self.paused: dict[str, ev.OutreachControlChanged] = {}

    def apply(self, control: ev.OutreachControlChanged) -> None:
        if control.paused:
            self.paused[control.control_key] = control
        else:
            self.paused.pop(control.control_key, None)

    def holds(self, request: ev.ContactRequested | ev.EscalationRequested) -> bool:
        """Whether a pause in force holds ``request`` (an escalation: a pause of all or of its strategy)."""
        if not self.paused:
            return False
        scopes: tuple[str, ...] = ("all:", f"strategy:{request.strategy}")
        if isinstance(request, ev.ContactRequested):
            scopes += (f"channel:{request.channel.value}", f"template:{request.template}")
        return any(scope in self.paused for scope in scopes)
