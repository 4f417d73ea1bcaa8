"""Shared assertion for the lesson-check tests: right -> ✅, stub -> ⏳, wrong -> ❌ with its message."""


def stub(*args):
    raise NotImplementedError("replace this line with your code")


def assert_verdicts(check, right, wrong, message, capsys) -> None:
    check(right)
    assert capsys.readouterr().out.startswith("✅")
    check(stub)
    out = capsys.readouterr().out
    assert out.startswith("⏳") and "not implemented yet" in out
    check(wrong)
    out = capsys.readouterr().out
    assert out.startswith("❌") and message in out and "Traceback" not in out
