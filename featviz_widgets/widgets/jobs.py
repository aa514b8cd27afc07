"""One runner for long work (activation maximization, later dataset examples) in a worker thread.

A tab hands :meth:`JobRunner.submit` a hashable job and a ``work(cancel, progress)`` function;
the runner runs it in a daemon thread, so the kernel keeps answering the other controls. While it
runs, the model's owner names the job (``owner.running("Maximize")``), so a click that waits too
long for the model is told who holds it. The runner does NOT hold the model lock across the job:
the work takes ``owner.using()`` per step (optvis does), and a click waits for one step at most.

Results are cached by job under the process-wide memory budget; errors are captured and
re-raised by :meth:`JobRunner.wait`.

Examples
--------
>>> runner = JobRunner("Maximize")
>>> runner.submit(("sum", 3), lambda cancel, progress: sum(range(3)), owner=None)
True
>>> runner.wait(10)
3
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from contextlib import nullcontext
from typing import Any

from featviz_widgets.engine import BudgetCache, ModelOwner

Progress = Callable[..., None]
Work = Callable[[threading.Event, Progress], Any]
Finish = Callable[[Hashable, Any, "BaseException | None"], None]


class JobRunner:
    """Runs one job at a time in a worker thread: progress, cancel, wait, a result cache.

    Parameters
    ----------
    name : str
        What the job is called in messages ("Maximize is running: Cancel it or wait ...").
    cache_if : callable, optional
        ``cache_if(result) -> bytes to keep, or None`` decides which results are cached (a
        cancelled run is not) and how much budget they take. None caches nothing.
    """

    def __init__(self, name: str, *, cache_if: Callable[[Any], int | None] | None = None) -> None:
        self.name = name
        self._cache_if = cache_if
        self._cache = BudgetCache()
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._owner: ModelOwner | None = None
        self.job: Hashable = None
        self.result: Any = None
        self.error: BaseException | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def cached(self, job: Hashable) -> Any:
        """The cached result of ``job``, or None (never run, cancelled, or evicted)."""
        return self._cache.get(job)

    def submit(
        self,
        job: Hashable,
        work: Work,
        *,
        owner: ModelOwner | None,
        on_progress: Progress | None = None,
        on_finish: Finish | None = None,
    ) -> bool:
        """Start ``work(cancel, progress)`` in a thread; False when the cache answered instead.

        ``progress(*args)`` forwards to ``on_progress``; ``on_finish(job, result, error)`` runs in
        the worker after the work ends (error None on success). Raises RuntimeError when a job
        is already running. A cached job sets :attr:`result` and starts nothing.
        """
        if self.running:
            raise RuntimeError(f"{self.name} is already running: cancel it or wait() first")
        cached = self.cached(job)
        self.job, self.error, self.result = job, None, cached
        if cached is not None:
            return False
        self._owner = owner
        self._cancel = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(job, work, on_progress, on_finish),
            name=f"featviz-{self.name.lower()}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return True

    def _run(
        self, job: Hashable, work: Work, on_progress: Progress | None, on_finish: Finish | None
    ) -> None:
        def progress(*args: Any) -> None:
            if on_progress is not None:
                on_progress(*args)

        result = None
        try:
            owner = self._owner
            with owner.running(self.name) if owner is not None else nullcontext():
                result = work(self._cancel, progress)
            self.result = result
            nbytes = self._cache_if(result) if self._cache_if is not None else None
            if nbytes is not None:
                self._cache.put(job, result, nbytes)
        except BaseException as error:  # kept for wait(), shown by on_finish
            self.error = error
        finally:
            if on_finish is not None:
                try:
                    on_finish(job, result, self.error)
                except BaseException as error:  # a failing display must not vanish either
                    self.error = self.error or error

    def cancel(self) -> None:
        """Ask the running job to stop; the work sees ``cancel.is_set()`` (once per step)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> Any:
        """Block until the job ends; return its result, or re-raise the error it hit.

        Raises TimeoutError when it is still running after ``timeout`` seconds.
        """
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            if thread.is_alive():
                raise TimeoutError(f"{self.name.lower()} still running after {timeout} s")
        if self.error is not None:
            raise self.error
        return self.result

    def stop(self) -> None:
        """Cancel the job and wait for its thread to end (its error stays in :attr:`error`).

        Never call it while holding the model (``owner.using()``): the job needs the model to
        reach its next cancel check, so joining it then would deadlock. That raises RuntimeError.
        """
        self._cancel.set()
        thread = self._thread
        if thread is None or not thread.is_alive() or thread is threading.current_thread():
            return
        if self._owner is not None and self._owner.held():
            raise RuntimeError(
                f"stopping {self.name} while this thread holds the model would deadlock: "
                "leave the owner.using() block first"
            )
        thread.join()

    def close(self) -> None:
        """Stop the job and free the cached results."""
        self.stop()
        self._cache.clear()
