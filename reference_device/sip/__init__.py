"""The reference decoder's SIP user agent, on asyncio over the pure `wire/` layer.

Modules, bottom up:

* `transport`: UDP and TCP on one bound address (TCP framed with `wire.sip.parse_stream`).
* `transaction`: RFC 3261 §17 client and server transactions with timers A..K (and RFC 6026 L).
* `dialog`: dialog state (tags, route set, CSeq, remote target) and in-dialog request building.
* `media`: one UDP port per call, bound on the transport's host, kept open for the call.
* `registration`: the REGISTER client state machine of one account.
* `calls`: one call (incoming or outgoing), its state machine and SDP handling.
* `agent`: the per-account user agent tying registration, calls and policies to the store.
* `stack`: the process-wide layer: transports by address, routing requests to agents.
"""
