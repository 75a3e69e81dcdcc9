"""Media reception of the reference decoder: RTP in, H.264 frames out, and what was seen.

The pieces, in the order a packet meets them (all but the decoder run on the event loop):

* :mod:`.session` - one call's pipeline: the filter (RTCP, malformed, early, payload type, SSRC),
  RFC 3550 sequence tracking, the reorder buffer, the bitrate meter, the RFC 6184 depacketizer
  and the keyframe gate; it owns the counters that ``reference/media.json`` reports.
* :mod:`.reorder` - a small reorder window releasing packets in sequence order.
* :mod:`.meter` - kbit/s over a sliding window on the monotonic clock.
* :mod:`.decoder` - a PyAV H.264 decoder in a worker thread per call, fed through a bounded queue,
  and the pool that stops and joins those threads.

Socket I/O (UDP datagrams, RFC 4571 over TCP) lives in :mod:`reference_device.sip.media`.
"""
