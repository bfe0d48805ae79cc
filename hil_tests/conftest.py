"""HIL bench fixtures: `--board virtual` (default) or `--board /dev/ttyACM0`.

Loaded as an initial conftest whenever hil_tests/ (or a file in it) is on the command line,
so `pytest tests hil_tests`, `pytest hil_tests --board PORT` and
`pytest hil_tests/test_x.py --board virtual` all know --board.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hil_tests.boards import Board, NotSupported, RealBoard, VirtualBoard
from hil_tests.report import Recorder, ScenarioRecorder
from hil_tests.stimulus import Stimulus

ROOT = Path(__file__).resolve().parents[1]
REPORT_KEY = pytest.StashKey[Recorder]()


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("hil", "Kizashi hardware-in-the-loop bench")
    g.addoption(
        "--board",
        default="virtual",
        help="'virtual' (default: the firmware on a simulated board, on a pty) or the serial "
        "port of a real board, e.g. /dev/ttyACM0",
    )
    g.addoption(
        "--no-deploy",
        action="store_true",
        help="real board: do not flash the firmware first (it is already on the board)",
    )
    g.addoption(
        "--bench-report",
        default=str(ROOT / "artifacts" / "bench-report.md"),
        help="where to write the human-readable bench report",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "needs_power_cut: needs a relay on the board's supply")
    config.addinivalue_line(
        "markers", "needs_hang: hangs the loop (`bench {hang_s}`); the watchdog resets the board"
    )
    config.addinivalue_line("markers", "virtual_only: checks the virtual board itself")
    spec = config.getoption("--board")
    desc = "virtual board (firmware on the host, pty)" if spec == "virtual" else f"real: {spec}"
    config.stash[REPORT_KEY] = Recorder(desc)


def _is_real(config: pytest.Config) -> bool:
    return config.getoption("--board") != "virtual"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    real = _is_real(config)
    for item in items:
        if here not in Path(str(item.fspath)).parents:
            continue
        if real:
            # Real time on a real board: scenarios take minutes, not seconds.
            item.add_marker(pytest.mark.timeout(1800))
            if item.get_closest_marker("needs_power_cut"):
                item.add_marker(
                    pytest.mark.skip(
                        reason="real board: power cut needs a relay on the supply (not wired)"
                    )
                )
            if item.get_closest_marker("virtual_only"):
                item.add_marker(pytest.mark.skip(reason="checks the virtual board itself"))
        else:
            item.add_marker(pytest.mark.timeout(90))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    here = Path(__file__).parent
    if here in Path(str(item.fspath)).parents:
        rec = item.config.stash.get(REPORT_KEY, None)
        if rec is not None and (rep.when == "call" or rep.outcome != "passed"):
            detail = ""
            if rep.outcome == "skipped" and isinstance(rep.longrepr, tuple):
                detail = str(rep.longrepr[2])
            elif rep.outcome == "failed":
                detail = str(rep.longrepr)
            rec.outcome(item.nodeid, rep.when, rep.outcome, detail, rep.duration)
    return rep


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    rec = session.config.stash.get(REPORT_KEY, None)
    if rec is not None and rec.scenarios:
        rec.write(Path(session.config.getoption("--bench-report")))


@pytest.fixture(scope="session")
def bench_recorder(request: pytest.FixtureRequest) -> Recorder:
    return request.config.stash[REPORT_KEY]


@pytest.fixture
def record(request: pytest.FixtureRequest, bench_recorder: Recorder) -> ScenarioRecorder:
    """This scenario's page of the bench report (title: the test's docstring first line)."""
    doc = (request.node.function.__doc__ or request.node.name).strip().splitlines()[0]
    s = bench_recorder.scenario(request.node.nodeid, doc.rstrip("."))
    return ScenarioRecorder(s, request.node.user_properties)


@pytest.fixture(scope="session")
def real_board(request: pytest.FixtureRequest) -> Iterator[RealBoard | None]:
    spec = request.config.getoption("--board")
    if spec == "virtual":
        yield None
        return
    b = RealBoard(spec, deploy=not request.config.getoption("--no-deploy"))
    yield b
    b.stop()


BoardFactory = Callable[..., Board]


@pytest.fixture
def board_factory(
    request: pytest.FixtureRequest,
    real_board: RealBoard | None,
    bench_recorder: Recorder,
    tmp_path: Path,
) -> Iterator[BoardFactory]:
    """make(config=..., stimulus=..., speed=..., wdt_ms=..., module=...) -> a started board.

    Virtual: a fresh board (fresh flash) per call, at `speed` x real time. Real: the session's
    board, soft-reset, given the full config by command and the stimulus by `bench`."""
    made: list[Board] = []

    def make(
        config: dict[str, Any] | None = None,
        stimulus: Stimulus | None = None,
        speed: float = 20.0,
        wdt_ms: int = 0,
        module: str = "hil_tests.vboard_ext",
        node_json: dict[str, Any] | None = None,
    ) -> Board:
        b: Board
        if real_board is None:
            b = VirtualBoard(tmp_path / f"board{len(made)}", speed=speed, wdt_ms=wdt_ms)
            b.module = module
            if node_json is not None:  # as flashed: fleet key, replacement boot base
                b.flash.mkdir(parents=True, exist_ok=True)
                (b.flash / "node.json").write_text(json.dumps(node_json))
        else:
            if node_json is not None:
                pytest.skip("real board: node.json is the one flashed (kizashi node flash)")
            b = real_board
        made.append(b)
        try:
            b.start(config=config, stimulus=stimulus)
        except NotSupported as e:
            pytest.skip(f"{b.describe()}: {e}")
        bench_recorder.saw_birth(b.birth)
        return b

    yield make
    for b in made:
        if isinstance(b, VirtualBoard):
            b.stop()


@pytest.fixture
def require() -> Callable[[Callable[[], Any]], Any]:
    """require(lambda: board.set_stimulus(s)): skip (with the reason) if unsupported."""

    def run(fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except NotSupported as e:
            pytest.skip(str(e))

    return run
