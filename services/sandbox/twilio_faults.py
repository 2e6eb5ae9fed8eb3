"""Which fault a create request meets: an explicit per-number fault, the fictional-number table, or a
seeded random draw from the transient faults."""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from services.sandbox.settings import Behaviour, FaultSpec, SandboxSettings

Resource = Literal["message", "call"]

# Destination numbers whose digits end in 55501XX (the 555-01XX range is reserved for fiction) pick
# their behaviour from XX. Entries with times=1 fail on the first create for that number only, so a
# client's retry or reconciliation can be exercised end to end.
NUMBER_TABLE: dict[str, FaultSpec] = {
    "00": FaultSpec(behaviour=Behaviour.OK),
    "01": FaultSpec(behaviour=Behaviour.INVALID_NUMBER),
    "02": FaultSpec(behaviour=Behaviour.OPTED_OUT),
    "03": FaultSpec(behaviour=Behaviour.NOT_SMS_CAPABLE),
    "04": FaultSpec(behaviour=Behaviour.REGION_NOT_ENABLED),
    "05": FaultSpec(behaviour=Behaviour.RATE_LIMITED),
    "06": FaultSpec(behaviour=Behaviour.ERROR_BEFORE_CREATE),
    "07": FaultSpec(behaviour=Behaviour.ERROR_AFTER_CREATE),
    "08": FaultSpec(behaviour=Behaviour.TIMEOUT_BEFORE_CREATE),
    "09": FaultSpec(behaviour=Behaviour.TIMEOUT_AFTER_CREATE),
    "10": FaultSpec(behaviour=Behaviour.SLOW),
    "11": FaultSpec(behaviour=Behaviour.UNDELIVERED_30003),
    "12": FaultSpec(behaviour=Behaviour.UNDELIVERED_30005),
    "13": FaultSpec(behaviour=Behaviour.UNDELIVERED_30006),
    "14": FaultSpec(behaviour=Behaviour.UNDELIVERED_30007),
    "15": FaultSpec(behaviour=Behaviour.RATE_LIMITED, times=1),
    "16": FaultSpec(behaviour=Behaviour.ERROR_BEFORE_CREATE, times=1),
    "17": FaultSpec(behaviour=Behaviour.ERROR_AFTER_CREATE, times=1),
    "18": FaultSpec(behaviour=Behaviour.TIMEOUT_BEFORE_CREATE, times=1),
    "19": FaultSpec(behaviour=Behaviour.TIMEOUT_AFTER_CREATE, times=1),
    "20": FaultSpec(behaviour=Behaviour.HUMAN),
    "21": FaultSpec(behaviour=Behaviour.VOICEMAIL),
    "22": FaultSpec(behaviour=Behaviour.NO_ANSWER),
    "23": FaultSpec(behaviour=Behaviour.BUSY),
    "24": FaultSpec(behaviour=Behaviour.CALL_FAILED),
}
_TABLE_SUFFIX = re.compile(r"55501(\d\d)$")

_MESSAGE_ONLY = frozenset(
    {
        Behaviour.OPTED_OUT,
        Behaviour.NOT_SMS_CAPABLE,
        Behaviour.UNDELIVERED_30003,
        Behaviour.UNDELIVERED_30005,
        Behaviour.UNDELIVERED_30006,
        Behaviour.UNDELIVERED_30007,
    }
)
_CALL_ONLY = frozenset(
    {Behaviour.HUMAN, Behaviour.VOICEMAIL, Behaviour.NO_ANSWER, Behaviour.BUSY, Behaviour.CALL_FAILED}
)


@dataclass(slots=True)
class _ArmedFault:
    behaviour: Behaviour
    remaining: int | None


class FaultUpdate(BaseModel):
    """Body of ``POST /_sandbox/faults``: per-number faults (null removes one) and the random fault mix."""

    model_config = ConfigDict(extra="forbid")

    numbers: dict[str, FaultSpec | None] = {}
    fault_ratio: float | None = Field(default=None, ge=0, le=1)
    fault_kinds: list[Behaviour] | None = None
    clear: bool = False


class FaultPlan:
    """Faults armed for this sandbox; draws come from their own seeded generator so that callback timing
    never changes which creates fail."""

    def __init__(self, settings: SandboxSettings) -> None:
        self._settings = settings
        self.reset()

    def reset(self) -> None:
        self.rng = random.Random(self._settings.seed)
        self.fault_ratio = self._settings.fault_ratio
        self.fault_kinds = list(self._settings.fault_kinds)
        self.numbers = {
            number: _ArmedFault(spec.behaviour, spec.times) for number, spec in self._settings.faults.items()
        }
        self._table_uses: Counter[str] = Counter()

    def update(self, update: FaultUpdate) -> None:
        if update.clear:
            self.numbers.clear()
        for number, spec in update.numbers.items():
            if spec is None:
                self.numbers.pop(number, None)
            else:
                self.numbers[number] = _ArmedFault(spec.behaviour, spec.times)
        if update.fault_ratio is not None:
            self.fault_ratio = update.fault_ratio
        if update.fault_kinds is not None:
            self.fault_kinds = list(update.fault_kinds)

    def as_json(self) -> dict[str, Any]:
        return {
            "numbers": {
                number: {"behaviour": armed.behaviour.value, "times_left": armed.remaining}
                for number, armed in self.numbers.items()
            },
            "fault_ratio": self.fault_ratio,
            "fault_kinds": [kind.value for kind in self.fault_kinds],
            "table": {
                f"*55501{suffix}": {"behaviour": spec.behaviour.value, "times": spec.times}
                for suffix, spec in NUMBER_TABLE.items()
            },
        }

    def pick(self, number: str, resource: Resource) -> Behaviour:
        """An explicit fault for the number first, then the fictional-number table, then the random mix."""
        behaviour = self._explicit(number)
        if (
            behaviour is None
            and self.fault_kinds
            and self.fault_ratio
            and self.rng.random() < self.fault_ratio
        ):
            behaviour = self.rng.choice(self.fault_kinds)
        if behaviour is None:
            return Behaviour.OK
        if (resource == "message" and behaviour in _CALL_ONLY) or (
            resource == "call" and behaviour in _MESSAGE_ONLY
        ):
            return Behaviour.OK
        return behaviour

    def _explicit(self, number: str) -> Behaviour | None:
        armed = self.numbers.get(number)
        if armed is not None:
            if armed.remaining is None:
                return armed.behaviour
            if armed.remaining > 0:
                armed.remaining -= 1
                return armed.behaviour
            return Behaviour.OK
        match = _TABLE_SUFFIX.search(number)
        spec = NUMBER_TABLE.get(match.group(1)) if match else None
        if spec is None:
            return None
        if spec.times is not None:
            self._table_uses[number] += 1
            if self._table_uses[number] > spec.times:
                return Behaviour.OK
        return spec.behaviour
