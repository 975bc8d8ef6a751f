"""@pytest.mark.memwarden(limit=...): a test whose memory rises above the limit fails."""

import pytest


def test_a_test_over_its_limit_fails_and_one_under_passes(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.memwarden(limit="32MiB")
        def test_over():
            block = bytearray(96 << 20)
            block[::4096] = b"x" * len(block[::4096])  # resident, page by page
            del block

        @pytest.mark.memwarden(limit="256MiB")
        def test_under():
            block = bytearray(32 << 20)
            block[::4096] = b"x" * len(block[::4096])
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*_ test_over _*",
        "memwarden: memory rose * above its level at the start of the test (*), over the "
        "limit of 32.0 MiB (peak *, sampled every 1 ms)",
        "FAILED *::test_over*",
    ])


def test_a_brief_peak_freed_before_the_test_ends_is_still_seen(pytester):
    pytester.makepyfile(
        """
        import time
        import pytest

        @pytest.mark.memwarden(limit="16MiB")
        def test_spike():
            block = bytearray(64 << 20)
            block[::4096] = b"x" * len(block[::4096])
            time.sleep(0.05)  # 50 samples at the default 1 ms
            del block
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)


def test_a_bad_limit_is_a_usage_error(pytester):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.memwarden(limit="huge")
        def test_x():
            pass
        """
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        ["memwarden(limit=SIZE, interval=DURATION): size: 'huge' is not a size like 512MiB*"]
    )
