"""Captured step output: each thread's capture holds what that thread printed."""

from __future__ import annotations

import sys
import threading

from heron.execution.capture import captured_output


def test_threads_capturing_at_once_keep_their_own_output():
    barrier = threading.Barrier(4)
    results: dict[int, str] = {}

    def step(n: int) -> None:
        with captured_output() as sink:
            barrier.wait()
            for i in range(200):
                print(f"step{n}-{i}")
            barrier.wait()
        results[n] = "".join(sink)

    threads = [threading.Thread(target=step, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, text in results.items():
        lines = text.splitlines()
        assert len(lines) == 200
        assert all(line.startswith(f"step{n}-") for line in lines)


def test_a_thread_a_lone_step_starts_is_captured_and_streams_are_restored():
    before = sys.stdout, sys.stderr
    with captured_output() as sink:
        helper = threading.Thread(target=lambda: print("from a helper thread"))
        helper.start()
        helper.join()
        print("to stderr", file=sys.stderr)
    assert "from a helper thread" in "".join(sink)
    assert "to stderr" in "".join(sink)
    assert (sys.stdout, sys.stderr) == before


def test_nested_captures_both_keep_the_inner_output():
    with captured_output() as outer:
        print("outer")
        with captured_output() as inner:
            print("inner")
    assert "".join(inner) == "inner\n"
    assert "".join(outer) == "outer\ninner\n"
