"""--memwarden-leaks on real suites in their own pytest processes: every leak found and named,
no false failure over many runs, the runs counted and the fixtures kept as documented."""

import pytest

LEAKING = [
    ("test_module_cache_grows", "blocks +"),
    ("test_closures_pile_up", "blocks +"),
    ("test_c_extension_leaks", "anonymous memory +"),
    ("test_descriptor_leaks", "fds +1, +1, +1, +1"),
    ("test_socket_leaks", "fds +2, +2, +2, +2"),
    ("test_thread_leaks", "threads +1, +1, +1, +1"),
]

# How many times each suite runs here: a flaky verdict would show within these.
ROUNDS = 4


@pytest.mark.parametrize("round", range(ROUNDS))
def test_every_leak_is_found_and_named(run_suite, round):
    result = run_suite("leaking.py", "--memwarden-leaks")
    result.assert_outcomes(failed=len(LEAKING))
    out = result.stdout.str()
    for name, what in LEAKING:
        line = next((l for l in out.splitlines() if l.startswith(f"  test_leaking.py::{name}:")),
                    None)
        assert line is not None, f"{name} missing from the summary:\n{out}"
        assert what in line, line
    result.stdout.fnmatch_lines([
        "memwarden: leak: grew on each of 4 counted runs (after 5 warm-up runs): *",
        "*= memwarden =*",
        f"{len(LEAKING)} of {len(LEAKING)} checked tests leak:",
    ])


@pytest.mark.parametrize("round", range(ROUNDS))
def test_tests_that_keep_nothing_never_fail(run_suite, round):
    result = run_suite("clean.py", "--memwarden-leaks")
    assert "leak" not in result.stdout.str().split("= memwarden =")[0], result.stdout.str()
    result.assert_outcomes(passed=16, warnings=1)
    result.stdout.fnmatch_lines(["no leak in 16 checked tests", "repetitions cost *s in all*"])


def test_without_the_option_only_marked_tests_are_checked(pytester):
    pytester.makepyfile(
        """
        import pytest
        KEPT = []

        @pytest.mark.memwarden_leaks
        def test_marked():
            KEPT.append(object())

        def test_unmarked():
            KEPT.append(object())
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    # One object kept per run; pytest's own bookkeeping may add a few blocks to some runs.
    result.stdout.fnmatch_lines(["*test_marked: blocks +*, +*, +*, +*"])


@pytest.mark.parametrize(
    "args, runs", [((), 9), (("--memwarden-runs", "2:3"), 5), (("--memwarden-runs=0:2",), 2)]
)
def test_a_leaking_test_runs_warmup_plus_counted_times(pytester, args, runs):
    count = pytester.path / "count"
    pytester.makepyfile(
        f"""
        KEPT = []

        def test_counted():
            KEPT.append(object())
            with open({str(count)!r}, "a") as f:
                f.write("x")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--memwarden-leaks", *args)
    result.assert_outcomes(failed=1)
    assert count.read_text() == "x" * runs


@pytest.mark.parametrize(
    "args, runs", [((), 6), (("--memwarden-runs", "2:3"), 3)]
)
def test_a_test_that_keeps_nothing_stops_after_its_first_counted_run(pytester, args, runs):
    # Nothing grew on that run, so nothing can grow on every counted run: the verdict is known.
    count = pytester.path / "count"
    pytester.makepyfile(
        f"""
        def test_counted():
            with open({str(count)!r}, "a") as f:
                f.write("x")
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--memwarden-leaks", *args)
    result.assert_outcomes(passed=1)
    assert count.read_text() == "x" * runs


def test_marker_arguments_override_the_defaults(pytester):
    count = pytester.path / "count"
    pytester.makepyfile(
        f"""
        import pytest

        @pytest.mark.memwarden_leaks(warmups=3, runs=2)
        def test_counted():
            with open({str(count)!r}, "a") as f:
                f.write("x")
        """
    )
    pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
    assert count.read_text() == "xxxx"  # three warm-ups, one counted run that kept nothing


def test_a_failing_test_runs_once_and_fails_as_itself(pytester):
    count = pytester.path / "count"
    pytester.makepyfile(
        f"""
        def test_broken():
            with open({str(count)!r}, "a") as f:
                f.write("x")
            assert 1 == 2
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--memwarden-leaks")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*assert 1 == 2*"])
    assert "memwarden: leak" not in result.stdout.str()
    assert count.read_text() == "x"


def test_module_fixtures_are_set_up_and_torn_down_once(pytester):
    log = pytester.path / "log"
    pytester.makepyfile(
        f"""
        import pytest

        def note(what):
            with open({str(log)!r}, "a") as f:
                f.write(what + " ")

        @pytest.fixture(scope="module")
        def shared():
            note("setup")
            yield
            note("teardown")

        @pytest.fixture
        def each():
            note("f")
            yield

        def test_one(shared, each):
            pass

        def test_two(shared):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--memwarden-leaks",
                                           "--memwarden-runs=1:2")
    result.assert_outcomes(passed=2)
    # test_one: a warm-up and a counted run; test_two shares the module fixture.
    assert log.read_text().split() == ["setup", "f", "f", "teardown"]


def test_a_teardown_error_of_a_module_fixture_is_reported(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.fixture(scope="module")
        def shared():
            yield
            raise RuntimeError("teardown broke")

        def test_one(shared):
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--memwarden-leaks")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*RuntimeError: teardown broke*"])


@pytest.mark.parametrize(
    "args, message",
    [
        (("--memwarden-runs", "5"), "*runs '5' is not WARMUP:COUNTED*"),
        (("--memwarden-runs", "5:1"), "*at least 2 counted runs*"),
        (("--memwarden-min-memory", "lots"), "*'lots' is not a size like 512MiB*"),
    ],
)
def test_bad_options_are_refused_with_the_accepted_forms(pytester, args, message):
    pytester.makepyfile("def test_x(): pass")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--memwarden-leaks", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_a_bad_marker_argument_is_a_usage_error(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.memwarden_leaks(rounds=3)
        def test_x():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*test_x: memwarden_leaks: unknown argument(s)*rounds*"])
