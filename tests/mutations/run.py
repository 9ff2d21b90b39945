#!/usr/bin/env python3
"""Checks that the test suite bites: applies each known breakage (a "mutant") to a scratch copy
of the repository, rebuilds only what it must, runs the tests that should catch it, and reports
caught or missed. Exits 1 if any mutant is missed or any catching test fails unmutated.

    python3 tests/mutations/run.py                 # every mutant
    python3 tests/mutations/run.py dedup tls-http  # some, by name
    python3 tests/mutations/run.py --list

The scratch copy and its build live in $JITBOT_MUTANTS_DIR (default /tmp/jitbot-mutants) and are
kept between runs, so only the first run builds everything (about ten minutes on two cores);
each mutant then recompiles one file and relinks. Too slow for CI on two cores; run it before
changing a promise's code or its test.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Edit:
    file: str     # relative to the repository
    before: str   # must occur exactly once
    after: str


@dataclass
class Catcher:
    """One test run that must fail on the mutant: a Catch2 test spec or a node:test file."""
    kind: str      # "catch" or "node"
    target: str    # Catch2 spec, or "folder/file.test.js" under tests/
    pattern: str = ""  # node: --test-name-pattern

    def describe(self):
        return f"{self.kind} {self.target}" + (f" ({self.pattern})" if self.pattern else "")


@dataclass
class Mutant:
    name: str
    promise: str
    edits: list
    catchers: list
    targets: list = field(default_factory=lambda: ["jitbot"])


MUTANTS = [
    Mutant(
        "aws-redaction",
        "AWS error text never shows a credential (first paragraph only, credentials blotted out)",
        [
            Edit("adapters/credentials/aws/aws_api.cpp",
                 '  if (auto paragraph = message.find("\\n\\n"); paragraph != std::string::npos) message.resize(paragraph);\n',
                 ""),
            Edit("adapters/credentials/aws/aws_api.cpp",
                 '      message.replace(at, secret->size(), "[redacted]");\n',
                 '      break;\n'),
        ],
        [Catcher("node", "backends/aws.e2e.test.js", "signature error echoes the canonical request")],
    ),
    Mutant(
        "tls-http",
        "the HTTP client checks that the server certificate is for the host it dialled",
        [Edit("adapters/http/http_client.cpp",
              "    connection->secure->set_verify_callback(ssl::host_name_verification(url.host));\n", "")],
        [Catcher("node", "slack/tls.test.js", "a Web API certificate from the trusted CA"),
         Catcher("node", "backends/tls_hostname.e2e.test.js", "")],
    ),
    Mutant(
        "tls-socket",
        "the Socket Mode connection checks that the server certificate is for the host it dialled",
        [Edit("adapters/slack/socket_mode.cpp",
              "      ws_.next_layer().set_verify_callback(ssl::host_name_verification(url.host));\n", "")],
        [Catcher("node", "slack/tls.test.js", "a Socket Mode URL")],
    ),
    Mutant(
        "revoke-backoff-cap",
        "a failing revoke is retried at least every 30 minutes",
        [Edit("workflows/lifecycle.cpp",
              "constexpr std::chrono::seconds max_revoke_retry{30 * 60};",
              "constexpr std::chrono::seconds max_revoke_retry{24 * 60 * 60};")],
        [Catcher("catch", "revoke retries back off*")],
        ["jitbot_tests"],
    ),
    Mutant(
        "help-off-ack",
        "/jit help is answered in the ack itself",
        [Edit("bot/slack_app.cpp",
              "    if (verb == Verb::help) return slack::ephemeral_reply(help_text());\n",
              "    if (verb == Verb::help) {\n      inbox.ask(std::move(*input));\n      return std::nullopt;\n    }\n")],
        [Catcher("node", "slack/wire.test.js", "help and malformed commands are answered in the ack")],
    ),
    Mutant(
        "malformed-off-ack",
        "a malformed command is answered in the ack itself",
        [Edit("bot/slack_app.cpp",
              "    if (auto* failure = std::get_if<ParseError>(&parsed)) {\n"
              '      return slack::ephemeral_reply(failure->message + "\\nUsage: " + failure->usage);\n',
              "    if (std::holds_alternative<ParseError>(parsed)) {\n"
              "      inbox.keep(std::move(*input));\n      return std::nullopt;\n")],
        [Catcher("node", "slack/wire.test.js", "help and malformed commands are answered in the ack")],
    ),
    Mutant(
        "late-ack",
        "every envelope is acked well within Slack's 3 seconds",
        [Edit("bot/slack_app.cpp",
              "std::optional<json> route_envelope(const slack::Envelope& envelope, Inbox& inbox) {\n",
              "std::optional<json> route_envelope(const slack::Envelope& envelope, Inbox& inbox) {\n"
              "  std::this_thread::sleep_for(std::chrono::milliseconds(3500));\n")],
        [Catcher("node", "slack/flows.test.js", "request, one approval")],
    ),
    Mutant(
        "dedup",
        "an envelope or event Slack delivers twice is handled once",
        [Edit("adapters/slack/socket_mode.cpp",
              "  if (!seen_.insert(key).second) return false;\n",
              "  seen_.insert(key);\n")],
        [Catcher("node", "slack/connection.test.js", "a redelivered envelope is handled once")],
    ),
]


def run(command, cwd, env=None, quiet=True, timeout=1800):
    result = subprocess.run(command, cwd=cwd, env=env, timeout=timeout,
                            stdout=subprocess.PIPE if quiet else None, stderr=subprocess.STDOUT if quiet else None,
                            text=True)
    return result.returncode, (result.stdout or "")


def sync_scratch(scratch):
    """Copies the repository's tracked files (as they are in the working tree) into scratch/src."""
    src = scratch / "src"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, check=True, stdout=subprocess.PIPE).stdout
    for name in filter(None, files.decode().split("\0")):
        source, target = REPO / name, src / name
        if not source.is_file():
            continue
        # Unchanged files keep their times, so make rebuilds only what changed.
        if target.is_file() and target.read_bytes() == source.read_bytes():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    modules = src / "tests" / "fakes" / "node_modules"
    if not modules.exists():
        modules.symlink_to(REPO / "tests" / "fakes" / "node_modules")
    return src


def build(src, build_dir, targets):
    if not (build_dir / "CMakeCache.txt").exists():
        code, out = run(["cmake", "-S", str(src), "-B", str(build_dir), "-DCMAKE_BUILD_TYPE=RelWithDebInfo"], src)
        if code:
            sys.exit(f"cmake failed:\n{out}")
    code, out = run(["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 2), "--target", *targets], src)
    return code == 0, out


def run_catcher(catcher, src, build_dir):
    """True when the test run passed."""
    env = dict(os.environ, JITBOT_BINARY=str(build_dir / "bot" / "jitbot"))
    if catcher.kind == "catch":
        code, out = run([str(build_dir / "tests" / "jitbot_tests"), catcher.target], src, env)
    else:
        folder, file = catcher.target.rsplit("/", 1)
        command = ["node", "--test"]
        if catcher.pattern:
            command += ["--test-name-pattern", catcher.pattern]
        code, out = run(command + [file], src / "tests" / folder, env)
        if code == 0 and "# pass 0" in out:
            return False, "no test matched the pattern: the catcher is stale\n" + out
    return code == 0, out


def apply(src, mutant):
    originals = {}
    for edit in mutant.edits:
        path = src / edit.file
        current = path.read_text()
        originals.setdefault(edit.file, current)
        if current.count(edit.before) != 1:
            restore(src, originals)
            return None
        path.write_text(current.replace(edit.before, edit.after))
    return originals


def restore(src, originals):
    for name, text in originals.items():
        (src / name).write_text(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help="mutants to run (default: all)")
    parser.add_argument("--list", action="store_true", help="list the mutants and what catches them")
    args = parser.parse_args()
    chosen = [m for m in MUTANTS if not args.names or m.name in args.names]
    if args.list or not chosen:
        for m in MUTANTS:
            print(f"{m.name}: {m.promise}\n  caught by: " + "; ".join(c.describe() for c in m.catchers))
        return 0 if args.list else 2

    scratch = Path(os.environ.get("JITBOT_MUTANTS_DIR", "/tmp/jitbot-mutants"))
    scratch.mkdir(parents=True, exist_ok=True)
    src = sync_scratch(scratch)
    build_dir = scratch / "build"
    print(f"scratch copy: {src}; build: {build_dir}")
    ok, out = build(src, build_dir, ["jitbot", "jitbot_tests"])
    if not ok:
        sys.exit("the unmutated copy does not build:\n" + out[-4000:])

    results = []
    for mutant in chosen:
        # The catchers must pass on the real code, or a "caught" would mean nothing.
        for catcher in mutant.catchers:
            passed, out = run_catcher(catcher, src, build_dir)
            if not passed:
                results.append((mutant, "BASELINE FAILS", f"{catcher.describe()} fails without the mutant:\n{out[-3000:]}"))
                break
        else:
            results.append(try_mutant(mutant, src, build_dir))
        print(f"{results[-1][1]:>14}  {mutant.name}: {mutant.promise}", flush=True)
    print("\nSummary")
    for mutant, verdict, detail in results:
        print(f"  {verdict:>14}  {mutant.name}")
        if verdict != "caught" and detail:
            print("    " + detail.replace("\n", "\n    ")[-3000:])
    return 0 if all(verdict == "caught" for _, verdict, _ in results) else 1


def try_mutant(mutant, src, build_dir):
    originals = apply(src, mutant)
    if originals is None:
        return mutant, "STALE", "an edit's text is not in the code (once): update the mutant"
    try:
        started = time.monotonic()
        ok, out = build(src, build_dir, mutant.targets)
        if not ok:
            return mutant, "BUILD FAILS", out[-3000:]
        # Every catcher must fail: each holds the promise where it is kept (e.g. TLS for Slack and
        # for a cloud backend).
        missed_by = [c.describe() for c in mutant.catchers if run_catcher(c, src, build_dir)[0]]
        if not missed_by:
            return mutant, "caught", f"in {time.monotonic() - started:.0f}s"
        if len(missed_by) < len(mutant.catchers):
            return mutant, "PARTLY MISSED", "these passed with the breakage in place: " + "; ".join(missed_by)
        return mutant, "MISSED", "every catcher passed with the breakage in place"
    finally:
        # Rebuilt at once, so the next mutant's baseline runs the real code.
        restore(src, originals)
        build(src, build_dir, mutant.targets)


if __name__ == "__main__":
    sys.exit(main())
