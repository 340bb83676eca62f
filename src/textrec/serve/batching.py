"""Micro-batching: concurrent requests are gathered into one forward pass (bounded batch, bounded wait), so
throughput grows with load while a lone request waits at most `wait_ms`. Written here because it is ~50 lines
on asyncio and the serving libraries that do it (Ray Serve, Triton) are whole platforms."""
from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from textrec.decoding import Prediction

RunArrays = Callable[[Sequence[np.ndarray]], list[Prediction]]


class QueueFull(Exception):
    """More images waiting than the configured limit."""


class MicroBatcher:
    def __init__(self, run: RunArrays, max_batch: int = 32, wait_ms: float = 3.0, queue_limit: int = 1024,
                 on_batch: Callable[[int], None] | None = None):
        self.run, self.max_batch, self.wait = run, max_batch, wait_ms / 1000
        self.queue_limit, self.on_batch = queue_limit, on_batch
        self.queue: asyncio.Queue | None = None
        self.task: asyncio.Task | None = None
        # one model thread: onnxruntime parallelizes inside a batch, two batches at once would only contend
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="textrec-batch")

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()

    async def start(self) -> None:
        self.queue = asyncio.Queue()
        self.task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def predict(self, arrays: Sequence[np.ndarray]) -> list[Prediction]:
        assert self.queue is not None, "start() the batcher first"
        if self.queue.qsize() + len(arrays) > self.queue_limit:
            raise QueueFull(f"{self.queue.qsize()} images already waiting")
        loop = asyncio.get_running_loop()
        futures = [loop.create_future() for _ in arrays]
        for array, future in zip(arrays, futures):
            self.queue.put_nowait((array, future))
        return list(await asyncio.gather(*futures))

    async def _next_batch(self) -> list[tuple[np.ndarray, asyncio.Future]]:
        assert self.queue is not None
        items = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait
        while len(items) < self.max_batch:
            if not self.queue.empty():
                items.append(self.queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                items.append(await asyncio.wait_for(self.queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return [(a, f) for a, f in items if not f.done()]  # a client that went away is not computed for

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            items = await self._next_batch()
            if not items:
                continue
            if self.on_batch:
                self.on_batch(len(items))
            try:
                results = await loop.run_in_executor(self.executor, self.run, [a for a, _ in items])
            except Exception as exc:  # handed to the waiting requests; the loop itself keeps serving
                for _, future in items:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), result in zip(items, results):
                if not future.done():
                    future.set_result(result)
