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
    """Run queued items in batches through ``stages``, each in its own thread.

    Each request's items wait in a bounded queue; up to ``batch_size`` of
    them are taken at once (waiting ``wait`` seconds for more after the
    first), so concurrent requests share one network call and the event loop
    never blocks. A batch goes through the stages in order, each stage in a
    thread of its own: while one batch is in the second stage (the network),
    the next is in the first (finding faces), so the two overlap. A full
    queue refuses new items at once (:class:`QueueFull`) rather than letting
    memory grow.

    Parameters
    ----------
    stages : sequence of callable
        ``stage(batch) -> batch``: the first takes the list of items, the
        last gives the list of results (same length and order as the items;
        an item's result may be an exception, which its request raises).
    max_queue : int
    batch_size : int
    wait : float
        Seconds to wait for more items after the first of a batch.
    on_batch : callable or None
        ``on_batch(size)``, told the size of each batch run.
    """

    def __init__(self, stages, *, max_queue: int, batch_size: int,
                 wait: float = 0.005, on_batch: Callable | None = None,
                 ) -> None:  # fmt: skip
        self.stages = list(stages)
        self.on_batch = on_batch
        self.max_queue = max_queue
        self.batch_size = batch_size
        self.wait = wait
        self.queue: asyncio.Queue | None = None
        self.executors = [
            ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"skemotion-stage{i}")
            for i in range(len(self.stages))
        ]
        self.task: asyncio.Task | None = None
        self.in_flight: set[asyncio.Task] = set()
        self.batches = 0

    async def start(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.max_queue)
        # at most one batch per stage at a time, and one being collected
        self.slots = asyncio.Semaphore(len(self.stages))
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        for task in [self.task, *self.in_flight]:
            if task is not None:
                task.cancel()
        for executor in self.executors:
            executor.shutdown(wait=False, cancel_futures=True)

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

    async def _collect(self) -> list:
        """The next batch: the first item waiting, and those that follow it
        within ``wait`` seconds, up to ``batch_size``."""
        loop = asyncio.get_running_loop()
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
        return batch

    async def _run(self) -> None:
        while True:
            await self.slots.acquire()
            batch = await self._collect()
            task = asyncio.create_task(self._through_stages(batch))
            self.in_flight.add(task)
            task.add_done_callback(self.in_flight.discard)

    async def _through_stages(self, batch: list) -> None:
        loop = asyncio.get_running_loop()
        data = [item for item, _ in batch]
        try:
            for stage, executor in zip(self.stages, self.executors, strict=True):
                data = await loop.run_in_executor(executor, stage, data)
        except Exception as exc:  # every waiting request gets the error
            logger.exception("a batch failed")
            data = [exc] * len(batch)
        finally:
            self.slots.release()
        self.batches += 1
        if self.on_batch is not None:
            self.on_batch(len(batch))
        for (_, future), result in zip(batch, data, strict=True):
            if future.done():
                continue
            if isinstance(result, Exception):
                future.set_exception(result)
            else:
                future.set_result(result)
