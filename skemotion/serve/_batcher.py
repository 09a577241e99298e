"""Requests queued with a bound and run in batches, off the event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

__all__ = ["Batcher", "QueueFull"]

logger = logging.getLogger(__name__)


class QueueFull(Exception):
    """The queue holds as many images as it may: the server is busy."""


class Batcher:
    """Run ``work(items)`` on batches of queued items in one worker thread.

    Each request's items wait in a bounded queue; a single thread takes up to
    ``batch_size`` of them at once (waiting ``wait`` seconds for more after
    the first), so concurrent requests share one network call and the event
    loop never blocks. A full queue refuses new items at once
    (:class:`QueueFull`) rather than letting memory grow.

    Parameters
    ----------
    work : callable
        ``work(list_of_items) -> list_of_results``, same length and order.
    max_queue : int
    batch_size : int
    wait : float
        Seconds to wait for more items after the first of a batch.
    on_batch : callable or None
        ``on_batch(size)``, told the size of each batch run.
    """

    def __init__(self, work: Callable, *, max_queue: int, batch_size: int,
                 wait: float = 0.005, on_batch: Callable | None = None,
                 ) -> None:  # fmt: skip
        self.work = work
        self.on_batch = on_batch
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.wait = wait
        self.queue: asyncio.Queue | None = None
        self.executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="skemotion"
        )
        self.task: asyncio.Task | None = None
        self.batches = 0

    async def start(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.max_queue)
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    def pending(self) -> int:
        return self.queue.qsize() if self.queue is not None else 0

    async def submit(self, items: list) -> list:
        """Queue ``items`` (all or none) and wait for their results."""
        loop = asyncio.get_running_loop()
        if self.queue.qsize() + len(items) > self.max_queue:
            raise QueueFull(f"{self.queue.qsize()} images are waiting already")
        futures = []
        for item in items:
            future = loop.create_future()
            self.queue.put_nowait((item, future))
            futures.append(future)
        return list(await asyncio.gather(*futures))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self.queue.get()]
            deadline = loop.time() + self.wait
            while len(batch) < self.batch_size:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    batch.append(await asyncio.wait_for(self.queue.get(), timeout))
                except asyncio.TimeoutError:
                    break
            items = [item for item, _ in batch]
            try:
                results = await loop.run_in_executor(self.executor, self.work, items)
            except Exception as exc:  # every waiting request gets the error
                logger.exception("a batch failed")
                results = [exc] * len(batch)
            self.batches += 1
            if self.on_batch is not None:
                self.on_batch(len(batch))
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
