"""``make demo``: start a local broker, apply the topic catalog, publish the sample events, read them back.

The simulator issue grows this into the whole platform running on the shared clock.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from pydantic import BaseModel

from devtools.localkafka import LocalKafka
from schemas.topics import ACCOUNT
from services.core import codec
from services.core import kafka as kafka_clients
from services.core.clock import WallClock
from services.core.settings import DEPLOY_DIR, REPO_ROOT, CommonSettings
from services.core.topics import apply
from services.publish.__main__ import prepare, publish

SAMPLES = DEPLOY_DIR / "samples" / "events.jsonl"


async def read_back(settings: CommonSettings, expected: int) -> list[codec.Envelope[BaseModel]]:
    consumer = kafka_clients.consumer(settings, None, "demo-reader")
    await consumer.start()
    try:
        tps = await kafka_clients.partitions(consumer, settings.topic(ACCOUNT))
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        envelopes: list[codec.Envelope[BaseModel]] = []
        deadline = asyncio.get_running_loop().time() + 30
        while len(envelopes) < expected and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                envelopes.extend(codec.decode(r.key, r.value, r.headers) for r in records)
        return sorted(envelopes, key=lambda e: e.time)
    finally:
        await consumer.stop()


def main() -> int:
    # A fresh topic's leader needs a moment on the broker; the producer's retries are expected noise here.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    kafka = LocalKafka(REPO_ROOT / "var" / "demo" / "kafka")
    print("starting a local Kafka broker (KRaft, single node) ...", flush=True)
    kafka.start()
    try:
        settings = CommonSettings(kafka_bootstrap=kafka.bootstrap, topic_prefix="demo.")
        created = asyncio.run(apply(kafka.bootstrap, prefix=settings.topic_prefix))
        print(f"broker ready on {kafka.bootstrap}; topics created: {len(created)}")
        with SAMPLES.open(encoding="utf-8") as handle:
            good, bad = prepare(handle, WallClock())
        if bad:
            print(f"{SAMPLES}: {len(bad)} invalid lines", file=sys.stderr)
            return 1
        asyncio.run(publish(good, settings))
        print(f"published {len(good)} events from {SAMPLES.relative_to(REPO_ROOT)}; reading them back:\n")
        for env in asyncio.run(read_back(settings, len(good))):
            event = env.event
            account = getattr(event, "account_id", "-")
            name = type(event).__name__
            print(f"  {env.time:%Y-%m-%d %H:%M}Z  {name:22} debtor={env.subject:6} account={account}")
        return 0
    finally:
        kafka.stop()
        print("\nbroker stopped. Data in", Path("var/demo/kafka"))


if __name__ == "__main__":
    sys.exit(main())
