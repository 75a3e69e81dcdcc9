"""Incoming MANSCDP MESSAGEs (§9.5.2; notes §3): answered at once, then the Response(s).

* Not ``Application/MANSCDP+xml`` (any case): 415 with ``Accept``.
* A body wire.manscdp cannot read (bad bytes, malformed XML, no root/CmdType/SN/DeviceID): 400.
  GB2312, GBK, GB18030 and UTF-8 bodies are all read, whatever they declare.
* Anything else: 200 with no body, at once. Then, for a ``<Query>``, a MESSAGE ``<Response>``
  with the query's CmdType, SN and DeviceID to the platform (gb/outbox.py):

  - Catalog: SumNum + DeviceList of the decoder outputs (gb/catalog.py), split per Annex N so
    that every MESSAGE stays within 1300 bytes (RFC 3261 §18.1.1), each part sent once the
    previous one got its 200; a part refused or unanswered ends the answer;
  - DeviceInfo: DeviceName, Result OK, Manufacturer, Model, Firmware, Channel (outputs);
  - DeviceStatus: Result OK, Online ONLINE, Status OK, Encode/Record OFF, DeviceTime;
  - ConfigDownload: Result OK and ``<BasicParam>`` (Name, Expiration, HeartBeatInterval,
    HeartBeatCount, SIPServerID/IP/Port, DomainName) when BasicParam is asked for; Result ERROR
    when no type asked for is one the decoder has;
  - any other CmdType (decision): a Response with that CmdType and Result ERROR, so the
    platform learns at once that the query is not supported instead of waiting for nothing.

  ``<Control>`` (DeviceControl: the decoder has no control of its own, notes §4), ``<Notify>``
  and ``<Response>`` get the 200 only.

Faults: `gb_response_wrong_sn` answers with SN+1; `gb_utf8_under_gb2312` writes the Responses'
bytes in UTF-8 under their GB2312 declaration.
"""

from __future__ import annotations

import datetime
import logging
import math
from collections.abc import Coroutine
from dataclasses import dataclass, replace
from typing import Any

from reference_device.faults import Fault, Faults
from reference_device.gb.catalog import (
    DEVICE_NAME,
    FIRMWARE,
    MANUFACTURER,
    MODEL,
    channel_items,
)
from reference_device.gb.identity import GbIdentity
from reference_device.gb.outbox import Outbox, encode
from reference_device.gb.settings import GbSettings
from reference_device.model import Account
from reference_device.readings import Point, Readings
from reference_device.sip.transaction import ServerTransaction, TransactionLayer
from reference_device.sip.transport import Flow
from wire import manscdp, sip

log = logging.getLogger(__name__)


def responder_for(
    account: Account,
    flow: Flow,
    *,
    layer: TransactionLayer,
    settings: GbSettings,
    faults: Faults,
    readings: Readings,
    expiration: int,
) -> Responder:
    """The Responder of a gb28181 account for a MESSAGE that came on `flow`: Responses go to
    registerServer:registerPort, or back to the MESSAGE's source when none is configured."""
    server, port = account.register_server, account.register_port
    if not server:
        server, port = flow.addr
    identity = GbIdentity.of(
        account.local_account, account.server_id, account.realm, account.username, server
    )
    outbox = Outbox(identity, flow.transport, layer, server, port)
    channels = settings.channels if readings.follows(Point.GB_DECODER_CHANNELS, "outputs") else 0
    return Responder(outbox, replace(settings, channels=channels), faults, expiration, server, port)


@dataclass
class Responder:
    """What answering one account's queries needs."""

    outbox: Outbox
    settings: GbSettings
    faults: Faults
    #: the registration expiry the device asks for (BasicParam Expiration)
    expiration: int
    server: str
    port: int

    def on_message(
        self, request: sip.SipRequest, tx: ServerTransaction
    ) -> Coroutine[Any, Any, None] | None:
        """Answer `request` at once; the coroutine sending the Response(s), if any, to spawn."""
        content_type = request.content_type
        if content_type is None or not manscdp.is_manscdp_content_type(content_type):
            refusal = _answer(request, 415)
            refusal.headers.add("Accept", manscdp.CONTENT_TYPE)
            tx.respond(refusal)
            return None
        try:
            message = manscdp.parse(request.body).require()
        except manscdp.ManscdpError as exc:
            log.warning("MESSAGE with an unreadable MANSCDP body refused: %s", exc)
            tx.respond(_answer(request, 400))
            return None
        tx.respond(_answer(request, 200))
        if message.root != manscdp.ROOT_QUERY:
            log.info("%s/%s SN %d: answered 200", message.root, message.cmd_type, message.sn)
            return None
        return self._respond(message)

    # -- Responses ------------------------------------------------------------------------------

    async def _respond(self, query: manscdp.Message) -> None:
        sn = query.sn + 1 if self.faults.on(Fault.GB_RESPONSE_WRONG_SN) else query.sn
        for body in self._bodies(query, sn):
            response = await self.outbox.send(body)
            code = None if response is None else response.status_code
            if code is None or not 200 <= code < 300:
                log.warning(
                    "Response %s SN %d: %s; the rest is not sent",
                    query.cmd_type,
                    sn,
                    "no answer" if code is None else f"answered {code}",
                )
                return
        log.info("Query %s SN %d answered", query.cmd_type, query.sn)

    @property
    def _utf8(self) -> bool:
        return self.faults.on(Fault.GB_UTF8_UNDER_GB2312)

    def _bodies(self, query: manscdp.Message, sn: int) -> list[bytes]:
        device_id = query.device_id
        if query.cmd_type == manscdp.CMD_CATALOG:
            mine = device_id == self.outbox.identity.device_id
            items = channel_items(device_id, self.settings) if mine else []
            # The fault's UTF-8 is measured as sent; its declaration says GB2312, one byte more.
            budget = self.outbox.body_budget() - (1 if self._utf8 else 0)
            parts = manscdp.split_catalog(
                sn,
                device_id,
                items,
                max_bytes=budget,
                encoding=manscdp.ENCODING_UTF8 if self._utf8 else self.settings.charset,
            )
            return [
                encode(part, self.settings.charset, utf8_under_gb2312=self._utf8) for part in parts
            ]
        if query.cmd_type == manscdp.CMD_DEVICE_INFO:
            message = manscdp.DeviceInfo(
                device_name=DEVICE_NAME,
                manufacturer=MANUFACTURER,
                model=MODEL,
                firmware=FIRMWARE,
                channel=self.settings.channels,
            ).to_message(sn, device_id)
        elif query.cmd_type == manscdp.CMD_DEVICE_STATUS:
            message = manscdp.DeviceStatus(
                encode="OFF",
                record="OFF",
                device_time=datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S"),
            ).to_message(sn, device_id)
        elif query.cmd_type == manscdp.CMD_CONFIG_DOWNLOAD:
            message = self._config(query, sn)
        else:
            log.info("Query %s SN %d is not supported: Result ERROR", query.cmd_type, query.sn)
            message = manscdp.Message(
                manscdp.ROOT_RESPONSE,
                query.cmd_type,
                sn,
                device_id,
                [manscdp.leaf("Result", manscdp.RESULT_ERROR)],
            )
        return [encode(message, self.settings.charset, utf8_under_gb2312=self._utf8)]

    def _config(self, query: manscdp.Message, sn: int) -> manscdp.Message:
        try:
            asked = manscdp.config_types(query)
        except manscdp.ManscdpError:
            asked = []
        if manscdp.CONFIG_BASIC_PARAM not in asked:
            return manscdp.Message(
                manscdp.ROOT_RESPONSE,
                manscdp.CMD_CONFIG_DOWNLOAD,
                sn,
                query.device_id,
                [manscdp.leaf("Result", manscdp.RESULT_ERROR)],
            )
        identity = self.outbox.identity
        return manscdp.BasicParam(
            name=DEVICE_NAME,
            expiration=self.expiration,
            # BasicParam carries whole seconds: a sub-second test interval reads as 1.
            heartbeat_interval=max(1, math.ceil(self.settings.keepalive_interval)),
            heartbeat_count=self.settings.keepalive_count,
            extra={
                "SIPServerID": identity.server_id,
                "SIPServerIP": self.server,
                "SIPServerPort": str(self.port),
                "DomainName": identity.domain,
            },
        ).to_message(sn, query.device_id)


def _answer(request: sip.SipRequest, code: int) -> sip.SipResponse:
    return sip.make_response(request, code, to_tag=sip.new_tag())
