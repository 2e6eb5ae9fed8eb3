"""The sandbox as a process: ``python -m services.sandbox`` prints its ready line (with the CA file of its
generated SMTP certificate), serves both protocols and exits cleanly on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
import sys
from pathlib import Path

import aiosmtplib
import httpx

from tests.channels_support import admin, admin_token

ROOT = Path(__file__).resolve().parents[3]


async def test_entry_point_prints_ready_line_and_stops_on_sigterm(tokens: list[str]) -> None:
    env = {
        **os.environ,
        "SANDBOX_HTTP_PORT": "0",
        "SANDBOX_SMTP_PORT": "0",
        "SANDBOX_AUTH_TOKENS": ",".join(tokens),
        "SANDBOX_ADMIN_TOKEN": admin_token(),
        "SANDBOX_LOG_LEVEL": "WARNING",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.sandbox", cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode()
        ready = re.fullmatch(
            r"SANDBOX_READY http=127\.0\.0\.1:(\d+) smtp=127\.0\.0\.1:(\d+) smtp_ca=(\S+)\n", line
        )
        assert ready, line
        http_port, smtp_port, ca_file = int(ready.group(1)), int(ready.group(2)), ready.group(3)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http_port}", verify=False) as client:
            assert (await client.get("/healthz")).json() == {"status": "ok"}
            assert (await client.get("/_sandbox/idle")).status_code == 401
            idle = await client.get("/_sandbox/idle", headers=admin(env["SANDBOX_ADMIN_TOKEN"]))
            assert idle.status_code == 200
            account = "AC" + "0" * 32
            created = await client.post(
                f"/2010-04-01/Accounts/{account}/Messages.json",
                data={"To": "+15551230000", "From": "+15550009000", "Body": "hi"},
                auth=(account, tokens[1]),
            )
            assert created.status_code == 201
        await aiosmtplib.send(
            "Subject: hi\r\n\r\nbody\r\n",
            sender="a@bank.example",
            recipients=["b@example.com"],
            hostname="127.0.0.1",
            port=smtp_port,
            start_tls=True,
            tls_context=ssl.create_default_context(cafile=ca_file),
            timeout=5,
        )
        assert await asyncio.to_thread(Path(ca_file).exists)
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), timeout=20) == 0
    assert not await asyncio.to_thread(Path(ca_file).exists)  # a temporary CA file goes with the sandbox
