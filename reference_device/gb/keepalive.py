"""§9.6 keepalive: a Notify/Keepalive MESSAGE every interval while the device is registered.

Body (A.2.5), GB2312 with a matching declaration, SN increasing across the process's keepalives
of the account::

    <?xml version="1.0" encoding="GB2312"?>
    <Notify>
    <CmdType>Keepalive</CmdType>
    <SN>17</SN>
    <DeviceID>34020000001140000001</DeviceID>
    <Status>OK</Status>
    </Notify>

The first keepalive leaves as soon as the registration is granted, the next ones on a fixed
schedule (start + k * interval, so a slow answer never delays the cadence); each is its own
transaction. The platform is judged lost (`on_lost(code)`, once) when `count` keepalives in a row
get no final answer (timer F; a 5xx/6xx counts as no answer), reported as 408, or at once when a
keepalive gets a 4xx (a restarted platform answers 404 "device not found", WVP #814), reported
with that code. The registration then registers again from scratch (sip/registration.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator

from reference_device.gb.outbox import Outbox, encode
from reference_device.gb.settings import GbSettings
from wire import manscdp

log = logging.getLogger(__name__)

TIMEOUT_CODE = 408


class KeepaliveLoop:
    """The keepalives of one registration; start() once granted, halt()/stop() when it ends."""

    def __init__(
        self,
        outbox: Outbox,
        settings: GbSettings,
        sn: Iterator[int],
        on_lost: Callable[[int], None],
    ) -> None:
        self._outbox = outbox
        self._settings = settings
        self._sn = sn
        self._on_lost = on_lost
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._last_answered = -1
        self._missed: set[int] = set()
        self.lost = False
        self.sent = 0

    @property
    def running(self) -> bool:
        """Whether keepalives are being sent."""
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        """Begin sending (no-op while running)."""
        if self.running or self.lost:
            return
        self._task = asyncio.get_running_loop().create_task(self._run())

    def halt(self) -> None:
        """Stop at once (from any callback): no further keepalive leaves."""
        current = asyncio.current_task()
        for task in [self._task, *self._sends]:
            if task is not None and task is not current:
                task.cancel()
        self._task = None
        self._sends.clear()

    async def stop(self) -> None:
        """Stop and wait for the loop to end."""
        task = self._task
        self.halt()
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        index = 0
        while True:
            send = loop.create_task(self._one(index, next(self._sn)))
            self._sends.add(send)
            send.add_done_callback(self._sends.discard)
            index += 1
            await asyncio.sleep(
                max(0.0, start + index * self._settings.keepalive_interval - loop.time())
            )

    async def _one(self, index: int, sn: int) -> None:
        message = manscdp.Keepalive().to_message(sn, self._outbox.identity.device_id)
        self.sent += 1
        response = await self._outbox.send(encode(message, self._settings.charset))
        if self.lost:
            return
        code = None if response is None else response.status_code
        if code is not None and 200 <= code < 300:
            self._last_answered = max(self._last_answered, index)
            self._missed = {i for i in self._missed if i > self._last_answered}
            return
        if code is not None and 400 <= code < 500:
            log.warning("keepalive SN %d refused with %d: the platform lost us", sn, code)
            self._lose(code)
            return
        if index > self._last_answered:
            self._missed.add(index)
        log.info(
            "keepalive SN %d: %s (%d in a row)",
            sn,
            "no answer" if code is None else f"answered {code}",
            len(self._missed),
        )
        if len(self._missed) >= self._settings.keepalive_count:
            self._lose(TIMEOUT_CODE)

    def _lose(self, code: int) -> None:
        self.lost = True
        self.halt()
        self._on_lost(code)
