"""H.264 decoding in a worker thread per call, and the pool that stops and joins the threads.

The event loop hands access units (Annex-B bytes) to :meth:`DecoderWorker.submit`, which never
blocks: the queue is bounded by count and by bytes, and a full queue refuses the access unit (the
caller counts it as ``decoder_overrun``). The worker decodes each one with PyAV
(``av.CodecContext.create("h264", "r")``, one thread: at call sizes the frame-threaded decoder is
slower on two cores, and calls run in parallel anyway); PyAV releases the GIL while FFmpeg
decodes. Any error from PyAV counts in ``decode_errors`` and the worker goes on. The thread ends
at a sentinel; :class:`DecoderPool` joins it off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import av

log = logging.getLogger(__name__)

#: Access units waiting for the decoder, by count and by bytes.
MAX_QUEUE: Final = 64
MAX_QUEUED_BYTES: Final = 16 * 1024 * 1024
JOIN_TIMEOUT: Final = 2.0
FPS_WINDOW: Final = 1.0


@dataclass(frozen=True)
class FrameStats:
    """What the decoder has produced so far."""

    frames_decoded: int
    width: int
    height: int
    fps: float
    decode_errors: int


class DecoderWorker:
    """One call's decoder thread."""

    def __init__(self, name: str, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._lock = threading.Lock()
        self._queued_bytes = 0
        self._queued = 0
        self._frames = 0
        self._errors = 0
        self._width = 0
        self._height = 0
        self._frame_times: deque[float] = deque(maxlen=1024)
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    @property
    def name(self) -> str:
        """The thread's name."""
        return self._thread.name

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """Whether the thread is running."""
        return self._thread.is_alive()

    def submit(self, access_unit: bytes) -> bool:
        """Queue one access unit; False (dropped) when the queue is full or the worker stopped."""
        with self._lock:
            if (
                self._stopped
                or self._queued >= MAX_QUEUE
                or self._queued_bytes + len(access_unit) > MAX_QUEUED_BYTES
            ):
                return False
            self._queued += 1
            self._queued_bytes += len(access_unit)
        self._queue.put_nowait(access_unit)
        return True

    def stop(self) -> None:
        """Drop what is queued and tell the thread to end (never blocks)."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        with contextlib.suppress(queue.Empty):
            while True:
                self._queue.get_nowait()
        self._queue.put_nowait(None)

    def join(self, timeout: float = JOIN_TIMEOUT) -> bool:
        """Wait for the thread (blocking: call it off the event loop); whether it ended."""
        if self._thread.ident is not None:
            self._thread.join(timeout)
        return not self._thread.is_alive()

    def stats(self) -> FrameStats:
        """A consistent snapshot; ``fps`` counts the frames decoded in the last second."""
        now = self._clock()
        with self._lock:
            recent = sum(1 for at in self._frame_times if at > now - FPS_WINDOW)
            return FrameStats(
                self._frames, self._width, self._height, recent / FPS_WINDOW, self._errors
            )

    def _run(self) -> None:
        try:
            context = av.CodecContext.create("h264", "r")
            context.thread_count = 1
        except Exception:  # pragma: no cover - the h264 decoder is part of PyAV's FFmpeg
            log.exception("cannot create the H.264 decoder")
            return
        while True:
            item = self._queue.get()
            if item is None:
                break
            with self._lock:
                self._queued -= 1
                self._queued_bytes -= len(item)
            try:
                frames = context.decode(av.Packet(item))
            except Exception as exc:  # av.FFmpegError and anything else: counted, never fatal
                log.debug("decode error: %s", exc)
                with self._lock:
                    self._errors += 1
                continue
            if not frames:
                continue
            now = self._clock()
            last = frames[-1]
            with self._lock:
                self._frames += len(frames)
                self._width, self._height = last.width, last.height
                self._frame_times.extend([now] * len(frames))
        del context  # FFmpeg's decoder is freed with its last reference, in this thread


class DecoderPool:
    """Every decoder thread of the process: started here, stopped and joined here."""

    def __init__(self) -> None:
        self._workers: set[DecoderWorker] = set()
        self._joins: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> int:
        """Workers started and not yet joined."""
        return len(self._workers)

    def start(self, name: str) -> DecoderWorker:
        """A new, started worker."""
        worker = DecoderWorker(name)
        worker.start()
        self._workers.add(worker)
        return worker

    def release(self, worker: DecoderWorker) -> None:
        """Stop `worker` now and join it in the background (off the event loop)."""
        worker.stop()
        task = asyncio.get_running_loop().create_task(self._join(worker))
        self._joins.add(task)
        task.add_done_callback(self._joins.discard)

    async def _join(self, worker: DecoderWorker) -> None:
        if await asyncio.to_thread(worker.join, JOIN_TIMEOUT):
            if worker in self._workers:
                log.info("decoder thread %s joined", worker.name)
        else:
            log.error("decoder thread %s did not end within %.1f s", worker.name, JOIN_TIMEOUT)
        self._workers.discard(worker)

    async def close(self) -> None:
        """Stop every worker and wait for all of them (each join bounded by JOIN_TIMEOUT)."""
        workers = list(self._workers)
        for worker in workers:
            worker.stop()
        await asyncio.gather(
            *(self._join(w) for w in workers), *self._joins, return_exceptions=True
        )
